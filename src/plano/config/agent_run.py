"""Our extensions beside Plano's ``agents:`` keys: how to run an agent, what it subscribes to,
and who may publish and subscribe to which topic.

```yaml
agents:
  - id: flight_agent
    url: http://127.0.0.1:10510          # replica i listens on port + i (PORT env)
    run:
      command: python flight_agent.py    # none: an external agent, health-checked only
      cwd: examples/agents/travel        # relative to the config file
      env: {LOG_LEVEL: info}
      replicas: 2
      health_path: /healthz
      start_timeout: 30s
    subscriptions:
      - topic: bookings                  # pushed to url + path, retried with backoff
        path: /events
pubsub:
  topics:
    - name: "bookings*"                  # glob over topic names
      publish: [flight_agent, "key:ops"] # agent ids, key:<auth key id>, or "*"
      subscribe: ["*"]
```
"""

from __future__ import annotations

import shlex
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plano.config.units import Duration

__all__ = [
    "AgentRun",
    "AgentSubscription",
    "PubSubSettings",
    "TopicRule",
    "topic_allowed",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class AgentRun(_Model):
    """How ``plano up`` runs (or health-checks) an agent (Plano-for-Python's key)."""

    command: str | list[str] | None = Field(
        default=None,
        description="The program and its arguments (a string is split like a shell would); "
        "none: the agent runs elsewhere and is only health-checked.",
    )
    cwd: str | None = Field(
        default=None, description="Working directory (relative to the config file)."
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment given to the agent (PORT, PLANO_URL and its token are set per "
        "replica). The agent does not inherit Plano's environment (its provider keys, admin "
        "key, database URLs): only PATH, HOME, LANG, TZ, VIRTUAL_ENV, PYTHONPATH and the "
        "names in inherit_env.",
    )
    inherit_env: list[str] = Field(
        default_factory=list,
        description="Names of Plano's environment variables the agent also gets (opt-in, "
        "e.g. [OPENAI_API_KEY] for an agent that calls a provider directly).",
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="First replica's port (default: the agent url's); replica i gets port + i.",
    )
    replicas: int = Field(default=1, ge=1, le=64, description="Processes to run.")
    health_path: str = Field(default="/healthz", description="GET path that answers 2xx when up.")
    health_url: str | None = Field(
        default=None, description="Full health URL (external agents; overrides health_path)."
    )
    health_interval: Duration = Field(default=1.0, description="Seconds between health checks.")
    start_timeout: Duration = Field(
        default=30.0, description="How long a replica may take to answer its health check."
    )
    stop_timeout: Duration = Field(
        default=10.0, description="Grace after SIGTERM before SIGKILL on stop."
    )
    max_restarts: int = Field(
        default=5,
        ge=0,
        description="Exits within a minute before the agent is reported crash-looping and "
        "left down (the gateway keeps serving).",
    )

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is not None and not argv(value):
            raise ValueError("command is empty")
        return value

    @field_validator("inherit_env")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or "=" in name or "\0" in name:
                raise ValueError(f"not an environment variable name: {name!r}")
        return value

    @field_validator("health_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("health_path must start with /")
        return value

    @property
    def managed(self) -> bool:
        return self.command is not None

    def argv(self) -> list[str]:
        return argv(self.command) if self.command is not None else []


def argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


class AgentSubscription(_Model):
    """A topic pushed to the agent: each message POSTed to ``url + path`` until a 2xx."""

    topic: str = Field(description="Topic name.")
    path: str = Field(default="/events", description="Path on the agent that receives events.")
    group: str | None = Field(
        default=None, description="Consumer group (default: push:<agent id>)."
    )
    max_attempts: int = Field(default=5, ge=1, le=100, description="Deliveries before giving up.")
    backoff: Duration = Field(default=0.2, description="First retry delay (doubles, max 10s).")
    timeout: Duration = Field(default=10.0, description="Time limit of one delivery.")


class TopicRule(_Model):
    name: str = Field(description="Topic name or glob (``bookings.*``).")
    publish: list[str] = Field(
        default_factory=list,
        description='Who may publish: agent ids, "key:<auth key id>", "admin", or "*".',
    )
    subscribe: list[str] = Field(
        default_factory=list, description="Who may subscribe (same forms as publish)."
    )


class PubSubSettings(_Model):
    """Publish/subscribe between agents (Plano-for-Python's section)."""

    topics: list[TopicRule] = Field(
        default_factory=list,
        description="Allow-lists per topic, first match wins; none: every caller may publish "
        "and subscribe; with rules, a topic no rule names is refused.",
    )
    max_message: int = Field(default=1_000_000, ge=1, description="Largest message body in bytes.")
    max_groups: int = Field(
        default=64,
        ge=1,
        le=10_000,
        description="Most consumer groups one topic may have; a subscription that would create "
        "one more gets 429 (clients could otherwise fill the store with groups).",
    )
    max_consumers: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Most named consumers one group may have; one more gets 429. A "
        "subscription without ?consumer= is forgotten when it ends (if it holds no message).",
    )


def topic_allowed(settings: PubSubSettings | None, topic: str, action: str, who: str) -> bool:
    """Whether ``who`` (an agent id, ``key:<id>``, ``admin`` or ``anonymous``) may
    ``action`` (``publish`` | ``subscribe``) ``topic``. Pure."""
    if settings is None or not settings.topics or who == "admin":
        return True
    for rule in settings.topics:
        if fnmatchcase(topic, rule.name):
            allowed = rule.publish if action == "publish" else rule.subscribe
            return "*" in allowed or who in allowed
    return False
