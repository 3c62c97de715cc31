"""Models for the Plano sections that Plano-for-Python accepts but does not act on yet.

They are typed anyway so that a config written for Plano 0.4.36 validates here exactly as
strictly as it would there, and so that the features landing later find their settings already
parsed. Where Plano's own description is open-ended (``overrides``, ``prompt_guards``,
``routing.routing_budget``), extra keys or any value are allowed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plano.config.agent_run import AgentRun, AgentSubscription
from plano.config.units import Duration

__all__ = [
    "Agent",
    "ConfigModel",
    "Endpoint",
    "MetricsSource",
    "OpenConfigModel",
    "Overrides",
    "PromptCaching",
    "PromptTarget",
    "PromptTargetEndpoint",
    "PromptTargetParameter",
    "RateLimit",
    "RateLimitSelector",
    "RateLimitValue",
    "Routing",
    "RoutingPreference",
    "SelectionPolicy",
    "SessionCache",
    "StateStorage",
]


class ConfigModel(BaseModel):
    """Base of every config model: unknown keys are errors."""

    # protected_namespaces=(): Plano's keys start with "model_" (model_providers, model_aliases).
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class OpenConfigModel(BaseModel):
    """Base for sections Plano documents loosely: keys beyond the typed ones are kept."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())


class SelectionPolicy(ConfigModel):
    prefer: Literal["cheapest", "fastest", "none"] = Field(
        description="How to order the route's candidate models: by cost, by latency, or as listed."
    )


class RoutingPreference(ConfigModel):
    name: str = Field(description="Route name, returned in routing decisions.")
    description: str = Field(
        description="What conversations this route is for; the router model reads it."
    )
    models: list[str] = Field(
        min_length=1, description="Candidate models for this route, in order of preference."
    )
    selection_policy: SelectionPolicy | None = Field(
        default=None, description="Reorders the candidates by cost or latency."
    )


class MetricsSource(ConfigModel):
    """A feed of per-model values for routing (``docs/model-metrics.md``): Plano's ``cost``
    (a pricing catalogue: digitalocean or models.dev) and ``latency`` (a Prometheus query),
    and our ``custom`` (any Prometheus query, named, for pool strategy ``lowest_metric``)."""

    type: Literal["cost", "latency", "custom"] = Field(
        description="Which metric this source provides: cost, latency, or custom (ours)."
    )
    provider: Literal["digitalocean", "models.dev", "prometheus"] = Field(
        description="Where the values come from: a pricing catalogue (digitalocean, "
        "models.dev; cost) or a Prometheus query (latency, custom)."
    )
    name: str | None = Field(
        default=None,
        description="The metric's name (custom sources; pools name it in `metric`).",
    )
    refresh_interval: int | None = Field(
        default=None, ge=1, description="Seconds between refreshes (default 60; cost 3600)."
    )
    url: str | None = Field(
        default=None,
        description="Prometheus base URL, or a pricing catalogue URL (without one, a "
        "catalogue source uses the bundled offline prices).",
    )
    query: str | None = Field(default=None, description="PromQL query (prometheus sources).")
    label: str = Field(
        default="model_name",
        description="The Prometheus label naming the model in each sample (ours).",
    )
    timeout: float = Field(
        default=5.0, gt=0, le=120, description="Seconds one fetch may take (ours)."
    )
    model_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Maps catalogue model keys to the model names used in routing_preferences.",
    )

    @model_validator(mode="after")
    def _shape(self) -> MetricsSource:
        prometheus = self.provider == "prometheus"
        if self.type == "cost" and prometheus:
            raise ValueError("a cost source's provider is digitalocean or models.dev")
        if self.type != "cost" and not prometheus:
            raise ValueError(f"a {self.type} source's provider is prometheus")
        if prometheus and (self.url is None or self.query is None):
            raise ValueError(f"a {self.type} source needs both url and query")
        if self.type == "custom" and not self.name:
            raise ValueError("a custom source needs a name")
        return self

    @property
    def key(self) -> str:
        """What routing calls this source's values: cost, latency, or the custom name."""
        return self.name if self.type == "custom" and self.name else self.type


class SessionCache(ConfigModel):
    type: Literal["memory", "redis"] = Field(
        default="memory", description="memory is per process; redis is shared across replicas."
    )
    url: str | None = Field(default=None, description="Redis URL, required for type redis.")
    tenant_header: str | None = Field(
        default=None, description="Header whose value scopes session keys per tenant."
    )

    @model_validator(mode="after")
    def _redis_needs_url(self) -> SessionCache:
        if self.type == "redis" and not self.url:
            raise ValueError("session_cache of type redis needs a url")
        return self


