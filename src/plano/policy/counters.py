"""Tool calls per session, for ``input.session.tool_calls`` (a policy entry with
``session_counters: true``).

Counted in the hot store's :class:`~plano.store.protocols.Counters` when the runtime gives
one (shared by every worker and, on Redis, every replica), else in this process (bounded,
least recently used dropped). A session is the ``x-plano-session-id`` a client sends, scoped
by the principal's tenant. The count grows by the calls an answer delivers to the client
(after strips); a store that cannot be reached gives ``None`` (the policy decides what an
unknown count means) and loses that answer's increment, logged.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from plano.store.protocols import Counters, StoreUnavailable

__all__ = ["SESSION_TTL", "SessionToolCalls"]

log = logging.getLogger("plano.policy")

#: A session's count is forgotten a day after its last tool call.
SESSION_TTL = 24 * 3600.0
_LOCAL_MAX = 100_000


class SessionToolCalls:
    def __init__(self, counters: Counters | None = None, ttl: float = SESSION_TTL) -> None:
        self.counters = counters
        self.ttl = ttl
        self._local: OrderedDict[str, int] = OrderedDict()

    @staticmethod
    def key(tenant: str | None, session: str) -> str:
        return f"policy:tool_calls:{tenant or ''}:{session}"

    async def get(self, tenant: str | None, session: str) -> int | None:
        key = self.key(tenant, session)
        if self.counters is None:
            return self._local.get(key, 0)
        try:
            used, _held = await self.counters.get(key)
        except StoreUnavailable as exc:
            log.warning("session tool-call count unavailable: %s", exc.message)
            return None
        return int(used)

    async def add(self, tenant: str | None, session: str, calls: int) -> None:
        if calls <= 0:
            return
        key = self.key(tenant, session)
        if self.counters is None:
            self._local[key] = self._local.get(key, 0) + calls
            self._local.move_to_end(key)
            while len(self._local) > _LOCAL_MAX:
                self._local.popitem(last=False)
            return
        try:
            await self.counters.add(key, float(calls), self.ttl)
        except StoreUnavailable as exc:
            log.warning("session tool-call count not updated: %s", exc.message)
