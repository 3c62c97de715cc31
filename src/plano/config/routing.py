"""Our routing extensions, beside Plano's ``model_providers`` / ``model_aliases`` /
``routing_preferences``: pools of deployments, declarative rules, model capabilities, fallback
and circuit breaking, and the preference router.

::

    model_pools:          name -> {strategy, deployments, fallbacks}
    routing_rules:        [{name, when: {...}, route_to, fallbacks}]    evaluated in order
    model_capabilities:   model (or glob) -> {context_window, tools, vision, json_mode}
    fallback:             attempts, deadline, backoff, stream limits, circuit_breaker, models
    preference_router:    type llm | embedding, model, timeout, default_route, ...

These models only describe the file; :mod:`plano.routing.smart` builds the runtime from them.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from pydantic import Field, field_validator, model_validator

from plano.config.sections import ConfigModel
from plano.config.units import Duration

__all__ = [
    "STRATEGIES",
    "Backoff",
    "CircuitBreaker",
    "Fallback",
    "ModelCapability",
    "ModelPool",
    "PoolMember",
    "PreferenceRouter",
    "Range",
    "RoutingRule",
    "RuleMatch",
    "Strategy",
]

Strategy: TypeAlias = Literal[
    "weighted", "round_robin", "least_busy", "lowest_latency", "cheapest", "lowest_metric"
]
STRATEGIES: tuple[str, ...] = (
    "weighted",
    "round_robin",
    "least_busy",
    "lowest_latency",
    "cheapest",
    "lowest_metric",
)
StrList: TypeAlias = list[str]


def _as_list(value: Any) -> Any:
    """``x`` -> ``[x]``: a single value reads better in YAML for the common case."""
    return [value] if isinstance(value, str | int | float | bool) else value


class PoolMember(ConfigModel):
    model: str = Field(description="A model_providers entry: its `model` or its `name`.")
    weight: float = Field(
        default=1.0, gt=0, description="Share of traffic for the weighted strategy."
    )


class ModelPool(ConfigModel):
    strategy: Strategy = Field(
        default="weighted",
        description="How to order the deployments for each request: weighted, round_robin, "
        "least_busy (fewest in flight), lowest_latency (moving averages), cheapest, "
        "lowest_metric (a custom model_metrics_sources value, named by `metric`).",
    )
    metric: str | None = Field(
        default=None,
        description="For lowest_metric: the custom model_metrics_sources name to order by "
        "(lowest first; deployments without a value last).",
    )
    deployments: list[PoolMember] = Field(
        min_length=1,
        description="The deployments behind this name; a string is a member with weight 1.",
    )
    fallbacks: StrList = Field(
        default_factory=list,
        description="Models or pools tried, in order, after every deployment of the pool failed.",
    )

    @field_validator("deployments", mode="before")
    @classmethod
    def _members(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"model": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("fallbacks", mode="before")
    @classmethod
    def _one_fallback(cls, value: Any) -> Any:
        return _as_list(value)


class Range(ConfigModel):
    """A numeric condition: every bound given must hold."""

    gt: float | None = Field(default=None, description="Greater than.")
    gte: float | None = Field(default=None, description="Greater than or equal.")
    lt: float | None = Field(default=None, description="Less than.")
    lte: float | None = Field(default=None, description="Less than or equal.")

    @model_validator(mode="after")
    def _some_bound(self) -> Range:
        if self.gt is None and self.gte is None and self.lt is None and self.lte is None:
            raise ValueError("give at least one of gt, gte, lt, lte")
        return self


class RuleMatch(ConfigModel):
    """Conditions of a rule; all given conditions must hold (an empty ``when`` always does)."""

    model: StrList | None = Field(
        default=None, description="Requested model names or aliases; '*' globs allowed."
    )
    headers: dict[str, StrList] | None = Field(
        default=None, description="Header -> allowed values ('*': the header is present)."
    )
    metadata: dict[str, StrList] | None = Field(
        default=None, description="Request metadata key -> allowed values ('*': present)."
    )
    user: StrList | None = Field(
        default=None, description="The request's `user` (or x-plano-user header)."
    )
    team: StrList | None = Field(
        default=None, description="metadata.team or the x-plano-team header."
    )
    tags: StrList | None = Field(
        default=None,
        description="Any of these task tags (metadata.tags or x-plano-tags, comma-separated).",
    )
    input_tokens: Range | None = Field(
        default=None, description="Estimated input tokens of the request."
    )
    max_tokens: Range | None = Field(
        default=None, description="The request's max_tokens (absent counts as 0)."
    )
    has_tools: bool | None = Field(default=None, description="The request declares tools.")
    has_images: bool | None = Field(default=None, description="A message carries an image.")
    json_mode: bool | None = Field(default=None, description="response_format asks for JSON.")
    stream: bool | None = Field(default=None, description="The request streams.")

    @field_validator("model", "user", "team", "tags", mode="before")
    @classmethod
    def _one_value(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("headers", "metadata", mode="before")
    @classmethod
    def _one_value_each(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _as_list(v) for k, v in value.items()}
        return value


class RoutingRule(ConfigModel):
    name: str = Field(description="Rule name, shown in x-plano-route and decision counters.")
    when: RuleMatch = Field(default_factory=RuleMatch, description="Conditions; all must hold.")
    route_to: str = Field(description="The pool, alias or model that serves matching requests.")
    fallbacks: StrList = Field(
        default_factory=list, description="Models or pools tried after route_to failed."
    )

    @field_validator("fallbacks", mode="before")
    @classmethod
    def _one_fallback(cls, value: Any) -> Any:
        return _as_list(value)


class ModelCapability(ConfigModel):
    context_window: int | None = Field(
        default=None, ge=1, description="Input plus output tokens the model accepts."
    )
    max_output_tokens: int | None = Field(
        default=None, ge=1, description="Largest max_tokens the model accepts."
    )
    tools: bool | None = Field(default=None, description="Supports tool calling.")
    vision: bool | None = Field(default=None, description="Accepts images.")
    json_mode: bool | None = Field(default=None, description="Supports response_format JSON.")


class Backoff(ConfigModel):
    initial: Duration = Field(default=0.2, ge=0, description="Wait before the first retry.")
    max: Duration = Field(default=5.0, ge=0, description="Longest wait between retries.")
    multiplier: float = Field(default=2.0, ge=1, description="Growth factor per retry.")
    jitter: float = Field(
        default=0.5, ge=0, le=1, description="Random share of each wait (0: none, 1: full)."
    )


class CircuitBreaker(ConfigModel):
    enabled: bool = Field(default=True, description="Skip deployments that keep failing.")
    consecutive_failures: int = Field(
        default=5, ge=1, description="Open after this many failures in a row."
    )
    error_rate: float = Field(
        default=0.5, gt=0, le=1, description="Open when this share of recent calls failed..."
    )
    min_requests: int = Field(
        default=20, ge=1, description="...among at least this many calls in the window."
    )
    window: Duration = Field(default=60.0, gt=0, description="Window of the error rate.")
    cooldown: Duration = Field(
        default=10.0, gt=0, description="How long an open breaker rejects before a probe."
    )


RetryOn: TypeAlias = Literal[
    "connect", "timeout", "rate_limit", "server_error", "context_length", "content_policy"
]


def _all_failures() -> list[RetryOn]:
    return ["connect", "timeout", "rate_limit", "server_error", "context_length", "content_policy"]


class Fallback(ConfigModel):
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        description="Attempts per request, retries included (default: every candidate once, "
        "at least 3; Plano's listener max_retries + 1 when set).",
    )
    deadline: Duration = Field(
        default=60.0, gt=0, description="No attempt or wait starts later than this."
    )
    retry_on: list[RetryOn] = Field(
        default_factory=_all_failures,
        description="Failures that move on to the next deployment.",
    )
    backoff: Backoff = Field(default_factory=Backoff, description="Waits between retries.")
    max_retry_after: Duration = Field(
        default=5.0,
        ge=0,
        description="Wait out a Retry-After up to this long when no other deployment is ready; "
        "longer ones are answered with 429 and Retry-After.",
    )
    attempt_timeout: Duration | None = Field(
        default=None, gt=0, description="Limit of one non-stream attempt."
    )
    first_token_timeout: Duration | None = Field(
        default=None,
        gt=0,
        description="Streams: limit from the upstream call to its first token; then fail over.",
    )
    stream_idle_timeout: Duration | None = Field(
        default=None, gt=0, description="Streams: longest gap between two chunks."
    )
    circuit_breaker: CircuitBreaker = Field(
        default_factory=CircuitBreaker, description="Per-deployment circuit breaker."
    )
    models: dict[str, StrList] = Field(
        default_factory=dict,
        description="Requested name -> fallback models or pools; '*' applies to every name.",
    )

    @field_validator("models", mode="before")
    @classmethod
    def _one_each(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _as_list(v) for k, v in value.items()}
        return value


class PreferenceRouter(ConfigModel):
    type: Literal["llm", "embedding"] | None = Field(
        default=None,
        description="llm: a configured model picks the route; embedding: offline similarity "
        "(wordllama). Default: llm when a router model is set, else embedding.",
    )
    model: str | None = Field(
        default=None,
        description="Router model for type llm (else routing.model or "
        "overrides.llm_routing_model).",
    )
    timeout: Duration = Field(
        default=3.0, gt=0, description="Time limit of the router; then the default route."
    )
    default_route: str | None = Field(
        default=None,
        description="Route used when none matches or the router fails (default: the requested "
        "model).",
    )
    min_similarity: float = Field(
        default=0.2, ge=-1, le=1, description="Embedding router: lowest score that matches."
    )
    apply_to: StrList = Field(
        default_factory=lambda: ["*"],
        description="Requested model names (globs) that go through preference routing.",
    )
    max_context_chars: int = Field(
        default=4000, ge=100, description="Conversation characters shown to the router."
    )

    @field_validator("apply_to", mode="before")
    @classmethod
    def _one_name(cls, value: Any) -> Any:
        return _as_list(value)