class Routing(ConfigModel):
    llm_provider: str | None = Field(default=None, description="Provider of the router model.")
    model: str | None = Field(default=None, description="Router model name.")
    session_ttl_seconds: int = Field(
        default=600, ge=1, description="Lifetime of a session's pinned route, in seconds."
    )
    session_max_entries: int = Field(
        default=10000, ge=1, le=10000, description="Most session pins kept at once."
    )
    session_cache: SessionCache | None = Field(
        default=None, description="Where session pins are stored."
    )
    routing_budget: Any = Field(default=None, description="Budget for routing decisions.")
    route_on_user_only: bool = Field(
        default=False, description="Route on user messages only, ignoring assistant turns."
    )


class PromptCaching(ConfigModel):
    enabled: bool = Field(default=False, description="Turn prompt-cache handling on.")
    session_affinity: bool = Field(
        default=False, description="Keep a session on one deployment so its cache stays warm."
    )
    inject_cache_control: bool = Field(
        default=False, description="Add Anthropic cache_control markers to long prefixes."
    )
    min_prefix_tokens: int | None = Field(
        default=None, ge=0, description="Shortest prefix worth marking for caching."
    )
    session_ttl_seconds: int | None = Field(
        default=None, ge=1, description="How long a session stays pinned for caching."
    )


class Agent(ConfigModel):
    id: str = Field(description="Agent id, referenced by agent listeners.")
    url: str = Field(description="URL of the agent's OpenAI-compatible chat completions server.")
    run: AgentRun | None = Field(
        default=None,
        description="How plano up runs and health-checks it (Plano-for-Python's key; "
        "docs/agent-lifecycle.md).",
    )
    subscriptions: list[AgentSubscription] = Field(
        default_factory=list,
        description="Topics pushed to the agent (Plano-for-Python's key; docs/pubsub.md).",
    )
    api: Literal["openai_chat", "anthropic_messages", "openai_responses"] = Field(
        default="openai_chat",
        description="The API the agent speaks (ours): requests are translated to it and its "
        "answers back to the client's.",
    )
    type: Literal["http", "mcp"] = Field(
        default="http",
        description="`mcp`: an MCP tool server (streamable HTTP at `url`, `/mcp` when it has no "
        "path), called through the agent listener at `/mcp/{id}` with tool-use policies "
        "applied (docs/agents.md); `http` (default): a chat agent.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Headers sent to the agent or MCP server with every call (its own "
        "credentials, e.g. `Authorization: Bearer $TOOLS_TOKEN`); never logged.",
    )
    forward_auth: bool = Field(
        default=False,
        description="Send the client's credentials (Authorization, x-api-key, x-plano-key, "
        "cookies) to the agent; without it they are withheld (the admin key never goes). "
        "Plano-for-Python's extension.",
    )


class Endpoint(ConfigModel):
    endpoint: str = Field(description="host:port of the upstream.")
    connect_timeout: Duration | None = Field(default=None, description="TCP connect timeout.")
    protocol: Literal["http", "https"] = Field(default="http", description="Upstream scheme.")
    http_host: str | None = Field(default=None, description="Host header to send.")


class PromptTargetParameter(ConfigModel):
    name: str = Field(description="Parameter name.")
    description: str = Field(description="What the parameter means, for the function caller.")
    type: str = Field(description="JSON type of the parameter.")
    required: bool = Field(default=False, description="Whether the parameter must be given.")
    default: Any = Field(default=None, description="Value used when the parameter is absent.")
    enum: list[Any] | None = Field(default=None, description="Allowed values.")
    in_path: bool = Field(default=False, description="Substitute the value into the path.")
    format: str | None = Field(default=None, description="Format hint (e.g. date).")


class PromptTargetEndpoint(ConfigModel):
    name: str = Field(description="Name of an entry in `endpoints`.")
    path: str = Field(description="Request path on that endpoint.")
    http_method: Literal["GET", "POST"] = Field(default="POST", description="HTTP method.")
    http_headers: dict[str, str] = Field(
        default_factory=dict, description="Headers sent with the call."
    )


class PromptTarget(ConfigModel):
    name: str = Field(description="Target name.")
    description: str = Field(description="What the target does, for intent matching.")
    default: bool = Field(default=False, description="Used when no other target matches.")
    auto_llm_dispatch_on_response: bool = Field(
        default=False, description="Send the endpoint's reply through a model."
    )
    parameters: list[PromptTargetParameter] = Field(
        default_factory=list, description="Typed function parameters."
    )
    endpoint: PromptTargetEndpoint | None = Field(default=None, description="Where the call goes.")
    system_prompt: str | None = Field(default=None, description="System prompt for this target.")


