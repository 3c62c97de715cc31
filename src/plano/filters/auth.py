"""The auth filter: virtual keys on the model API (first in every model listener's chain when
``auth:`` is configured).

Where the key comes from, in order: ``x-plano-key``; ``Authorization: Bearer <key>`` (the
OpenAI SDKs); ``x-api-key`` (the Anthropic SDK). With ``x-plano-key`` the other two are left
alone: they are the client's own provider key, which ``passthrough_auth`` deployments
forward. A Plano key never goes upstream: for a ``passthrough_auth`` deployment the header
that carried it is removed from the upstream request.

On the request's head (before its body is read): a missing, malformed, unknown, revoked or
expired key is a 401 in the client's shape; the principal is set. On the parsed request: a
model the key may not use is a 403 (the name asked for, through what it resolves to); each
deployment routing then picks is checked too, so a pool, a rule or a fallback cannot reach
a model the key may not use (that deployment is skipped: ``DeploymentRefused``). Every
outcome is a :class:`~plano.pipeline.context.Decision` (``source: auth``) for the audit
trail; reasons never carry the key.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Mapping

from plano.errors import AuthenticationError, DeploymentRefused, PermissionDenied, PlanoError
from plano.filters.keys import KeyCache, KnownKey, ModelAccess, StaticKeys
from plano.pipeline.context import Decision, RequestContext
from plano.pipeline.filters import Filter
from plano.providers.codec import UpstreamRequest
from plano.providers.deployment import Deployment
from plano.store.keys import hash_key, is_dynamic_key
from plano.store.protocols import StoreUnavailable

__all__ = ["KEY_HEADER", "AuthFilter", "read_key"]

#: The header that carries only a Plano key (when Authorization / x-api-key carry the
#: client's own provider key for ``passthrough_auth``).
KEY_HEADER = "x-plano-key"
#: Longest key accepted (a dynamic key has 46 characters).
MAX_KEY = 512
_SOURCE = "auth"
_STATE = "auth"
_CLIENT_CREDENTIALS = ("authorization", "x-api-key")


class _Refusal(AuthenticationError):
    """A 401 with the rule that refused it (for the decision)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, code=_CODES.get(rule, "invalid_api_key"))
        self.rule = rule


_CODES = {"missing": "missing_api_key", "revoked": "revoked_api_key", "expired": "expired_api_key"}


def read_key(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """``(key, header it came in)``, ``None`` when no header carries one; raises a 401 for a
    value that cannot be a key (another scheme, ``Bearer`` alone, non-ASCII, too long)."""
    for name in (KEY_HEADER, "authorization", "x-api-key"):
        value = headers.get(name)
        if value is None:
            continue
        token = value.strip()
        if name == "authorization":
            scheme, _sep, rest = token.partition(" ")
            if scheme.lower() != "bearer":
                raise _Refusal("malformed", "The Authorization header must be 'Bearer <key>'.")
            token = rest.strip()
        if not token or len(token) > MAX_KEY or not token.isascii() or not token.isprintable():
            raise _Refusal("malformed", f"The {name} header does not hold a valid key.")
        if " " in token:
            raise _Refusal("malformed", f"The {name} header does not hold a valid key.")
        return token, name
    return None


class AuthFilter(Filter):
    """Virtual keys (see the module docstring). One per model listener and snapshot; the
    cache it reads through is the process's."""

    name = "auth"
    fail_closed = True
    rewrites_request = False

    def __init__(
        self,
        static: StaticKeys,
        cache: KeyCache,
        access: ModelAccess,
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.static = static
        self.cache = cache
        self.access = access
        self.ttl = ttl
        self._clock = clock

    async def on_headers(self, ctx: RequestContext) -> None:
        try:
            found = read_key(ctx.headers)
            if found is None:
                raise _Refusal(
                    "missing",
                    "This gateway needs an API key: send it as 'Authorization: Bearer <key>' "
                    "or 'x-api-key: <key>'.",
                )
            token, header = found
            known = await self._find(token)
            self._check(known)
        except _Refusal as refusal:
            ctx.decisions.append(Decision(_SOURCE, "deny", refusal.rule, refusal.message))
            raise
        except StoreUnavailable:  # a key this process never read, with the store down: 503
            ctx.decisions.append(Decision(_SOURCE, "error", "store_unavailable"))
            raise
        assert known is not None
        ctx.principal = known.principal
        ctx.state[_STATE] = header

    async def _find(self, token: str) -> KnownKey | None:
        digest = hash_key(token)
        known = self.static.by_digest.get(digest)
        if known is None and is_dynamic_key(token):  # only key-shaped tokens reach the store
            known = await self.cache.lookup(digest, self.ttl)
        return known

    def _check(self, known: KnownKey | None) -> None:
        if known is None:
            raise _Refusal("unknown", "The API key is not valid.")
        if known.revoked_at is not None:
            raise _Refusal("revoked", "The API key has been revoked.")
        expires = known.info.expires_at
        if expires is not None and self._clock() >= expires:
            raise _Refusal("expired", "The API key has expired.")

    async def on_request(self, ctx: RequestContext) -> None:
        key = ctx.principal.key
        if key is None:  # on_headers refused the request or never ran (not a model request)
            return
        requested = ctx.model_requested
        if not self.access.allows_name(key.models, requested):
            shown = requested if len(requested) <= 100 else requested[:100] + "..."
            err: PlanoError = PermissionDenied(
                f"This API key may not use the model '{shown}'.",
                code="model_not_allowed",
                param="model",
            )
            ctx.decisions.append(Decision(_SOURCE, "deny", "model_not_allowed", err.message))
            raise err
        agent = ctx.agent_id
        if agent is not None and key.agents and not _any_match(key.agents, agent):
            err = PermissionDenied(
                f"This API key may not call the agent '{agent}'.", code="agent_not_allowed"
            )
            ctx.decisions.append(Decision(_SOURCE, "deny", "agent_not_allowed", err.message))
            raise err
        ctx.decisions.append(Decision(_SOURCE, "allow"))

    async def on_upstream_request(
        self, ctx: RequestContext, dep: Deployment, request: UpstreamRequest
    ) -> None:
        key = ctx.principal.key
        if key is not None and not self.access.allows(key.models, dep):
            err = DeploymentRefused(
                f"This API key may not use the model '{dep.name}'.", code="model_not_allowed"
            )
            ctx.decisions.append(Decision(_SOURCE, "deny", "deployment_not_allowed", dep.key))
            raise err
        header = ctx.state.get(_STATE)
        if dep.passthrough_auth and header in _CLIENT_CREDENTIALS:
            # That header carried the Plano key: it must not reach the provider.
            request.headers.pop(header, None)


def _any_match(patterns: tuple[str, ...], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)
