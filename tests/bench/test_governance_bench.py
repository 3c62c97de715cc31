"""``bench/governance.py``'s pure parts: the configs it starts (each valid, each turning on
what its row names), the request bodies and the wrk script that numbers each request, the
summary of its rounds (ratios per round, medians) and the report section."""

from __future__ import annotations

import orjson
import pytest
import yaml
from bench.governance import (
    FEATURES,
    MARK,
    _varying,
    bodies,
    config_for,
    render,
    summary,
    target,
)
from bench.wrk import lua_script

from plano.config import check_config


@pytest.mark.parametrize("features", [(), *((f,) for f in FEATURES), FEATURES])
def test_every_config_is_valid(features: tuple[str, ...]) -> None:
    data = yaml.safe_load(config_for(features, 12000, 19001))
    config, issues = check_config(data, {})
    assert config is not None, issues
    assert (config.auth is not None) == ("auth" in features)
    assert bool(config.policies) == ("policy" in features)
    assert bool(config.budgets) == ("budget" in features)
    assert bool(config.rate_limits) == ("rate_limit" in features)
    listener = config.listeners[0]
    names = list(listener.input_filters or [])
    assert ("pii" in names) == ("pii" in features)
    assert ("guard" in names) == ("guard" in features)


def test_bodies_carry_a_request_number_and_the_big_one_about_2_kb() -> None:
    out = bodies()
    for body in out.values():
        doc = orjson.loads(body)
        assert doc["messages"][1]["content"].startswith(MARK.replace("@@N@@", "0"))
        assert doc["max_tokens"] == 64 and "stream" not in doc
    prompt = orjson.loads(out["prompt-2k"])["messages"][1]["content"]
    assert 2000 <= len(prompt) <= 2200


def test_the_wrk_script_numbers_each_request() -> None:
    body = bodies()["small"]
    script = _varying(lua_script(body, {"Content-Type": "application/json"}), body)
    assert "request = function()" in script
    prefix = script.split("local prefix = [====[", 1)[1].split("]====]", 1)[0]
    suffix = script.split("local suffix = [====[", 1)[1].split("]====]", 1)[0]
    # What wrk sends for request 7 is the body with 7 in place of 0, nothing else changed.
    assert (prefix + "7" + suffix).encode() == body.replace(b"(request 0)", b"(request 7)")


def _rounds(rps: list[float], cpu: list[float]) -> list[dict[str, float]]:
    return [
        {"rps": r, "p50_ms": 1.0, "p99_ms": 2.0, "n": 100, "errors": 0, "cpu_us": c}
        | {"noise_cores": 0.0}
        for r, c in zip(rps, cpu, strict=True)
    ]


def test_summary_takes_ratios_within_each_round() -> None:
    # Round 2 runs at half speed (other users' load): per-round ratios stay put, and the
    # CPU per request, which that load does not change, gives the same ratio.
    samples = {
        "small": {
            "floor": _rounds([4000, 2000, 4000], [250, 250, 250]),
            "bare": _rounds([2000, 1000, 2000], [500, 500, 500]),
            "all": _rounds([1000, 500, 1000], [1000, 1000, 1000]),
        }
    }
    rows = {r["target"]: r for r in summary(samples)["small"]}
    assert rows["all"]["vs_floor"] == 0.25 and rows["all"]["vs_bare"] == 0.5
    assert rows["all"]["cpu_vs_floor"] == 0.25
    assert rows["all"]["added_us"] == 500.0  # 1/1000 - 1/2000 s
    assert rows["all"]["added_cpu_us"] == 500.0
    assert rows["bare"]["added_cpu_us"] is None and rows["floor"]["vs_floor"] == 1.0
    doc = {
        "generated_at": "2026-12-02 01:00 UTC",
        "method": "3 rounds",
        "rows": summary(samples),
        "micro": {"policy": 60.0},
        "runtime_s": 600,
    }
    doc["target"] = target(doc["rows"])
    assert doc["target"]["met"] == {"small": False}
    text = render(doc)
    row = "| **all of them together** | 1,000 | 4,000 | 0.25 | 0.50 | 1,000 | 250 | 0.25 | 500 |"
    assert row in text
    assert "python -m bench.governance" in text
    assert "small: 0.25 by req/s, 0.25 by CPU per request" in text
