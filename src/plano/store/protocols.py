"""The narrow contracts of shared state: one protocol per kind of state.

Every protocol has an embedded backend (memory for one process; SQLite, one WAL file under
``.plano/``, shared by the workers of one host) and a server backend (Redis for hot state,
PostgreSQL for durable records). Callers depend on these protocols only; which backend serves
them is decided once, from the config (``plano.server.state_setup`` turns it into the plain
settings :mod:`plano.store.setup` opens). A contract test suite runs every backend through the
same cases.

Kinds::

    Counters    atomic numbers: budget reservations (reserve / settle / release, all keys or
                none) and sliding windows (rate limits; several in one call)
                                                                    memory | sqlite | redis
    KeyValue    small values with a time to live (session pins, shared routing health)
                                                                    memory | sqlite | redis
    Topics      publish / subscribe, at least once, acknowledged, replayable from an offset
                                                                    memory | sqlite | redis
    UsageLog    the ledger's durable records, queryable              sqlite | postgres
    ResponseStore (plano.state.store)  Responses API conversations   memory | sqlite | postgres

Failures: a backend that cannot reach its server raises :class:`StoreUnavailable`; callers on
the request path decide whether that fails open or closed (a budget fails closed, a pin is
just forgotten). Writes that may wait (usage records) go through a batching writer with a
bounded queue, never on the request's task.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from plano.errors import PlanoError

__all__ = [
    "Counters",
    "KeyValue",
    "Message",
    "Reservation",
    "StoreUnavailable",
    "Topics",
    "UsageLog",
    "UsagePage",
    "UsageQuery",
    "WindowDecision",
]


class StoreUnavailable(PlanoError):
    """A state backend could not be reached or answered an error (Redis or PostgreSQL down)."""

    status = 503
    metric_label = "store_unavailable"
    error_type = "overloaded_error"


# ---------------------------------------------------------------- counters


@dataclass(frozen=True, slots=True)
class Reservation:
    """Amounts held against limits until settled or released. ``expires_at`` (epoch seconds)
    bounds a reservation whose holder died: the backend releases it by then."""

    id: str
    amounts: Mapping[str, float]
    expires_at: float


@dataclass(frozen=True, slots=True)
class WindowDecision:
    """A sliding-window rate-limit check: whether ``amount`` was admitted, what is left in the
    window after it (``remaining``), and when to retry when refused (seconds)."""

    allowed: bool
    count: float
    remaining: float
    retry_after: float


class Counters(Protocol):
    async def reserve(
        self, amounts: Mapping[str, float], limits: Mapping[str, float], ttl: float = 600.0
    ) -> Reservation | None:
        """Atomically, for every key: ``used + held + amount <= limit``; if all hold, hold the
        amounts and return the reservation, else hold nothing and return ``None``. Keys
        without a limit are held without a check. ``ttl`` bounds the hold (a crashed worker
        must not keep a budget reserved for ever)."""
        ...

    async def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        """Turn the hold into spend: each key's used amount grows by ``actual[key]`` (which
        may be more or less than held; a key missing from ``actual`` spends 0) and the hold
        goes away. Idempotent per reservation id (the id is remembered for an hour past its
        expiry). A settle that comes after the hold expired still spends."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Drop the hold without spending. Idempotent per reservation id; a settle after a
        release (or a release after a settle) is a no-op."""
        ...

    async def add(self, key: str, amount: float, ttl: float | None = None) -> float:
        """Spend without a reservation (unconditional); returns the new used amount. ``ttl``
        (seconds) expires the key, e.g. at the end of a budget period."""
        ...

    async def get(self, key: str) -> tuple[float, float]:
        """``(used, held)`` of ``key`` (0, 0 when unknown)."""
        ...

    async def window(self, key: str, amount: float, limit: float, window: float) -> WindowDecision:
        """Sliding-window admission: admit ``amount`` if the amounts admitted under ``key``
        in the last ``window`` seconds plus ``amount`` stay within ``limit`` (an
        approximation such as two weighted fixed windows is fine; document its error)."""
        ...

    async def windows(
        self, checks: Sequence[tuple[str, float, float, float]]
    ) -> list[WindowDecision]:
        """Several :meth:`window` checks ``(key, amount, limit, window)`` in one operation
        (one round trip, one transaction), at one instant, each decided on its own in order
        (not all or nothing: one refused does not undo the others)."""
        ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- key-value


class KeyValue(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The keys that exist, with their values (one round trip on a server backend)."""
        ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def scan(self, prefix: str, limit: int = 1000) -> dict[str, bytes]:
        """Keys starting with ``prefix`` (at most ``limit``), for admin views and syncing."""
        ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- topics


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    #: Ordered within the topic; ``replay`` starts after a given id.
    id: str
    payload: bytes
    #: Times this message was delivered to the group (1 on first delivery).
    deliveries: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)


