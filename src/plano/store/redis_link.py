"""One Redis client per store: a bounded connection pool, short timeouts, and a gate that
fails fast while the server is down.

* ``redis://`` and ``rediss://`` (TLS) URLs; options the URL carries (``?ssl_cert_reqs=none``,
  ``ssl_ca_certs=...``, ``socket_timeout=...``) win over the defaults here.
* Request-path commands use a pool of ``max_connections`` with a ``socket_timeout`` (default
  1 s) and a connect timeout (0.5 s): an unreachable server costs at most that, never a hang.
  A connection that broke (the server restarted) is retried once at once, on a new connection;
  a timeout is not retried (the command may have run).
* After a connection failure the gate closes for a backoff (50 ms doubling to 2 s): calls in
  that time raise :class:`StoreUnavailable` without touching the network; the first call after
  it tries again, and its success reopens the gate. Nothing is rebuilt: the pool reconnects on
  its own.
* Blocking reads (a subscription's ``XREADGROUP BLOCK``) use a second pool whose read timeout
  exceeds the longest block, so they neither starve nor time out the request path.

Every Redis error becomes :class:`StoreUnavailable` (``raise ... from exc``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from plano.store.protocols import StoreUnavailable

__all__ = ["MAX_BLOCK", "RedisLink"]

T = TypeVar("T")
log = logging.getLogger("plano.store")

#: The longest single blocking read (seconds); a subscription loops over such reads.
MAX_BLOCK = 5.0
_BACKOFF_FIRST = 0.05
_BACKOFF_CAP = 2.0


class RedisLink:
    """The clients of one store and the fail-fast gate in front of them."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        socket_timeout: float = 1.0,
        connect_timeout: float = 0.5,
        max_connections: int = 64,
    ) -> None:
        if not url.startswith(("redis://", "rediss://")):
            raise ValueError(f"not a redis:// or rediss:// URL: {url!r}")
        self.url = url
        self.prefix = prefix
        retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        common = {"socket_connect_timeout": connect_timeout, "retry": retry}
        self.client = Redis.from_pool(
            BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=socket_timeout,
                socket_timeout=socket_timeout,
                **common,
            )
        )
        self.blocking = Redis.from_pool(
            ConnectionPool.from_url(url, socket_timeout=MAX_BLOCK + socket_timeout + 1.0, **common)
        )
        self._failures = 0
        self._closed_until = 0.0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _check(self) -> None:
        if self._closed:
            raise StoreUnavailable("the Redis store is closed")
        if time.monotonic() < self._closed_until:
            raise StoreUnavailable(f"Redis at {self._where()} is unavailable (retrying soon)")

    def _where(self) -> str:
        rest = self.url.split("://", 1)[1]
        return rest.rsplit("@", 1)[-1].split("/", 1)[0]  # no credentials in messages

    def _trip(self, exc: BaseException) -> None:
        self._failures += 1
        delay = min(_BACKOFF_CAP, _BACKOFF_FIRST * 2 ** (self._failures - 1))
        self._closed_until = time.monotonic() + delay * random.uniform(0.8, 1.2)
        if self._failures == 1:
            log.warning("Redis at %s unavailable: %s", self._where(), exc)

    async def call(self, fn: Callable[[Redis], Awaitable[T]], *, blocking: bool = False) -> T:
        """``await fn(client)``, with the gate, and Redis errors mapped."""
        self._check()
        try:
            result = await fn(self.blocking if blocking else self.client)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            if self._closed:
                raise StoreUnavailable("the Redis store is closed") from exc
            self._trip(exc)
            raise StoreUnavailable(f"Redis at {self._where()} unavailable: {exc}") from exc
        except RedisError as exc:
            raise StoreUnavailable(f"Redis at {self._where()} answered an error: {exc}") from exc
        if self._failures:
            log.info("Redis at %s is back", self._where())
            self._failures = 0
        return result

    async def close(self) -> None:
        self._closed = True
        await self.client.aclose()
        await self.blocking.aclose()
