"""The ``auth:`` section (Plano-for-Python's): client authentication with virtual keys.

::

    auth:
      keys:                                  # static keys (dynamic ones: the admin API)
        - id: support-bot
          key: $SUPPORT_BOT_KEY              # the secret; at least 16 characters
          principal: {user: bot, team: support, tenant: acme, tags: [prod]}
          models: ["openai/*", "fast"]       # globs over models, names, aliases; [] = any
          agents: []                         # globs over agent ids; [] = any
          budgets: [support-monthly]         # names of budgets (the budgets section)
          rate_limits: [per-key]             # names of rate limits
          expires: 2027-01-01                # date, ISO 8601 time or epoch seconds
      cache_ttl: 5s                          # how long a process trusts a stored key's state

Without the section (or with ``enabled: false``) the model API is open, as before.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, TypeAlias

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator

from plano.config.sections import ConfigModel
from plano.config.units import Duration

__all__ = [
    "KEY_ID_PATTERN",
    "AuthSettings",
    "KeyPrincipal",
    "StaticKey",
    "Timestamp",
    "check_key_id",
    "is_key_id",
    "parse_timestamp",
]

#: What a key id may look like (it appears in URLs and logs).
KEY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
_KEY_ID = re.compile(KEY_ID_PATTERN)


def is_key_id(text: str) -> bool:
    return _KEY_ID.match(text) is not None


def check_key_id(value: str) -> str:
    """``value`` when it may be a key id; else ValueError with a message fit for a user."""
    if not is_key_id(value):
        raise ValueError(
            "a key id is 1 to 128 letters, digits and . _ : @ - (starting with a letter or a digit)"
        )
    return value


def parse_timestamp(value: object) -> float:
    """Epoch seconds from a number, an ISO 8601 time (UTC unless it says) or a date (its
    midnight, UTC). Raises ``ValueError`` with a message fit for a config error."""
    expected = "expected a date, an ISO 8601 time or epoch seconds"
    if isinstance(value, bool):
        raise ValueError(f"{expected}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, dt.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        seconds = when.timestamp()
    elif isinstance(value, dt.date):
        seconds = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    elif isinstance(value, str):
        try:
            return parse_timestamp(float(value))
        except ValueError:
            pass
        try:
            return parse_timestamp(dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            raise ValueError(f"{expected}, got {value!r}") from None
    else:
        raise ValueError(f"{expected}, got {type(value).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{expected}, got {value!r}")
    return seconds


Timestamp: TypeAlias = Annotated[
    float,
    BeforeValidator(parse_timestamp),
    WithJsonSchema({"type": ["string", "number"], "format": "date-time"}),
]


class KeyPrincipal(ConfigModel):
    """Who a key stands for: cost attribution, policies, budgets and limits key on it."""

    user: str | None = Field(default=None, description="The user the key belongs to.")
    team: str | None = Field(default=None, description="The user's or the app's team.")
    tenant: str | None = Field(default=None, description="The tenant (customer, business unit).")
    tags: list[str] = Field(default_factory=list, description="Free labels policies can test.")


class StaticKey(ConfigModel):
    """A virtual key declared in the config (revoked by removing it and reloading)."""

    id: str = Field(
        description="The key's id: what usage, audit and the admin API show (never the key); "
        "letters, digits and . _ : @ - (up to 128).",
    )
    key: str = Field(
        repr=False,
        description="The secret clients send (Authorization: Bearer, x-api-key or x-plano-key); "
        "write it as $VAR; at least 16 characters.",
    )
    name: str | None = Field(default=None, description="A description for people.")
    principal: KeyPrincipal = Field(
        default_factory=KeyPrincipal, description="Who the key stands for."
    )
    models: list[str] = Field(
        default_factory=list,
        description="Models the key may use: glob patterns over model ids (openai/*), entry "
        "names and aliases; empty: every model.",
    )
    agents: list[str] = Field(
        default_factory=list, description="Agents the key may call (glob patterns); empty: all."
    )
    budgets: list[str] = Field(
        default_factory=list, description="Names of the budgets charged for this key."
    )
    rate_limits: list[str] = Field(
        default_factory=list, description="Names of the rate limits applied to this key."
    )
    expires: Timestamp | None = Field(
        default=None,
        description="When the key stops working: a date, an ISO 8601 time or epoch seconds.",
    )

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return check_key_id(value)


class AuthSettings(ConfigModel):
    """Client authentication with virtual keys (Plano-for-Python's section)."""

    enabled: bool = Field(
        default=True,
        description="Require a virtual key on the model API; false keeps the section but "
        "leaves the API open.",
    )
    keys: list[StaticKey] = Field(
        default_factory=list,
        description="Static keys; more are made at run time with `plano keys create`.",
    )
    cache_ttl: Duration = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How long a process trusts what it read of a stored key: a key revoked "
        "through another process or replica stops working within this time.",
    )
