"""``python -m bench.run``: the gateway's cost against a direct call and against its peers, in
one run, written to ``docs/benchmarks/`` (results.json, plots, profiles) and
``docs/benchmarks.md``.

Layout on a 2-core box: the gateway (and each peer) is pinned to core 0; wrk, the simulated
upstream and the Python stream clients share core 1. Every scenario alternates its targets
(direct, gateway, direct, gateway, ...) and reports medians of rounds and paired differences.

``--smoke`` runs a seconds-long pass of the whole harness (no installs, no peers, no wrk needed)
into ``bench/.work/smoke/`` and fails if anything in it fails.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import install
from bench.clients import body_args, percentile
from bench.heavy import run_heavy, smoke_problems
from bench.install import PeerInstall, log
from bench.options import Options, parse_args
from bench.procs import (
    Endpoint,
    Proc,
    children_cpu_seconds,
    cpu_count,
    cpu_seconds,
    free_port,
    hwm_mb,
    machine_busy_seconds,
    pinned,
    raise_nofile,
    rss_mb,
    trim_log,
    wait_http,
)
from bench.profiling import record_parallel, summarise_profile
from bench.results import Sample, aggregate, evaluate_targets, sample_from_dict
from bench.scenarios import (
    SCENARIOS,
    Scenario,
    bare_config,
    filter_config,
    litellm_config,
    quiet_config,
    realistic_config,
    request_body,
    scenario_body,
)
from bench.wrk import lua_script, run_wrk, wrk_version

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
DOCS = ROOT / "docs"
LITELLM_KEY = "sk-bench-master-key-0123456789abcdef"


class Bench:
    def __init__(self, opts: Options) -> None:
        self.o = opts
        two = cpu_count() >= 2
        self.gw_cpu: str | None = "0" if two else None
        self.load_cpu: str | None = "1" if two else None
        self.logs = WORK / "logs"
        self.procs: dict[str, Proc] = {}
        self.samples: list[Sample] = []
        self.extras: dict[str, Any] = {"failures": [], "commands": {}, "peak_rss_mb": {}}
        self.wrk: str | None = None
        self.peers: list[PeerInstall] = []
        self.configs: dict[str, str] = {}
        #: Seconds the whole run may spend waiting for other users' load to pass.
        self.quiet_budget = 0.0 if opts.smoke else 120.0

    # ------------------------------------------------------------------ processes

    def start(
        self,
        name: str,
        cmd: list[str],
        port: int,
        cpus: str | None,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        log_path = self.logs / f"{name}.log"
        log_path.unlink(missing_ok=True)
        proc = Proc(name, cmd, log_path, port, env=env, cwd=cwd, cpus=cpus)
        log(f"starting {name}: {proc.command}")
        proc.start(ready_timeout=90.0)
        self.procs[name] = proc
        self.extras["commands"][name] = proc.command
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        pids = proc.pids()
        if pids:
            self.extras["peak_rss_mb"][name] = round(hwm_mb(pids), 1)
        proc.stop()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def upstream(self, name: str, *args: str, ports: int = 1) -> tuple[Proc, list[int]]:
        nums = [free_port() for _ in range(ports)]
        cmd = [sys.executable, "-m", "bench.upstream", "--port", str(nums[0])]
        for extra in nums[1:]:
            cmd += ["--extra-port", str(extra)]
        return self.start(name, [*cmd, *args], nums[0], self.load_cpu, cwd=ROOT), nums

    def gateway(self, name: str, config: str, workers: int = 1, cpus: str | None = "gw") -> Proc:
        port = free_port()
        path = WORK / "configs" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = config.replace("__PORT__", str(port))
        path.write_text(text)
        self.configs[name] = text
        cmd = [sys.executable, "-m", "plano", "up", str(path), "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--workers", str(workers)]
        proc = self.start(name, cmd, port, self.gw_cpu if cpus == "gw" else cpus, cwd=WORK)
        wait_http(port, "/healthz", 30)
        time.sleep(1.0)  # tiktoken's encodings load in a thread at start-up
        return proc

    # ------------------------------------------------------------------ measuring

    def _body(self, ep: Endpoint, sc: Scenario) -> bytes:
        return scenario_body(ep.model, sc)

    def _tool(self, sc: Scenario) -> str:
        if sc.tool == "wrk" and self.wrk:
            return "wrk"
        return "ttft" if sc.stream else "load"

    def _client(
        self, ep: Endpoint, sc: Scenario, mode: str, seconds: float
    ) -> tuple[dict[str, Any], str]:
        cmd = [sys.executable, "-m", "bench.clients", mode, "--port", str(ep.port)]
        cmd += body_args(self._body(ep, sc), WORK / "bodies" / f"{sc.name}-{ep.name}.json")
        cmd += ["--concurrency", str(sc.concurrency)]
        cmd += ["--duration", f"{seconds:g}", "--warmup", "0"]
        for k, v in ep.headers.items():
            cmd += ["--header", f"{k}:{v}"]
        full = pinned(cmd, self.load_cpu)
        p = subprocess.run(
            full, capture_output=True, text=True, timeout=seconds + 120, cwd=ROOT, check=False
        )
        if p.returncode != 0:
            raise RuntimeError(f"client failed: {p.stderr.strip()[-800:]}")
        return json.loads(p.stdout.strip().splitlines()[-1]), " ".join(full)

    def _foreign_cores(self, window: float) -> float:
        """Cores busy with other users' work over ``window`` seconds (not this benchmark's)."""
        ours_pids = [p for proc in self.procs.values() for p in proc.pids()]
        ours0 = cpu_seconds(ours_pids) + children_cpu_seconds() + time.process_time()
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        time.sleep(window)
        ours1 = cpu_seconds(ours_pids) + children_cpu_seconds() + time.process_time()
        wall = time.monotonic() - t0
        return max(machine_busy_seconds() - busy0 - (ours1 - ours0), 0.0) / wall

    def wait_quiet(self) -> None:
        """On a shared machine, wait (within a budget) until others' load drops below 0.3
        cores, so that a round is not measured while a neighbour runs its test suite."""
        if self.quiet_budget <= 0:
            return
        t0 = time.monotonic()
        while self._foreign_cores(0.3) > 0.3 and time.monotonic() - t0 < 10:
            time.sleep(0.5)
        self.quiet_budget -= time.monotonic() - t0

    def measure(self, ep: Endpoint, sc: Scenario, rnd: int, seconds: float) -> Sample | None:
        tool = self._tool(sc)
        if rnd >= 0:
            self.wait_quiet()
        pids = ep.proc.pids() if ep.proc else []
        ours = [p for proc in self.procs.values() for p in proc.pids()]
        cpu0 = cpu_seconds(pids)
        ours0 = cpu_seconds(ours) + children_cpu_seconds() + time.process_time()
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        if tool == "wrk":
            script = WORK / "lua" / f"{sc.name}-{ep.name}.lua"
            script.parent.mkdir(parents=True, exist_ok=True)
            headers = {"Content-Type": "application/json", **ep.headers}
            script.write_text(lua_script(self._body(ep, sc), headers))
            url = f"http://127.0.0.1:{ep.port}/v1/chat/completions"
            res, cmd = run_wrk(url, script, sc.concurrency, seconds, cpus=self.load_cpu)
            if sc.stream and ep.name != "direct":
                self._settle(ep, f"{sc.name} " + (f"round {rnd}" if rnd >= 0 else "warm-up"))
            n, rps, errors = res.requests, res.rps, res.errors
            p50, p90, p99 = res.p50_ms, res.p90_ms, res.p99_ms
            t50 = t99 = None
        else:
            data, cmd = self._client(ep, sc, tool, seconds)
            n, rps, errors = int(data["requests"]), float(data["rps"]), int(data["errors"])
            p50, p90, p99 = data["p50_ms"], data["p90_ms"], data["p99_ms"]
            t50 = data["ttft_p50_ms"] if sc.stream else None
            t99 = data["ttft_p99_ms"] if sc.stream else None
        cpu1 = cpu_seconds(pids)
        ours1 = cpu_seconds(ours) + children_cpu_seconds() + time.process_time()
        wall = max(time.monotonic() - t0, 1e-6)
        # Cores busy with work that is not this benchmark's (other users of the machine).
        noise = max(machine_busy_seconds() - busy0 - (ours1 - ours0), 0.0) / wall
        self.extras["commands"].setdefault(f"load: {sc.name} {ep.name}", cmd)
        if rnd < 0:
            return None
        cpu_us = (cpu1 - cpu0) * 1e6 / n if n and pids else None
        s = Sample(
            scenario=sc.name,
            target=ep.name,
            round=rnd,
            tool=tool,
            concurrency=sc.concurrency,
            rps=round(rps, 1),
            p50_ms=round(p50, 4),
            p90_ms=round(p90, 4),
            p99_ms=round(p99, 4),
            requests=n,
            errors=errors,
            cpu_us_per_req=round(cpu_us, 1) if cpu_us is not None else None,
            rss_mb=round(rss_mb(pids), 1) if pids else None,
            ttft_p50_ms=t50,
            ttft_p99_ms=t99,
            noise_cores=round(noise, 2),
        )
        log(
            f"  {sc.name:<20} {ep.name:<16} r{rnd} {tool:<4} {s.rps:>9.1f} req/s "
            f"p50 {s.p50_ms:.3f} p99 {s.p99_ms:.3f} ms"
            + (f" ttft {t50:.3f} ms" if t50 is not None else "")
            + (f" cpu {s.cpu_us_per_req:.0f} us/req" if s.cpu_us_per_req else "")
            + (f" errors {errors}" if errors else "")
            + (f" [other load {noise:.2f} cores]" if noise >= 0.1 else "")
        )
        self.samples.append(s)
        for ep_proc in (ep.proc,):
            if ep_proc is not None:
                trim_log(ep_proc.log)
        return s

    def _settle(self, ep: Endpoint, what: str) -> None:
        """wrk ends its run by cutting the streams in flight. If the target then refuses
        requests for a while (e.g. a circuit breaker that counted the cut streams as upstream
        failures), wait until it answers 200 again and record how long that took."""
        t0 = time.monotonic()
        body = request_body(ep.model, False)
        status = 0
        while time.monotonic() - t0 < 30:
            req = urllib.request.Request(
                f"http://127.0.0.1:{ep.port}/v1/chat/completions",
                data=body,
                headers={"Content-Type": "application/json", **ep.headers},
            )
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.25)
        waited = time.monotonic() - t0
        if status != 200 or waited > 0.5:
            log(f"  {ep.name} refused requests for {waited:.1f} s after {what} (last {status})")
            self.extras.setdefault("settle_waits", []).append(
                {"target": ep.name, "after": what, "seconds": round(waited, 1), "status": status}
            )

    def scenario(self, sc: Scenario, endpoints: dict[str, Endpoint]) -> None:
        eps = [endpoints[t] for t in sc.targets if t in endpoints]
        missing = [t for t in sc.targets if t not in endpoints]
        if missing:
            log(f"{sc.name}: skipping {', '.join(missing)} (not available in this run)")
        log(f"scenario {sc.name}: {sc.title}")
        for ep in eps:  # warm-up, not recorded
            try:
                self.measure(ep, sc, -1, self.o.warmup)
            except Exception as exc:
                self.failed(f"{sc.name} {ep.name} warm-up", exc)
        for rnd in range(self.o.rounds):
            for ep in eps:
                try:
                    self.measure(ep, sc, rnd, self.o.duration)
                except Exception as exc:
                    self.failed(f"{sc.name} {ep.name} round {rnd}", exc)

    def failed(self, what: str, exc: BaseException) -> None:
        log(f"FAILED {what}: {exc}")
        self.extras["failures"].append(f"{what}: {exc}")
        traceback.print_exc()

    # ------------------------------------------------------------------ groups

    def run_core(self, up_port: int) -> None:
        gw = self.gateway(
            "plano-bare", bare_config(0, up_port).replace("port: 0", "port: __PORT__")
        )
        eps = {
            "direct": Endpoint("direct", up_port, proc=self.procs["upstream"]),
            "plano": Endpoint("plano", gw.port, proc=gw),
        }
        try:
            port = free_port()
            cmd = [sys.executable, "-m", "bench.floor", "--port", str(port)]
            cmd += ["--upstream", f"http://127.0.0.1:{up_port}"]
            floor = self.start("floor", cmd, port, self.gw_cpu, cwd=ROOT)
            eps["floor"] = Endpoint("floor", port, proc=floor)
        except Exception as exc:
            self.failed("starting the aiohttp floor", exc)
        try:
            cfg = filter_config(0, up_port).replace("port: 0", "port: __PORT__")
            filtered = self.gateway("plano-filter", cfg)
            eps["plano-filter"] = Endpoint("plano-filter", filtered.port, proc=filtered)
        except Exception as exc:
            self.failed("starting the gateway with a stream filter", exc)
        names = {
            "json-c1",
            "json-c50",
            "json-c200",
            "sse-c50",
            "sse-filter-c50",
            "ttft-c1",
            "ttft-c50",
        }
        if self.o.smoke:
            names = {"json-c1", "ttft-c1"}
        for sc in SCENARIOS:
            if sc.name in names:
                self.scenario(sc, eps)
                if sc.name in ("json-c1", "json-c50"):
                    self._self_reported(sc.name, gw.port)
        if "profile" in self.o.groups and self.wrk and not self.o.smoke:
            self.profile(eps["plano"])
        self.stop("floor")
        self.stop("plano-filter")
        if "memory" in self.o.groups:
            self.memory(up_port)
            self.micro()

    def micro(self) -> None:
        """Memory breakdown and ledger-flush stall, in a fresh interpreter (bench/micro.py)."""
        cmd = pinned([sys.executable, "-m", "bench.micro"], self.gw_cpu)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
            self.extras["micro"] = json.loads(p.stdout.strip().splitlines()[-1])
            self.extras["commands"]["micro"] = " ".join(cmd)
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as exc:
            self.failed("micro-measurements", exc)

    def metrics_cost(self) -> None:
        """Metrics (and tracing) on against metrics off and the floor, in processes of its own
        (bench/metrics_cost.py: OUT/metrics.json and the report's section "Metrics")."""
        cmd = [sys.executable, "-m", "bench.metrics_cost", "--no-render"]
        if self.o.smoke:
            cmd.append("--smoke")
        log(f"group metrics: {' '.join(cmd)}")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=ROOT)
        if p.returncode != 0:
            self.failed("group metrics", RuntimeError(p.stderr.strip()[-800:]))
        self.extras["commands"]["metrics"] = " ".join(cmd)

    def governance(self) -> None:
        """Policy and governance, each feature alone and all together, against the floor
        (bench/governance.py: processes of its own; results in OUT/governance.json)."""
        cmd = [sys.executable, "-m", "bench.governance", "--no-render"]
        cmd += ["--out", str(self.o.out / "governance.json")]
        if self.o.smoke:
            cmd.append("--smoke")
        log(f"group governance: {' '.join(cmd)}")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=ROOT)
        if p.returncode != 0:
            self.failed("group governance", RuntimeError(p.stderr.strip()[-800:]))
        self.extras["commands"]["governance"] = " ".join(cmd)

    def _self_reported(self, scenario: str, port: int) -> None:
        """The gateway's own x-plano-overhead-ms of its last 1,000 requests (a cross-check)."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/plano/v1/usage?last=1000", timeout=10
            ) as resp:
                data = json.loads(resp.read())
        except OSError as exc:
            self.failed(f"self-reported overhead after {scenario}", exc)
            return
        vals = [r["overhead_ms"] for r in data.get("recent", []) if r.get("overhead_ms")]
        if vals:
            self.extras.setdefault("self_reported_overhead_ms", {})[scenario] = {
                "n": len(vals),
                "p50": round(percentile(vals, 50), 4),
                "p99": round(percentile(vals, 99), 4),
            }

    def profile(self, ep: Endpoint) -> None:
        spy = install.py_spy_path()
        if spy is None or ep.proc is None:
            self.extras["profile"] = {"skipped": "py-spy is not installed"}
            return
        out = self.o.out
        prof: dict[str, Any] = {}
        for kind, stream in (("json", False), ("sse", True)):
            secs = self.o.profile_s
            body = request_body(ep.model, stream)
            script = WORK / "lua" / f"profile-{kind}.lua"
            script.write_text(lua_script(body, {"Content-Type": "application/json"}))
            url = f"http://127.0.0.1:{ep.port}/v1/chat/completions"
            wrk = ["wrk", "-t1", "-c50", f"-d{round(secs) + 4}s", "-s", str(script), url]
            cmd = pinned(wrk, self.load_cpu)
            load = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.5)
                raw = WORK / f"profile-{kind}.collapsed.txt"
                svg = out / f"profile-{kind}.svg"
                spy_cmd = pinned([spy], self.load_cpu)
                pid = ep.proc.pid
                errors = record_parallel(
                    [(spy_cmd, pid, secs, raw, "raw"), (spy_cmd, pid, secs, svg, "flamegraph")]
                )
            finally:
                load.wait(timeout=secs + 60)
            if errors[0] is not None:
                prof[kind] = {"error": errors[0]}
                self.failed(f"profile {kind}", RuntimeError(errors[0]))
                continue
            collapsed = out / f"profile-{kind}.collapsed.txt"
            collapsed.write_text(raw.read_text())
            prof[kind] = {
                **summarise_profile(collapsed, out / f"profile-{kind}.txt", kind),
                "svg": svg.name if svg.exists() else None,
                "text": f"profile-{kind}.txt",
                "collapsed": collapsed.name,
                "command": " ".join(spy_cmd)
                + f" record --pid <gateway> --duration {secs:g} --rate 250 --format raw"
                " --subprocesses",
            }
        self.extras["profile"] = prof

    def memory(self, _up_port: int) -> None:
        """RSS with N concurrent streams held open on a slow-paced upstream (5 tokens/s)."""
        slow, ports = self.upstream("upstream-slow", "--tps", "5", "--tokens", "200")
        gw = self.gateway("plano-streams", _bare(ports[0]))
        try:
            idle = rss_mb(gw.pids())
            body = request_body("gpt-4o-mini", True).decode()
            cmd = [sys.executable, "-m", "bench.clients", "hold", "--port", str(gw.port)]
            cmd += ["--body", body, "--n", str(self.o.streams), "--ready-timeout", "90"]
            full = pinned(cmd, self.load_cpu)
            self.extras["commands"]["load: streams-hold"] = " ".join(full)
            holder = subprocess.Popen(
                full, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
            )
            assert holder.stdin is not None and holder.stdout is not None
            ready: dict[str, Any] = {}
            line = holder.stdout.readline()
            if line.startswith("READY "):
                ready = json.loads(line[6:])
            samples = []
            for _ in range(5):
                samples.append(rss_mb(gw.pids()))
                time.sleep(0.4)
            cpu0 = cpu_seconds(gw.pids())
            time.sleep(1.0)
            relay_cpu = cpu_seconds(gw.pids()) - cpu0
            hwm = hwm_mb(gw.pids())
            holder.stdin.write("stop\n")
            holder.stdin.flush()
            done_line = holder.stdout.readline()
            holder.wait(timeout=60)
            time.sleep(1.0)
            after = rss_mb(gw.pids())
            n_open = int(ready.get("open", 0))
            rss_open = max(samples) if samples else 0.0
            self.extras["streams"] = {
                "requested": self.o.streams,
                "open": n_open,
                "failed": int(ready.get("failed", 0)),
                "seconds_to_open": ready.get("seconds"),
                "rss_idle_mb": round(idle, 1),
                "rss_open_mb": round(rss_open, 1),
                "kb_per_stream": round((rss_open - idle) * 1024 / n_open, 1) if n_open else None,
                "peak_rss_mb": round(hwm, 1),
                "rss_after_close_mb": round(after, 1),
                "cpu_share_while_open": round(relay_cpu, 3),
                "upstream": "bench upstream, 5 tokens/s, 200 tokens per answer",
                "done": done_line.strip(),
            }
            log(f"  streams: {self.extras['streams']}")
        finally:
            self.stop("plano-streams")
            self.stop(slow.name)

    def run_lat20(self) -> None:
        up, ports = self.upstream("upstream-20ms", "--latency-ms", "20")
        gw = self.gateway("plano-20ms", _bare(ports[0]))
        eps = {
            "direct": Endpoint("direct", ports[0], proc=up),
            "plano": Endpoint("plano", gw.port, proc=gw),
        }
        try:
            for sc in SCENARIOS:
                if sc.group == "lat20":
                    self.scenario(sc, eps)
        finally:
            self.stop("plano-20ms")
            self.stop("upstream-20ms")

    def run_realistic(self, bare: Endpoint, direct: Endpoint, ports: list[int]) -> None:
        cfg = realistic_config(0, ports).replace("port: 0\n", "port: __PORT__\n")
        gw = self.gateway("plano-realistic", cfg)
        quiet_cfg = quiet_config(0, ports[0]).replace("port: 0\n", "port: __PORT__\n")
        quiet = self.gateway("plano-no-access-log", quiet_cfg)
        eps = {
            "direct": direct,
            "plano": bare,
            "plano-realistic": Endpoint("plano-realistic", gw.port, model="fast", proc=gw),
            "plano-no-access-log": Endpoint("plano-no-access-log", quiet.port, proc=quiet),
        }
        try:
            for sc in SCENARIOS:
                if sc.group == "realistic":
                    self.scenario(sc, eps)
        finally:
            self.stop("plano-realistic")
            self.stop("plano-no-access-log")

    def run_peers(self, bare: Endpoint, direct: Endpoint, up_port: int) -> None:
        eps = {"direct": direct, "plano": bare}
        for peer in self.peers:
            if not peer.available or peer.entry is None:
                log(f"peer {peer.name} skipped: {peer.note}")
                continue
            try:
                if peer.name == "litellm":
                    eps["litellm"] = self._litellm(peer, up_port)
                elif peer.name == "portkey":
                    eps["portkey"] = self._portkey(peer, up_port)
            except Exception as exc:
                self.failed(f"starting {peer.name}", exc)
        try:
            for sc in SCENARIOS:
                if sc.group == "peers":
                    self.scenario(sc, eps)
        finally:
            self.stop("litellm")
            self.stop("portkey")

    def _litellm(self, peer: PeerInstall, up_port: int) -> Endpoint:
        port = free_port()
        cfg = WORK / "configs" / "litellm.yaml"
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(litellm_config(up_port))
        self.configs["litellm"] = litellm_config(up_port)
        env = {
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_MASTER_KEY": LITELLM_KEY,
            "NO_DOCKER": "1",
        }
        cmd = [str(peer.entry), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--num_workers", "1"]
        proc = self.start("litellm", cmd, port, self.gw_cpu, env=env, cwd=WORK)
        self.extras["commands"]["litellm env"] = " ".join(f"{k}={v}" for k, v in env.items())
        wait_http(port, "/health/liveliness", 60)
        return Endpoint(
            "litellm", port, headers={"Authorization": f"Bearer {LITELLM_KEY}"}, proc=proc
        )

    def _portkey(self, peer: PeerInstall, up_port: int) -> Endpoint:
        port = free_port()
        cmd = ["node", str(peer.entry), f"--port={port}", "--headless"]
        proc = self.start("portkey", cmd, port, self.gw_cpu, cwd=WORK)
        headers = {
            "x-portkey-provider": "openai",
            "x-portkey-custom-host": f"http://127.0.0.1:{up_port}/v1",
            "Authorization": "Bearer sk-bench",
        }
        return Endpoint("portkey", port, headers=headers, proc=proc)

    def run_workers(self, direct: Endpoint, up_port: int) -> None:
        w1 = self.gateway("plano-w1", _bare(up_port), workers=1, cpus=None)
        w2 = self.gateway("plano-w2", _bare(up_port), workers=2, cpus=None)
        eps = {
            "direct": direct,
            "plano-w1": Endpoint("plano-w1", w1.port, proc=w1),
            "plano-w2": Endpoint("plano-w2", w2.port, proc=w2),
        }
        try:
            for sc in SCENARIOS:
                if sc.group == "workers":
                    self.scenario(sc, eps)
        finally:
            self.stop("plano-w1")
            self.stop("plano-w2")

    # ------------------------------------------------------------------ the run

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        o = self.o
        self.wrk = install.ensure_wrk(o.install)
        if self.wrk is None:
            log("wrk not found: using the Python client instead (its figures include its own cost)")
        missing = install.ensure_requirements(o.install)
        if missing:
            log(f"not installed: {', '.join(missing)} (plots/profile skipped)")
        if o.peers:
            self.peers = [
                install.ensure_litellm(WORK, o.install),
                install.ensure_portkey(WORK, o.install),
            ]
        nofile = raise_nofile(65536)
        up, ports = self.upstream("upstream", ports=4)
        direct = Endpoint("direct", ports[0], proc=up)
        try:
            self.run_core(ports[0])
            bare_proc = self.procs["plano-bare"]
            bare = Endpoint("plano", bare_proc.port, proc=bare_proc)
            steps = [
                ("lat20", self.run_lat20),
                ("realistic", lambda: self.run_realistic(bare, direct, ports)),
                ("peers", lambda: self.run_peers(bare, direct, ports[0])),
            ]
            for group, fn in steps:
                if group in o.groups and not o.smoke:
                    try:
                        fn()
                    except Exception as exc:
                        self.failed(f"group {group}", exc)
            if "workers" in o.groups and not o.smoke:
                self.stop("plano-bare")
                try:
                    self.run_workers(direct, ports[0])
                except Exception as exc:
                    self.failed("group workers", exc)
            if "governance" in o.groups:
                self.governance()
            if "metrics" in o.groups:
                self.metrics_cost()
            if "heavy" in o.groups:  # last: its 10-20 MB requests must not disturb the rest
                run_heavy(self)
        finally:
            self.stop_all()
        return self.document(started, nofile)

    def document(self, started: float, nofile: int) -> dict[str, Any]:
        """The results document (results.json) of what this run measured."""
        o = self.o
        rows = aggregate(self.samples)
        checks = evaluate_targets(rows, self.extras)
        doc: dict[str, Any] = {
            "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "smoke" if o.smoke else "full",
            "settings": {
                "rounds": o.rounds,
                "duration_s": o.duration,
                "warmup_s": o.warmup,
                "streams": o.streams,
                "pinning": {"gateway_and_peers": self.gw_cpu, "load_and_upstream": self.load_cpu},
                "open_files_limit": nofile,
                "load_generator": "wrk" if self.wrk else "python client",
                "runtime_s": round(time.monotonic() - started, 1),
                "quiet_wait_s": round(120.0 - self.quiet_budget, 1) if not o.smoke else 0.0,
            },
            "machine": install.machine_info(),
            "versions": install.versions(wrk_version() if self.wrk else None, self.peers),
            "peers": [p.to_json() for p in self.peers],
            "scenarios": [
                {"name": s.name, "title": s.title, "concurrency": s.concurrency} for s in SCENARIOS
            ],
            "configs": self.configs,
            "samples": [asdict(s) for s in self.samples],
            "rows": [r.to_json() for r in rows],
            "targets": [c.to_json() for c in checks],
            "extras": self.extras,
        }
        return doc


def _bare(upstream: int) -> str:
    return bare_config(0, upstream).replace("port: 0\n", "port: __PORT__\n")


def smoke_check(doc: dict[str, Any]) -> list[str]:
    """What makes a smoke run fail: failures, errors, or nothing measured through the gateway."""
    problems = list(doc["extras"].get("failures", []))
    plano = [r for r in doc["rows"] if r["target"] == "plano"]
    if not plano:
        problems.append("nothing was measured through the gateway")
    for r in doc["rows"]:
        if r["errors"] or not r["requests"]:
            problems.append(
                f"{r['scenario']} {r['target']}: {r['errors']} errors, {r['requests']} requests"
            )
    streams = doc["extras"].get("streams", {})
    if streams.get("open", 0) < streams.get("requested", 0):
        problems.append(f"only {streams.get('open')} of {streams.get('requested')} streams opened")
    return problems + smoke_problems(doc)


def main(argv: list[str] | None = None) -> int:
    from bench.report import write_report

    opts, render_only = parse_args(argv, __doc__)
    doc_path = opts.doc or opts.out / "benchmarks.md"
    if render_only:
        data = json.loads((opts.out / "results.json").read_text())
        rows = aggregate([sample_from_dict(x) for x in data.get("samples", [])])
        data["rows"] = [r.to_json() for r in rows]
        data["targets"] = [c.to_json() for c in evaluate_targets(rows, data.get("extras", {}))]
        for kind, prof in data.get("extras", {}).get("profile", {}).items():
            collapsed = opts.out / str(prof.get("collapsed", ""))
            if prof.get("collapsed") and collapsed.exists():
                text = opts.out / f"profile-{kind}.txt"
                prof.update(summarise_profile(collapsed, text, kind))
        (opts.out / "results.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
        write_report(data, opts.out, doc_path)
        log(f"rendered {doc_path} from {opts.out / 'results.json'}")
        return 0
    opts.out.mkdir(parents=True, exist_ok=True)
    doc = Bench(opts).run()
    (opts.out / "results.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    write_report(doc, opts.out, doc_path)
    runtime = doc["settings"]["runtime_s"]
    if opts.smoke:
        problems = smoke_check(doc)
        for p in problems:
            log(f"smoke: {p}")
        log(f"smoke {'FAILED' if problems else 'ok'} in {runtime:.0f} s -> {opts.out}")
        return 1 if problems else 0
    for c in doc["targets"]:
        mark = {True: "met", False: "NOT met", None: "not measured"}[c["met"]]
        value = "-" if c["value"] is None else f"{c['value']:.3f} {c['unit']}"
        log(f"target {c['name']} ({c['goal']}): {value} -> {mark}")
    log(f"done in {runtime:.0f} s; results in {opts.out}, report {doc_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
