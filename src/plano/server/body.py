"""Request bodies: read them within limits, parse them off the event loop when they are big.

Every endpoint that takes a JSON body (the model endpoints, count_tokens, the routing
decision) reads it here, so the same limits hold everywhere: the body size (413), the time a
client may take to send it (408), and a budget of bytes being received across all requests
(503), since an in-flight slot is only taken once a body is in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from plano.core.model import ChatRequest, text_size
from plano.errors import InvalidRequest, Overloaded, PayloadTooLarge, RequestTimeout
from plano.wire.shapes import ClientShape

__all__ = ["BIG_BODY", "BodyReader", "parse_body"]

#: Bodies from this size on are parsed (and big requests encoded) off the event loop.
BIG_BODY = 1024 * 1024


@dataclass(slots=True)
class BodyReader:
    max_body: int = 10 * 1024 * 1024
    timeout: float = 60.0
    #: Bytes that bodies being received may hold at once, across all requests.
    budget: int = 512 * 1024 * 1024
    #: Bytes reserved by the bodies being read now.
    reading: int = 0

    async def read(self, request: web.Request) -> bytes:
        limit = self.max_body
        length = request.content_length
        if length is not None and length > limit:
            raise PayloadTooLarge(
                f"The request body is larger than the limit of {limit} bytes.",
                code="request_too_large",
            )
        need = length if length is not None else limit  # chunked: the most it may be
        if self.reading + need > self.budget:
            raise Overloaded(
                "The gateway is receiving too many request bodies at once; retry soon.",
                code="body_budget",
            )
        self.reading += need
        try:
            if request.content.is_eof():  # it all came with the head: nothing to wait for
                raw = await request.read()
            else:
                async with asyncio.timeout(self.timeout):
                    raw = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise PayloadTooLarge(
                f"The request body is larger than the limit of {limit} bytes.",
                code="request_too_large",
            ) from exc
        except TimeoutError as exc:
            raise RequestTimeout(
                "The request body was not received in time.", code="body_timeout"
            ) from exc
        finally:
            self.reading -= need
        if not raw:
            raise InvalidRequest("The request body is empty; expected a JSON object.")
        return raw


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON: {exc.args[0] if exc.args else exc}.",
            code="invalid_json",
        ) from exc


def _parse(shape: ClientShape, raw: bytes) -> ChatRequest:
    req = shape.parse_request(_loads(raw))
    req.raw_body = raw
    if len(raw) >= BIG_BODY:
        text_size(req)  # measured here, in the parsing thread, rather than on the loop
    return req


async def parse_body(shape: ClientShape, raw: bytes) -> ChatRequest:
    """The canonical request of a body in ``shape``; a body of :data:`BIG_BODY` or more is
    parsed in a thread (tens of ms of pure Python for a 10 MB prompt: in a thread the event
    loop keeps getting the interpreter every few ms, the GIL's switch interval)."""
    if len(raw) < BIG_BODY:
        return _parse(shape, raw)
    return await asyncio.get_running_loop().run_in_executor(None, _parse, shape, raw)
