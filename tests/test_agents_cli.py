"""plano.agents_cli: the one rendering of agent rows (``plano agents`` and ``plano status``)."""

from __future__ import annotations

from rich.console import Console

from plano.agents_cli import agent_down, agents_table


def _text(agents: list[dict[str, object]]) -> str:
    console = Console(record=True, width=200)
    console.print(agents_table(agents))
    return " ".join(console.export_text().split())


def test_rows_show_health_pids_url_and_last_error() -> None:
    up = {
        "id": "flights",
        "state": "up",
        "managed": True,
        "healthy": 1,
        "replicas": [{"url": "http://127.0.0.1:1", "pid": 7}, {"url": "http://127.0.0.1:2"}],
        "restarts": 3,
        "url": "http://127.0.0.1:1",
        "last_error": "exited with status 1",
    }
    external = {"id": "weather", "state": "external", "healthy": None, "url": "http://w"}
    text = _text([up, external, "not a row"])  # type: ignore[list-item]
    assert "flights up yes 1/2 healthy (pid 7) 3 http://127.0.0.1:1 exited with status 1" in text
    assert "weather external external 0 http://w" in text


def test_down_means_no_healthy_replica_or_a_down_state() -> None:
    assert agent_down({"healthy": 0, "state": "starting"})
    assert agent_down({"healthy": None, "state": "crash-looping"})
    assert not agent_down({"healthy": None, "state": "external"})
    assert not agent_down({"healthy": 2, "state": "up"})
