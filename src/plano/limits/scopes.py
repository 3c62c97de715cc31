"""Whose counter a request counts against: a scope's value for one request, whether a
limit's ``match`` and ``models`` select it, and counter keys that stay short and safe. Pure.

========  ==============================================================================
scope     value
========  ==============================================================================
key       the principal's id (every unauthenticated request shares ``anonymous``)
user      the principal's user; requests without one are not counted
team      the principal's team (likewise)
tenant    the principal's tenant (likewise)
session   the request's session id (``x-plano-session-id`` / ``x-model-affinity``)
agent     the agent the hop serves (agent listeners)
model     the deployment called, as ``provider/model`` (rate limits only)
global    ``*``: one counter for every request
========  ==============================================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plano.pipeline.context import RequestContext

if TYPE_CHECKING:
    from plano.providers.deployment import Deployment

__all__ = ["Selector", "key_part", "model_names", "scope_value"]

#: Values longer than this (or with characters outside printable ASCII) are hashed in keys.
_KEY_PART_MAX = 64


def scope_value(scope: str, ctx: RequestContext, dep: Deployment | None) -> str | None:
    """The value of ``scope`` for this request, or ``None`` when it has none (the limit then
    does not apply; ``model`` has none before a deployment is chosen)."""
    p = ctx.principal
    if scope == "key":
        return p.id
    if scope == "user":
        return p.user
    if scope == "team":
        return p.team
    if scope == "tenant":
        return p.tenant
    if scope == "session":
        return ctx.session_id
    if scope == "agent":
        return ctx.agent_id
    if scope == "model":
        return None if dep is None else f"{dep.provider}/{dep.model_id}"
    return "*"


def model_names(dep: Deployment) -> set[str]:
    """Every name a limit's ``models`` may use for ``dep``: its entry's name, ``provider/model``,
    the bare id, and its wildcard entry (``provider/*``)."""
    names = {dep.key, dep.name, f"{dep.provider}/{dep.model_id}", dep.model_id}
    names.add(f"{dep.provider}/*")
    if dep.group:
        names.add(dep.group)
    return names


@dataclass(frozen=True, slots=True)
class Selector:
    """A limit's ``match`` and ``models``: which requests it counts."""

    #: ``None``: every value (``*``).
    values: frozenset[str] | None = None
    #: Empty: every model.
    models: frozenset[str] = frozenset()
    #: Only when the request's virtual key names the limit (``applies: key``).
    key_only: bool = False

    @classmethod
    def of(cls, match: str | list[str], models: Iterable[str], applies: str) -> Selector:
        values = None if match == "*" else frozenset([match] if isinstance(match, str) else match)
        return cls(values, frozenset(models), applies == "key")

    def selects(self, value: str, dep: Deployment | None, named: bool) -> bool:
        """Whether a request with scope value ``value`` to ``dep`` counts (``None``: to any
        model, before routing); ``named``: its virtual key lists the limit (which brings it
        in whatever ``match`` says)."""
        if dep is not None and self.models and self.models.isdisjoint(model_names(dep)):
            return False
        if named:
            return True
        if self.key_only:
            return False
        return self.values is None or value in self.values


def key_part(value: str) -> str:
    """``value`` as part of a counter key: as it is when short printable ASCII without ``:``,
    else ``#`` and a hash (a client-chosen session id or header value cannot grow keys)."""
    plain = value.isascii() and value.isprintable() and ":" not in value
    if plain and len(value) <= _KEY_PART_MAX and not value.startswith("#"):
        return value
    return "#" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
