"""Who is publishing or subscribing: a managed agent (its ``PLANO_AGENT_TOKEN``), a virtual
key (``key:<id>``: a static one, or a stored one through ``lookup``), the admin key
(``admin``) or nobody (``anonymous``). Pure: the token lookup, the key table and the stored
key lookup are given. The topics API authenticates with these rules itself, not with the
model listener's auth filter (which knows neither agent tokens nor the admin key)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["Identities", "caller_token"]


def caller_token(headers: Mapping[str, str]) -> str | None:
    """``x-plano-key``, else ``Authorization: Bearer``; ``None`` for a token that is not
    ASCII (header bytes that are not UTF-8 arrive as surrogates: never a match, and the
    constant-time compares would fail encoding them)."""
    token = headers.get("x-plano-key")
    if not token:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    return token if token and token.isascii() else None


@dataclass(frozen=True, slots=True)
class Identities:
    #: An agent token -> the agent's id (``None``: not an agent's token).
    agent_for_token: Callable[[str], str | None] = lambda _token: None
    #: Static virtual keys (the ``auth.keys`` plaintext) -> their ids.
    keys: Mapping[str, str] = field(default_factory=dict)
    admin_key: str | None = None
    #: Key id -> when it stops working (``auth.keys[].expires``): past it, the key is nobody.
    expires: Mapping[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    #: A stored virtual key's id for a token (``None``: none, revoked or expired); only
    #: consulted for a token nothing above names.
    lookup: Callable[[str], Awaitable[str | None]] | None = None

    async def resolve(self, headers: Mapping[str, str]) -> str:
        """:meth:`who`, then a stored virtual key for a token nothing else names."""
        who = self.who(headers)
        if who != "anonymous" or self.lookup is None:
            return who
        token = caller_token(headers)
        if token is None:
            return who
        key_id = await self.lookup(token)
        return f"key:{key_id}" if key_id is not None else "anonymous"

    def who(self, headers: Mapping[str, str]) -> str:
        token = caller_token(headers)
        if token is None:
            return "anonymous"
        if self.admin_key is not None and hmac.compare_digest(
            token.encode(), self.admin_key.encode()
        ):
            return "admin"
        agent = self.agent_for_token(token)
        if agent is not None:
            return agent
        key_id = self.keys.get(token)
        if key_id is None:
            return "anonymous"
        until = self.expires.get(key_id)
        if until is not None and self.clock() >= until:
            return "anonymous"
        return f"key:{key_id}"
