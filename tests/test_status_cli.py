"""plano.status_cli: the rendering and the exit status, from status documents."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from plano.status_cli import render_status, status_verdict


def _status(**overrides: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "generation": 3,
        "state": "ready",
        "pid": 42,
        "workers": 4,
        "uptime_s": 3725.2,
        "in_flight": 7,
        "stores": {
            "hot": {"backend": "redis", "target": "redis://r:6379/0", "status": "ok"},
            "durable": {"backend": "postgres", "target": "pg/plano", "status": "ok"},
        },
        "writer": {"queued": 2, "written": 100, "dropped": 0},
        "auth": {"enabled": True},
        "listeners": [
            {"name": "llm", "type": "model", "url": "https://0.0.0.0:12000", "tls": True},
            {
                "name": "admin",
                "type": "admin",
                "url": "https://0.0.0.0:12001",
                "tls": "mutual",
                "admin": True,
            },
        ],
        "not_served": ["prompts (prompt, port 10000)"],
    }
    status.update(overrides)
    return status


def _text(status: dict[str, Any]) -> str:
    console = Console(record=True, width=200)
    render_status(status, console)
    return " ".join(console.export_text().split())


def test_render_shows_generation_listeners_and_stores() -> None:
    text = _text(_status())
    assert "ready generation 3 workers 4 pid 42 up 1h 2m 5s in flight 7" in text
    assert "llm model https://0.0.0.0:12000 TLS" in text
    assert "admin admin https://0.0.0.0:12001 mTLS yes" in text
    assert "hot redis redis://r:6379/0 ok" in text
    assert "not served yet: prompts" in text
    assert "virtual keys required" in text


def test_degraded_store_shows_its_reason_and_exits_2() -> None:
    stores = {"hot": {"backend": "redis", "target": "r", "status": "degraded", "reason": "down"}}
    status = _status(stores=stores)
    assert "hot redis r degraded down" in _text(status)
    assert status_verdict(status) == 2
    assert status_verdict(_status(state="draining")) == 2
    assert status_verdict(_status()) == 0


def test_agents_are_listed_and_an_unhealthy_one_exits_2() -> None:
    agents = [
        {
            "id": "flights",
            "state": "running",
            "managed": True,
            "healthy": 2,
            "replicas": [{"url": "a", "pid": 11}, {"url": "b", "pid": 12}],
            "restarts": 1,
        },
        {
            "id": "weather",
            "state": "crashloop",
            "managed": True,
            "healthy": 0,
            "replicas": [],
            "restarts": 5,
            "last_error": "exited with status 1",
        },
    ]
    status = _status(agents=agents)
    text = _text(status)
    # The table of ``plano agents`` (one rendering of agent rows).
    assert "flights running yes 2/2 healthy (pid 11, 12) 1" in text
    assert "weather crashloop yes 0/0 healthy 5 exited with status 1" in text
    assert status_verdict(status) == 2
    assert status_verdict(_status(agents=agents[:1])) == 0


def test_an_agent_with_no_healthy_replica_exits_2() -> None:
    """The agents API counts healthy replicas (0 is down) and leaves agents without health
    checks at None."""
    up = {"id": "a", "state": "up", "managed": True, "healthy": 2, "replicas": [{}, {}]}
    external = {"id": "b", "state": "external", "managed": False, "healthy": None}
    down = {"id": "c", "state": "crash-looping", "managed": True, "healthy": 0, "replicas": [{}]}
    assert status_verdict(_status(agents=[up, external])) == 0
    assert status_verdict(_status(agents=[up, external, down])) == 2
    assert status_verdict(_status(agents=[{**up, "healthy": 0, "state": "starting"}])) == 2
    assert "c crash-looping yes 0/1 healthy 0" in _text(_status(agents=[down]))
    assert "b external external" in _text(_status(agents=[external]))
