"""Result aggregation (pure): samples of alternating rounds -> medians, paired deltas against
the direct call, and the verdict on each target.

Each scenario runs its targets in turn, round after round (direct, plano, direct, plano, ...).
A round's gateway figure is compared with the same round's direct figure, and the median of
those per-round differences is reported, so that a noisy neighbour that slows one round down
slows both sides of the comparison.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = [
    "BASELINE",
    "Row",
    "Sample",
    "TargetCheck",
    "aggregate",
    "evaluate_targets",
    "find_row",
    "sample_from_dict",
]

BASELINE = "direct"


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement: one target, one round of one scenario."""

    scenario: str
    target: str
    round: int
    tool: str
    concurrency: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us_per_req: float | None = None
    rss_mb: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    #: Cores kept busy by other users of the machine during the measurement.
    noise_cores: float | None = None


def sample_from_dict(d: Mapping[str, Any]) -> Sample:
    names = {f.name for f in fields(Sample)}
    return Sample(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True, slots=True)
class Row:
    """Medians over the rounds of one (scenario, target)."""

    scenario: str
    target: str
    tool: str
    concurrency: int
    rounds: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    cpu_us_per_req: float | None
    rss_mb: float | None
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    #: Largest other load on the machine during any of the rounds (cores).
    noise_cores: float | None
    #: Median over rounds of (this target - direct) in the same round; None for direct.
    added_p50_ms: float | None = None
    added_p99_ms: float | None = None
    added_ttft_p50_ms: float | None = None
    added_ttft_p99_ms: float | None = None
    #: Median over rounds of this target's req/s divided by direct's.
    rps_vs_direct: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _paired(
    mine: Sequence[Sample], base: Mapping[int, Sample], attr: str, ratio: bool = False
) -> float | None:
    out: list[float] = []
    for s in mine:
        b = base.get(s.round)
        if b is None:
            continue
        x, y = getattr(s, attr), getattr(b, attr)
        if x is None or y is None:
            continue
        if ratio:
            if y > 0:
                out.append(x / y)
        else:
            out.append(x - y)
    return statistics.median(out) if out else None


def aggregate(samples: Sequence[Sample], baseline: str = BASELINE) -> list[Row]:
    """One row per (scenario, target), in the order they were first measured."""
    groups: dict[tuple[str, str], list[Sample]] = {}
    for s in samples:
        groups.setdefault((s.scenario, s.target), []).append(s)
    rows: list[Row] = []
    for (scenario, target), group in groups.items():
        base = {s.round: s for s in groups.get((scenario, baseline), [])}
        paired = target != baseline and bool(base)
        rows.append(
            Row(
                scenario=scenario,
                target=target,
                tool=group[0].tool,
                concurrency=group[0].concurrency,
                rounds=len(group),
                requests=sum(s.requests for s in group),
                errors=sum(s.errors for s in group),
                rps=statistics.median(s.rps for s in group),
                p50_ms=statistics.median(s.p50_ms for s in group),
                p90_ms=statistics.median(s.p90_ms for s in group),
                p99_ms=statistics.median(s.p99_ms for s in group),
                cpu_us_per_req=_median(s.cpu_us_per_req for s in group),
                rss_mb=_median(s.rss_mb for s in group),
                ttft_p50_ms=_median(s.ttft_p50_ms for s in group),
                ttft_p99_ms=_median(s.ttft_p99_ms for s in group),
                noise_cores=max(
                    (s.noise_cores for s in group if s.noise_cores is not None), default=None
                ),
                added_p50_ms=_paired(group, base, "p50_ms") if paired else None,
                added_p99_ms=_paired(group, base, "p99_ms") if paired else None,
                added_ttft_p50_ms=_paired(group, base, "ttft_p50_ms") if paired else None,
                added_ttft_p99_ms=_paired(group, base, "ttft_p99_ms") if paired else None,
                rps_vs_direct=_paired(group, base, "rps", ratio=True) if paired else None,
            )
        )
    return rows


def find_row(rows: Iterable[Row | Mapping[str, Any]], scenario: str, target: str) -> Row | None:
    for r in rows:
        row = r if isinstance(r, Row) else Row(**r)
        if row.scenario == scenario and row.target == target:
            return row
    return None


@dataclass(frozen=True, slots=True)
class TargetCheck:
    name: str
    goal: str
    value: float | None
    unit: str
    #: None when it could not be measured in this run.
    met: bool | None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _check(
    name: str, goal: str, value: float | None, unit: str, ok: bool | None, note: str = ""
) -> TargetCheck:
    return TargetCheck(name, goal, value, unit, None if value is None else ok, note)