class Overrides(OpenConfigModel):
    upstream_connect_timeout: Duration | None = Field(
        default=None,
        description="Connect timeout for upstream providers (Plano's default 5s); used as "
        "gateway.connect_timeout when that is not set.",
    )
    upstream_tls_ca_path: str | None = Field(
        default=None, description="CA bundle for upstream TLS verification."
    )
    llm_routing_model: str | None = Field(default=None, description="Router model name.")
    agent_orchestration_model: str | None = Field(
        default=None, description="Agent orchestrator model name."
    )
    orchestrator_model_context_length: int | None = Field(
        default=None, ge=1, description="Context window of the router/orchestrator (8192)."
    )
    disable_signals: bool | None = Field(
        default=None, description="Skip agentic signal analysis on responses."
    )
    prompt_target_intent_matching_threshold: float | None = Field(
        default=None, description="Intent matching threshold for prompt targets."
    )
    optimize_context_window: bool | None = Field(
        default=None, description="Trim conversations to the model's context window."
    )
    use_agent_orchestrator: bool | None = Field(
        default=None, description="Route through the agent orchestrator."
    )


class RateLimitSelector(ConfigModel):
    key: str = Field(
        description="Header name the limit is keyed on; it applies only to requests whose "
        "x-arch-ratelimit-selector header names it."
    )
    value: str = Field(
        description="Header value the limit applies to; `*`: every value, each its own bucket."
    )


class RateLimitValue(ConfigModel):
    tokens: int = Field(ge=0, description="Input tokens allowed per unit.")
    unit: Literal["second", "minute", "hour", "day"] = Field(description="Window length.")


class RateLimit(ConfigModel):
    model: str = Field(description="Model the limit applies to: 'provider/model' or its id.")
    selector: RateLimitSelector = Field(description="Which requests share the limit.")
    limit: RateLimitValue = Field(description="How many tokens per window.")


class StateStorage(ConfigModel):
    type: Literal["memory", "sqlite", "postgres"] = Field(
        description=(
            "Where /v1/responses conversation state is kept: memory (bounded, lost on restart), "
            "sqlite (an embedded file; Plano-for-Python's extension) or postgres (shared by "
            "replicas; connection_string)."
        )
    )
    connection_string: str | None = Field(
        default=None, description="Postgres connection string, required for type postgres."
    )
    path: str = Field(default=".plano/responses.db", description="SQLite file for type sqlite.")
    max_entries: int = Field(
        default=10_000, ge=1, description="Most conversation turns kept in memory."
    )
    ttl: Duration = Field(
        default=24 * 3600.0, description="How long a stored response can be continued or read."
    )

    @model_validator(mode="after")
    def _postgres_needs_dsn(self) -> StateStorage:
        if self.type == "postgres" and not self.connection_string:
            raise ValueError("state_storage of type postgres needs a connection_string")
        return self


class StateWriter(ConfigModel):
    """How durable records (usage, audit) reach their store: batched, off the request path."""

    batch: int = Field(default=500, ge=1, description="Records written per transaction.")
    interval: Duration = Field(
        default=0.1, gt=0, description="Longest wait before a partial batch is written."
    )
    max_queue: int = Field(
        default=10_000,
        ge=1,
        description="Records held while the store is slow or down; past it, new ones are "
        "dropped (counted and logged), never blocking a request.",
    )


class State(ConfigModel):
    """Where shared state lives (Plano-for-Python's section). Nothing to set on a laptop: one
    process keeps hot state in memory and durable records in an embedded SQLite file; several
    workers on one host share that file. Replicas point ``redis`` (hot state) and
    ``postgres`` (durable records) at servers they share."""

    path: str = Field(
        default=".plano/state.db",
        description="The embedded SQLite file (WAL) for durable records when no postgres is "
        "set (created with its folder); hot state shared by the workers of one host, with no "
        "redis set, goes to hot.db next to it. ':memory:' keeps everything in each process's "
        "memory (nothing shared between workers, nothing kept across restarts).",
    )
    redis: str | None = Field(
        default=None,
        description="redis:// or rediss:// URL for hot state: budgets, rate limits, routing "
        "health, session pins, topics (write it as $VAR when it holds a password).",
    )
    postgres: str | None = Field(
        default=None,
        description="postgresql:// URL for durable records: usage ledger, audit log, keys, "
        "sessions, Responses state (sslmode honoured).",
    )
    key_prefix: str = Field(
        default="plano", description="Prefix of every Redis key (several gateways, one server)."
    )
    health_sync: Duration = Field(
        default=0.25,
        gt=0,
        description="How often workers and replicas share routing health (breakers, cool-downs, "
        "latency): routing reads a local copy at most this stale.",
    )
    writer: StateWriter = Field(default_factory=StateWriter, description="Batched writes.")
