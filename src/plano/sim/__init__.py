"""Simulated LLM providers: real HTTP servers speaking OpenAI chat completions (and Azure),
Anthropic Messages, Gemini and the OpenAI Responses API, with deterministic answers, token
usage, stream pacing and injectable faults. Used by ``plano demo``, the tests and the
benchmarks.

::

    async with SimServer(SimOptions(output_tokens=8)) as sim:
        ...  # point a client at sim.url; inspect sim.requests and sim.stats
"""

from plano.sim.app import RecordedRequest, SimStats
from plano.sim.content import Answer, Prompt, compose
from plano.sim.faults import FAULT_KINDS, FaultKind
from plano.sim.options import SimOptions
from plano.sim.server import SimServer

__all__ = [
    "FAULT_KINDS",
    "Answer",
    "FaultKind",
    "Prompt",
    "RecordedRequest",
    "SimOptions",
    "SimServer",
    "SimStats",
    "compose",
]
