"""Benchmarks of the gateway against a direct call, a bare aiohttp relay and its peers.

``make bench`` (``python -m bench.run``) installs what it needs, runs every scenario and writes
``docs/benchmarks.md`` plus ``docs/benchmarks/`` (results.json, plots, profiles);
``make bench-smoke`` (``--smoke``) is the seconds-long CI check of the harness.

Modules: ``run`` (orchestration), ``scenarios`` (what is measured), ``upstream`` (fast simulated
OpenAI upstream), ``floor`` (bare aiohttp relay), ``clients`` (TTFT, fallback load and
held-open streams clients), ``wrk`` (Lua script and output parsing), ``procs`` (processes,
/proc CPU and memory), ``results`` (aggregation and targets), ``report`` (Markdown and plots),
``profiling`` (py-spy summaries), ``micro`` (memory breakdown, flush stall), ``agent`` (a coding
agent's request, generated), ``heavy`` (big prompts against the floor, /healthz stalls under
big requests), ``probe`` (the /healthz prober), ``install``.
"""
