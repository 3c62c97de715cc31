"""Budgets and rate limits (Plano-for-Python's ``budgets:`` and ``rate_limits:``); the checks
that need the whole config are in :mod:`plano.config.limit_checks`.

Plano's own ``ratelimits:`` key keeps its model (:class:`plano.config.sections.RateLimit`);
``docs/budgets.md`` says how both are enforced.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, TypeAlias

from pydantic import Field, field_validator, model_validator

from plano.config.sections import ConfigModel

__all__ = [
    "Budget",
    "BudgetScope",
    "OnStoreError",
    "Period",
    "RateLimitRule",
    "RateScope",
    "RateWindow",
    "rate_limit_name",
]

BudgetScope: TypeAlias = Literal["key", "user", "team", "tenant", "session", "agent", "global"]
RateScope: TypeAlias = Literal["key", "user", "team", "tenant", "session", "model", "global"]
Period: TypeAlias = Literal["day", "month", "total"]
RateWindow: TypeAlias = Literal["second", "minute", "hour", "day"]
OnStoreError: TypeAlias = Literal["open", "closed"]

_NAME = r"^[A-Za-z0-9_.\-]{1,64}$"


def _values(value: str | list[str]) -> str | list[str]:
    if isinstance(value, list):
        if not value:
            raise ValueError("give at least one value, or '*' for each distinct value")
        if "*" in value and len(value) > 1:
            raise ValueError("'*' stands for every value: it cannot be listed with others")
    return value


class _Limit(ConfigModel):
    match: str | list[str] = Field(
        default="*",
        description="The scope's values this applies to, each with its own counter; '*' "
        "(default): every value, each its own counter. Ignored for scope global.",
    )
    models: list[str] = Field(
        default_factory=list,
        description="Only requests to these models count: 'provider/model', a bare model id, "
        "a model_providers name, or 'provider/*'. Empty: every model.",
    )
    applies: Literal["match", "key"] = Field(
        default="match",
        description="match: to every request whose scope value `match` selects; key: only to "
        "requests whose virtual key lists this name (its budgets / rate_limits). A key that "
        "lists it brings it in either way.",
    )

    _check_match = field_validator("match")(_values)


class Budget(_Limit):
    """A spend limit in dollars and/or tokens per scope value and period (UTC)."""

    name: str = Field(
        pattern=_NAME, description="Unique id: counters, headers, logs and decisions use it."
    )
    scope: BudgetScope = Field(
        description="Whose spend: key (the principal's id), user, team, tenant, session, "
        "agent, or global (one counter for every request)."
    )
    period: Period = Field(
        default="month", description="day or month (UTC; the counter resets) or total."
    )
    usd: Decimal | None = Field(
        default=None, ge=0, description="Dollars per period (priced with genai-prices)."
    )
    tokens: int | None = Field(
        default=None, ge=0, description="Tokens (input + output) per period."
    )
    soft: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Alert (log line, decision, x-plano-budget-warning) once a request's worst "
        "case would take spend past this fraction of the limit.",
    )
    default_max_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Sent as max_tokens on requests that set none, so their cost is bounded "
        "(else the model's max_output_tokens, else its context window bounds the output).",
    )
    unpriced: Literal["deny", "free"] = Field(
        default="deny",
        description="A model with no known price under a dollar budget: deny (403) or count "
        "it as free (its tokens still count).",
    )
    on_store_error: OnStoreError = Field(
        default="closed",
        description="The hot store is unreachable: closed (503, the request is not sent) or "
        "open (sent uncounted, logged).",
    )

    @model_validator(mode="after")
    def _has_a_limit(self) -> Budget:
        if self.usd is None and self.tokens is None:
            raise ValueError("a budget needs usd, tokens or both")
        return self


class RateLimitRule(_Limit):
    """Requests and/or tokens per window, per scope value."""

    name: str | None = Field(
        default=None,
        pattern=_NAME,
        description="Id of the limit (counters and messages); default 'rate_limits[<index>]' "
        "(name it to keep its counters when the list is reordered).",
    )
    scope: RateScope = Field(
        description="Whose requests: key, user, team, tenant, session, model (each model "
        "called, 'provider/model'), or global."
    )
    requests: int | None = Field(default=None, ge=1, description="Requests per window.")
    tokens: int | None = Field(
        default=None,
        ge=1,
        description="Tokens per window: input tokens at admission, output tokens added "
        "when the answer ends.",
    )
    per: RateWindow = Field(default="minute", description="second, minute, hour or day.")
    on_store_error: OnStoreError = Field(
        default="open",
        description="The hot store is unreachable: open (admit, logged) or closed (503).",
    )

    @model_validator(mode="after")
    def _has_a_limit(self) -> RateLimitRule:
        if self.requests is None and self.tokens is None:
            raise ValueError("a rate limit needs requests, tokens or both")
        return self


def rate_limit_name(rule: RateLimitRule, index: int) -> str:
    return rule.name or f"rate_limits[{index}]"