def evaluate_targets(rows: Sequence[Row], extras: Mapping[str, Any]) -> list[TargetCheck]:
    """The issue's targets (one worker, local simulated upstream, accounting on)."""
    c1 = find_row(rows, "json-c1", "plano")
    add50 = c1.added_p50_ms if c1 else None
    add99 = c1.added_p99_ms if c1 else None
    best = [r.rps for r in rows if r.target == "plano" and r.scenario in ("json-c50", "json-c200")]
    rps = max(best) if best else None
    plano_p = find_row(rows, "peers-json-c50", "plano")
    lite = find_row(rows, "peers-json-c50", "litellm")
    ratio = plano_p.rps / lite.rps if plano_p and lite and lite.rps > 0 else None
    ttft = find_row(rows, "ttft-c1", "plano")
    ttft_add = ttft.added_ttft_p50_ms if ttft else None
    mem = extras.get("streams")
    rss = mem.get("rss_open_mb") if isinstance(mem, Mapping) and mem.get("open") else None
    n_open = mem.get("open") if isinstance(mem, Mapping) else None
    mem_note = f"{n_open} streams held open" if n_open is not None else ""
    after = mem.get("rss_after_close_mb") if isinstance(mem, Mapping) else None
    if after is not None and rss is not None and after > rss:
        mem_note += f"; {after:.0f} MB once the clients had left"
    return [
        _check(
            "Added latency p50 at concurrency 1",
            "< 0.6 ms",
            add50,
            "ms",
            add50 is not None and add50 < 0.6,
        ),
        _check(
            "Added latency p99 at concurrency 1",
            "< 2 ms",
            add99,
            "ms",
            add99 is not None and add99 < 2.0,
        ),
        _check(
            "Throughput, one worker on one core",
            ">= 3,000 req/s",
            rps,
            "req/s",
            rps is not None and rps >= 3000,
            "best of concurrency 50 and 200",
        ),
        _check(
            "Throughput vs LiteLLM proxy (concurrency 50)",
            ">= 40x",
            ratio,
            "x",
            ratio is not None and ratio >= 40,
            "" if lite else "LiteLLM was not measured in this run",
        ),
        _check(
            "Time to first token added (streaming, concurrency 1)",
            "< 1 ms",
            ttft_add,
            "ms",
            ttft_add is not None and ttft_add < 1.0,
        ),
        _check(
            "RSS with 1,000 concurrent open streams",
            "< 150 MB",
            rss,
            "MB",
            rss is not None and rss < 150,
            mem_note,
        ),
        _floor_ratio_check(rows),
        _stream_filter_check(rows),
        _big_prompt_check(rows, extras),
        *_stall_checks(extras),
    ]


def _floor_ratio_check(rows: Sequence[Row]) -> TargetCheck:
    plano = find_row(rows, "json-c50", "plano")
    floor = find_row(rows, "json-c50", "floor")
    ratio = plano.rps / floor.rps if plano and floor and floor.rps > 0 else None
    note = f"{plano.rps:,.0f} vs {floor.rps:,.0f} req/s" if plano and floor else ""
    return _check(
        "Bare config (JSON, concurrency 50): req/s vs the aiohttp floor",
        ">= 0.55 of the floor (no loss from the request-path seams)",
        ratio,
        "x floor",
        ratio is not None and ratio >= 0.55,
        note,
    )


def _stream_filter_check(rows: Sequence[Row]) -> TargetCheck:
    plain = find_row(rows, "sse-filter-c50", "plano")
    filtered = find_row(rows, "sse-filter-c50", "plano-filter")
    a = plain.cpu_us_per_req if plain else None
    b = filtered.cpu_us_per_req if filtered else None
    ratio = b / a if a and b else None
    note = f"{b:,.0f} vs {a:,.0f} us of CPU per stream" if a and b else ""
    return _check(
        "One stream filter: CPU per stream vs no filter (SSE, concurrency 50)",
        "<= 1.25x",
        ratio,
        "x",
        ratio is not None and ratio <= 1.25,
        note,
    )


def _big_prompt_check(rows: Sequence[Row], extras: Mapping[str, Any]) -> TargetCheck:
    plano = find_row(rows, "big-c50", "plano")
    floor = find_row(rows, "big-c50", "floor")
    ratio = plano.rps / floor.rps if plano and floor and floor.rps > 0 else None
    big = extras.get("big_prompt")
    size = f"{big['bytes'] / 1000:.1f} KB" if isinstance(big, Mapping) else "~178 KB"
    note = f"{plano.rps:,.0f} vs {floor.rps:,.0f} req/s" if plano and floor else ""
    return _check(
        f"Big prompt ({size} agent request, concurrency 50): req/s vs the aiohttp floor",
        ">= 0.40 of the floor",
        ratio,
        "x floor",
        ratio is not None and ratio >= 0.4,
        note,
    )


def _stall_checks(extras: Mapping[str, Any]) -> list[TargetCheck]:
    """/healthz p99 under each stall-probe load (``extras["stall"]``, see bench/heavy.py)."""
    stall = extras.get("stall")
    loads = stall.get("loads", {}) if isinstance(stall, Mapping) else {}
    out = []
    for key, label in (("prompt", "big prompts"), ("stream", "big streamed answers")):
        res = loads.get(key)
        p99 = res["probe"]["p99_ms"] if res else None
        note = ""
        if res:
            note = (
                f"{res['title']}; clients: {res['clients']}; max {res['probe']['max_ms']:,.0f} ms"
            )
        ok = p99 is not None and p99 < 50
        out.append(_check(f"/healthz p99 while {label} go through", "< 50 ms", p99, "ms", ok, note))
    return out
