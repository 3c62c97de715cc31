"""``agents[].run``, ``agents[].subscriptions`` and ``pubsub:`` as ``plano validate`` sees them."""

from __future__ import annotations

from typing import Any

from plano.config import check_config
from plano.config.agent_run import PubSubSettings, TopicRule, topic_allowed


def base(agents: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12000}],
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k", "default": True}],
        "agents": agents,
        **more,
    }


def errors(data: dict[str, Any]) -> list[str]:
    _config, issues = check_config(data, {})
    return [str(i) for i in issues if i.severity == "error"]


def test_a_run_section_is_read_with_defaults() -> None:
    agent = {"id": "a", "url": "http://127.0.0.1:9100", "run": {"command": "python a.py"}}
    config, issues = check_config(base([agent]), {})
    assert config is not None, issues
    run = config.agents[0].run
    assert run is not None and run.managed and run.argv() == ["python", "a.py"]
    assert (run.replicas, run.health_path, float(run.start_timeout)) == (1, "/healthz", 30.0)


def test_bad_run_settings_are_errors_with_paths() -> None:
    found = errors(
        base(
            [
                {"id": "a", "url": "http://h:1", "run": {"command": "", "replicas": 0}},
                {"id": "b", "url": "http://h:2", "run": {"health_path": "healthz"}},
                {"id": "c", "url": "http://h:3", "run": {"colour": "red"}},
            ]
        )
    )
    text = "\n".join(found)
    assert "agents[0].run.command" in text and "command is empty" in text
    assert "agents[0].run.replicas" in text
    assert "agents[1].run.health_path" in text
    assert "agents[2].run: unknown key 'colour'" in text


def test_ports_that_collide_are_errors() -> None:
    found = errors(
        base(
            [
                {"id": "a", "url": "http://127.0.0.1:9100", "run": {"command": "x", "replicas": 2}},
                {"id": "b", "url": "http://127.0.0.1:9101", "run": {"command": "y"}},
                {"id": "c", "url": "http://127.0.0.1:12000", "run": {"command": "z"}},
                {"id": "d", "url": "http://127.0.0.1", "run": {"command": "z"}},
                {"id": "e", "url": "http://127.0.0.1:9200", "run": {"replicas": 2}},
            ]
        )
    )
    text = "\n".join(found)
    assert "port 9101 is already a's (replica 0)" in text
    assert "port 12000 is also listener 'llm'" in text
    assert "agents[3].run.port" in text
    assert "replicas need a command" in text


def test_a_subscription_the_topic_rules_refuse_is_an_error() -> None:
    agent = {"id": "a", "url": "http://h:1", "subscriptions": [{"topic": "secret"}]}
    rules = {"topics": [{"name": "secret", "subscribe": ["b"]}]}
    found = errors(base([agent], pubsub=rules))
    assert any("agents[0].subscriptions[0].topic" in e for e in found)
    assert not errors(base([agent]))  # no rules: open


def test_topic_rules_first_match_wins_and_unnamed_topics_are_refused() -> None:
    settings = PubSubSettings(
        topics=[
            TopicRule(name="bookings.*", publish=["booker"], subscribe=["*"]),
            TopicRule(name="*", publish=["key:ops"]),
        ]
    )
    assert topic_allowed(settings, "bookings.eu", "publish", "booker")
    assert not topic_allowed(settings, "bookings.eu", "publish", "key:ops")
    assert topic_allowed(settings, "bookings.eu", "subscribe", "anonymous")
    assert topic_allowed(settings, "other", "publish", "key:ops")
    assert not topic_allowed(settings, "other", "subscribe", "key:ops")
    assert topic_allowed(settings, "other", "subscribe", "admin")
    assert topic_allowed(None, "any", "publish", "anonymous")
    assert not topic_allowed(PubSubSettings(topics=[TopicRule(name="a")]), "b", "publish", "x")