class Topics(Protocol):
    async def publish(
        self, topic: str, payload: bytes, headers: Mapping[str, str] | None = None
    ) -> str:
        """Append a message; returns its id."""
        ...

    def subscribe(
        self, topic: str, group: str, consumer: str, *, block: float = 5.0
    ) -> AsyncIterator[Message]:
        """Messages of ``topic`` for consumer group ``group``: each message goes to one
        consumer of the group, at least once (a message not acknowledged within the
        backend's visibility timeout is delivered again, ``deliveries`` counts up). A new
        group starts at the end of the topic as it is at the subscription's first poll (the
        first ``__anext__``); use :meth:`replay` for history. The iterator runs until the
        consumer stops iterating or the store closes; ``block`` is the longest one wait on
        the server lasts. A server backend that goes away raises :class:`StoreUnavailable`
        from the iterator: subscribe again."""
        ...

    async def ack(self, topic: str, group: str, ids: Sequence[str]) -> None:
        """Acknowledge ``ids`` in ``group`` (one store call for all of them); an id that is
        not pending is ignored, one that is not an id of this backend raises ValueError."""
        ...

    async def last_id(self, topic: str) -> str | None:
        """The newest message's id (``None``: the topic is empty): where "from now" starts.
        One small read, whatever the topic holds."""
        ...

    async def members(self, topic: str) -> dict[str, frozenset[str]]:
        """The topic's consumer groups, each with the names of its consumers (the API bounds
        how many a client may create)."""
        ...

    async def release(self, topic: str, group: str, consumer: str) -> bool:
        """Forget ``consumer`` of ``group`` when it holds no pending message (a subscription
        with a made-up consumer name ended); whether it is gone."""
        ...

    def replay(
        self, topic: str, after: str | None = None, limit: int = 1000
    ) -> AsyncIterator[Message]:
        """Messages after ``after`` (from the oldest kept when ``None``), in order, without
        changing any group's position."""
        ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- the usage log


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Filters and paging for usage records; every field is optional."""

    since: float | None = None
    until: float | None = None
    provider: str | None = None
    model: str | None = None
    principal: str | None = None
    session: str | None = None
    #: Cost attribution: the virtual key's id, its user, team and tenant, the agent, the
    #: route, the trace.
    key_id: str | None = None
    user_id: str | None = None
    team: str | None = None
    tenant: str | None = None
    agent: str | None = None
    route: str | None = None
    trace_id: str | None = None
    status_min: int | None = None
    #: Newest first; continue from the ``next`` cursor of the previous page.
    cursor: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class UsagePage:
    records: list[dict[str, Any]]
    next: str | None


@runtime_checkable
class UsageLog(Protocol):
    """The ledger's durable records (a record is ``UsageRecord.to_json()``: request id, ts,
    shape, requested and answering model, provider, status, tokens by kind, cost as a decimal
    string, timings, attempts, error label, principal; later issues add columns)."""

    async def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Store a batch (one transaction); a record whose request id is already stored is
        ignored (a retried batch must not count twice)."""
        ...

    async def find(self, request_id: str) -> dict[str, Any] | None: ...

    async def query(self, q: UsageQuery) -> UsagePage: ...

    async def totals(self, q: UsageQuery, by: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Sums (requests, errors, tokens by kind, cost) over the records ``q`` selects,
        grouped by the given columns (``provider``, ``model``, ``principal``, ``day``...);
        one row without grouping. Exact: cost summed as decimals."""
        ...

    async def close(self) -> None: ...
