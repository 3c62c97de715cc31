"""`plano demo` end to end: simulated providers, the model listener's traffic, and the travel
assistant behind an agent listener (plano.demo_agents), in one process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from plano.config import check_config


def test_demo_shows_the_gateway_and_the_travel_agents(tmp_path: Path) -> None:
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "plano", "demo", "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    took = time.monotonic() - t0
    out = done.stdout
    assert done.returncode == 0, done.stderr + out
    assert took < 20, took  # the agents run in-process: seconds, not a subprocess start each
    assert "agent listener travel on http://127.0.0.1:" in out
    # The model listener's rows as before: 200s, the two intended errors.
    statuses = re.findall(r"│\s+(\d+) │ [^│]+│\s+(\d{3}) │", out)
    assert len(statuses) == 15, out
    assert [s for _, s in statuses].count("200") == 13
    assert {n for n, s in statuses if s != "200"} == {"11", "12"}
    # The orchestration rows: rules chose the flight agent then the weather agent for a trip,
    # the default (weather) agent otherwise; every agent asked the model listener.
    assert out.count("agents/flight_agent,weather") == 2 and "agents/weather_agent" in out
    assert "[flights] Simulated reply" not in out  # the last agent (weather) answers a trip
    assert out.count("[weather] Simulated reply") == 3
    # The written config is an ordinary Plano config with the agent listener in it.
    raw = yaml.safe_load((tmp_path / ".plano" / "demo-config.yaml").read_text())
    config, issues = check_config(raw, {"OPENAI_API_KEY": "sim-key"})
    assert config is not None, [str(i) for i in issues]
    assert [lst.type for lst in config.listeners] == ["model", "agent"]
    assert {a.id for a in config.agents} == {"flight_agent", "weather_agent"}
    # Agent turns are in the usage log beside the model calls their agents made.
    totals = re.search(r"totals: (\d+) requests", out)
    assert totals is not None and int(totals.group(1)) == 12 + 3 + 5
