"""OTLP export: the two transports of a serialized ``ExportTraceServiceRequest``
(``otlp_wire.py`` writes it in the tracer's background batch, on its own thread).

:class:`GrpcExporter` sends over OTLP/gRPC (grpcio's
asyncio channel, opened in the worker on first use); :class:`HttpExporter` posts protobuf
over OTLP/HTTP on one pooled aiohttp session. Neither runs on a request's task; a failed
export drops its batch (counted, logged at most every 30 s), as OpenTelemetry's batch span
processor does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

__all__ = ["EXPORT_METHOD", "Exporter", "GrpcExporter", "HttpExporter"]

log = logging.getLogger("plano.tracing")

#: The OTLP/gRPC method every collector serves.
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_LOG_EVERY = 30.0


class Exporter(Protocol):
    """One way out to a collector: ``payload`` is a serialized ExportTraceServiceRequest."""

    name: str

    async def export(self, payload: bytes, spans: int) -> bool: ...

    def stats(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class _Counts:
    def __init__(self, name: str, target: str) -> None:
        self.name = name
        self.target = target
        self.exported = 0
        self.failed = 0
        self.last_error: str | None = None
        self._logged = -1e18

    def ok(self, spans: int) -> bool:
        self.exported += spans
        return True

    def fail(self, spans: int, why: str) -> bool:
        self.failed += spans
        self.last_error = why
        now = time.monotonic()
        if now - self._logged >= _LOG_EVERY:
            self._logged = now
            log.warning(
                "trace export to %s failed (%s); %d span(s) dropped so far",
                self.target,
                why,
                self.failed,
            )
        return False

    def stats(self) -> dict[str, Any]:
        return {
            "exporter": self.name,
            "endpoint": self.target,
            "exported_spans": self.exported,
            "failed_spans": self.failed,
            "last_error": self.last_error,
        }


def _target(url: str) -> str:
    """An endpoint as it may be shown (no credentials, no query)."""
    p = urlsplit(url)
    return f"{p.scheme}://{p.hostname}{f':{p.port}' if p.port else ''}{p.path}"


class GrpcExporter:
    """OTLP/gRPC: ``http://host:port`` (plaintext) or ``https://`` (TLS). grpcio's blocking
    channel on a thread of its own: gRPC never runs on (or polls beside) the event loop, and
    the call waits with the GIL released. The channel is made in the worker, on first use."""

    name = "otlp_grpc"

    def __init__(self, endpoint: str, headers: Mapping[str, str], timeout: float) -> None:
        p = urlsplit(endpoint)
        self._secure = p.scheme == "https"
        self._address = f"{p.hostname}:{p.port or (443 if self._secure else 4317)}"
        self._metadata = tuple((k.lower(), v) for k, v in headers.items())
        self._timeout = timeout
        self._channel: Any = None
        self._call: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._counts = _Counts(self.name, _target(endpoint))

    def _open(self) -> Any:
        import grpc

        if self._secure:
            creds = grpc.ssl_channel_credentials()
            self._channel = grpc.secure_channel(self._address, creds)
        else:
            self._channel = grpc.insecure_channel(self._address)
        self._call = self._channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=_identity,
            response_deserializer=_identity,  # nothing in the answer is used
        )
        return self._call

    def _send(self, payload: bytes) -> str | None:
        """On the exporter's thread: the failure's name, or ``None``."""
        import grpc

        call = self._call or self._open()
        try:
            call(payload, timeout=self._timeout, metadata=self._metadata or None)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            return code.name if code is not None else type(exc).__name__
        return None

    async def export(self, payload: bytes, spans: int) -> bool:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="plano-otlp-grpc")
        loop = asyncio.get_running_loop()
        try:
            failed = await loop.run_in_executor(self._pool, self._send, payload)
        except (TimeoutError, OSError) as exc:
            failed = type(exc).__name__
        if failed is not None:
            return self._counts.fail(spans, failed)
        return self._counts.ok(spans)

    def stats(self) -> dict[str, Any]:
        return self._counts.stats()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.get_running_loop().run_in_executor(pool, self._close_channel)
            pool.shutdown(wait=False)

    def _close_channel(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = self._call = None


def _identity(payload: bytes) -> bytes:
    return payload


class HttpExporter:
    """OTLP/HTTP with protobuf bodies, on one pooled session for the process."""

    name = "otlp_http"

    def __init__(self, url: str, headers: Mapping[str, str], timeout: float) -> None:
        self._url = url
        self._headers = {**headers, "content-type": "application/x-protobuf"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._counts = _Counts(self.name, _target(url))

    async def export(self, payload: bytes, spans: int) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(
                self._url, data=payload, headers=self._headers, allow_redirects=False
            ) as resp:
                await resp.read()
                if resp.status >= 300:
                    return self._counts.fail(spans, f"HTTP {resp.status}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return self._counts.fail(spans, type(exc).__name__)
        return self._counts.ok(spans)

    def stats(self) -> dict[str, Any]:
        return self._counts.stats()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
