"""Publish/subscribe over HTTP, on every model listener (where agents already send their LLM
calls: ``PLANO_URL``):

=====================================  ===================================================
``POST /v1/topics/{topic}``            publish the body (any bytes; JSON kept as JSON);
                                       202 ``{"id", "topic"}``
``GET /v1/topics/{topic}``             subscribe, as SSE: ``?group=`` (consumer group, at
                                       least once, ack or ``auto_ack=1``) or by offset
                                       (``Last-Event-ID`` / ``?after=``; ``after=0``: all)
``POST /v1/topics/{topic}/ack``        ``{"group", "ids": [...]}``
``GET /v1/topics/{topic}/messages``    ``?after=&limit=``: stored messages as JSON
=====================================  ===================================================

Who may publish or subscribe to what is ``pubsub.topics`` (``config/agent_run.py``); the
caller is a managed agent (its ``PLANO_AGENT_TOKEN``), a static key (``key:<id>``) or the
admin key. With ``auth:`` enabled, an unidentified caller gets 401. These routes authenticate
themselves (the gateway mounts them outside the model auth filter). docs/pubsub.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from plano.config import PlanoConfig
from plano.config.agent_run import PubSubSettings, topic_allowed
from plano.errors import (
    AuthenticationError,
    InvalidRequest,
    PayloadTooLarge,
    PermissionDenied,
    PlanoError,
    RateLimited,
    RequestTimeout,
)
from plano.filters.keys import KeyCache
from plano.pubsub.envelope import envelope, publish_headers, sse_event, valid_topic
from plano.pubsub.identity import Identities
from plano.pubsub.stream import Pump
from plano.server.admin import json_response
from plano.server.edge import error_response
from plano.store.keys import hash_key, is_dynamic_key
from plano.store.protocols import Topics

__all__ = ["TopicsAPI", "identities_for", "stored_key_lookup"]

#: Seconds between SSE heartbeats (a comment line: it finds clients that went away).
HEARTBEAT = 15.0
_POLL = 0.5
#: Push deliveries' default group is ``push:<agent id>`` (``pubsub/push.py``).
PUSH_GROUP_PREFIX = "push:"
#: Payload bytes one ``/messages`` page holds (at least one message): 1,000 messages of
#: ``max_message`` each would otherwise be one answer of a gigabyte.
MAX_PAGE_BYTES = 4 * 1024 * 1024
_PAGE_BATCH = 50
#: Most message ids one acknowledgement names (acknowledged in one store call).
MAX_ACK_IDS = 1000


def identities_for(
    config: PlanoConfig,
    agent_for_token: Callable[[str], str | None] | None,
    stored: KeyCache | None = None,
) -> Identities:
    """``stored``: the process's key cache, for virtual keys made through the admin API
    (consulted with ``auth:`` enabled)."""
    auth = config.auth
    keys = {k.key: k.id for k in auth.keys} if auth is not None else {}
    expires = {k.id: k.expires for k in auth.keys if k.expires is not None} if auth else {}
    lookup = None
    if stored is not None and auth is not None and auth.enabled:
        lookup = stored_key_lookup(stored, float(auth.cache_ttl))
    return Identities(
        agent_for_token or (lambda _t: None),
        keys,
        config.gateway.admin_key,
        expires=expires,
        lookup=lookup,
    )


def stored_key_lookup(
    cache: KeyCache, ttl: float, clock: Callable[[], float] = time.time
) -> Callable[[str], Awaitable[str | None]]:
    """A stored virtual key's id for a token, as the auth filter finds it (only key-shaped
    tokens reach the store; revoked and expired keys are nobody)."""

    async def lookup(token: str) -> str | None:
        if not is_dynamic_key(token):
            return None
        known = await cache.lookup(hash_key(token), ttl)
        if known is None or known.revoked_at is not None:
            return None
        expires = known.info.expires_at
        if expires is not None and clock() >= expires:
            return None
        return known.info.id

    return lookup


class TopicsAPI:
    def __init__(
        self,
        topics: Topics,
        settings: PubSubSettings | None,
        identities: Identities,
        *,
        auth_required: bool,
        draining: Callable[[], bool],
        body_timeout: float = 60.0,
        push_groups: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.topics = topics
        #: ``(topic, group)`` -> the agent whose push delivery consumes it: only that agent
        #: (or the admin) may read or acknowledge in it, or a subscriber could take its messages.
        self.push_groups = dict(push_groups or {})
        #: Longest wait for a publish or ack body (``gateway.body_timeout``): a client that
        #: sends its head and then trickles must not hold the connection for ever.
        self.body_timeout = body_timeout
        self.settings = settings
        self.identities = identities
        self.auth_required = auth_required
        self._draining = draining
        self.max_message = settings.max_message if settings is not None else 1_000_000
        defaults = PubSubSettings()
        self.max_groups = (settings or defaults).max_groups
        self.max_consumers = (settings or defaults).max_consumers
        #: Offset subscribers per topic, woken by this process's publishes.
        self._wakers: dict[str, set[asyncio.Event]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/topics/{topic}", self.publish),
            web.get("/v1/topics/{topic}", self.subscribe),
            web.post("/v1/topics/{topic}/ack", self.ack),
            web.get("/v1/topics/{topic}/messages", self.messages),
        ]

    async def _allow(self, request: web.Request, action: str) -> tuple[str, str]:
        topic = request.match_info["topic"]
        if not valid_topic(topic):
            raise InvalidRequest(
                "A topic name is 1-200 letters, digits and . _ - :", code="invalid_topic"
            )
        who = await self.identities.resolve(request.headers)
        if who == "anonymous" and self.auth_required:
            raise AuthenticationError(
                "Publishing and subscribing need an agent token or a key.", code="missing_key"
            )
        if not topic_allowed(self.settings, topic, action, who):
            raise PermissionDenied(
                f"{who} may not {action} to topic {topic!r} (pubsub.topics).",
                code="topic_not_allowed",
            )
        return topic, who

    async def publish(self, request: web.Request) -> web.Response:
        try:
            topic, who = await self._allow(request, "publish")
            body = await self._body(_read_message(request, self.max_message))
            headers = publish_headers(request.headers, who)
            msg_id = await self.topics.publish(topic, body, headers)
            for wake in self._wakers.get(topic, ()):
                wake.set()
        except PlanoError as err:  # StoreUnavailable too: a 503
            return error_response(request.path, err)
        return json_response({"id": msg_id, "topic": topic}, 202)

    async def ack(self, request: web.Request) -> web.Response:
        try:
            topic, who = await self._allow(request, "subscribe")
            body = _json_body(await self._body(request.read()))
            group, ids = body.get("group"), body.get("ids")
            if not isinstance(group, str) or not isinstance(ids, list):
                raise InvalidRequest('The body is {"group": "...", "ids": ["..."]}.')
            self._group_allowed(topic, group, who)
            if len(ids) > MAX_ACK_IDS:
                raise InvalidRequest(f"At most {MAX_ACK_IDS} ids per acknowledgement.")
            await self.topics.ack(topic, group, [str(i) for i in ids])  # one store call
        except PlanoError as err:
            return error_response(request.path, err)
        except (ValueError, OverflowError):  # not an id, or past the store's integers
            bad = InvalidRequest("A message id is not one of this store's ids.")
            return error_response(request.path, bad)
        return json_response({"acked": len(ids)})

    async def messages(self, request: web.Request) -> web.Response:
        try:
            topic, _who = await self._allow(request, "subscribe")
            after = _after(request.query.get("after"))
            limit = min(1000, max(1, int(request.query.get("limit", "100"))))
            found = await self._page(topic, after, limit)
        except PlanoError as err:
            return error_response(request.path, err)
        except (ValueError, OverflowError):
            bad = InvalidRequest("after and limit must be a message id and a number.")
            return error_response(request.path, bad)
        return json_response({"topic": topic, "messages": found})

    async def _page(self, topic: str, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` messages after ``after``, read from the store a few at a time and
        ending once :data:`MAX_PAGE_BYTES` of payload are in (at least one message)."""
        found: list[dict[str, Any]] = []
        size = 0
        while len(found) < limit:
            want = min(_PAGE_BATCH, limit - len(found))
            got = 0
            async for m in self.topics.replay(topic, after, want):
                found.append(envelope(m))
                size += len(m.payload)
                after, got = m.id, got + 1
                if size >= MAX_PAGE_BYTES:
                    return found  # the client asks again after the last id
            if got < want:
                break
        return found

    async def subscribe(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        group = q.get("group")
        offset = None if group else request.headers.get("last-event-id") or q.get("after")
        try:
            topic, who = await self._allow(request, "subscribe")
            consumer = q.get("consumer") or f"{who}-{uuid.uuid4().hex[:8]}"
            if group:
                self._group_allowed(topic, group, who)
                if not valid_topic(consumer):
                    raise InvalidRequest(
                        "A consumer name is 1-200 letters, digits and . _ - :",
                        code="invalid_group",
                    )
                await self._check_room(topic, group, consumer)
            await self._check_offset(topic, _after(offset))
        except PlanoError as err:
            return error_response(request.path, err)
        wake = asyncio.Event()
        pump = Pump(self.topics, topic, wake=wake)
        auto_ack = q.get("auto_ack", "") in ("1", "true")
        if group:
            pump.start_group(group, consumer)
        else:
            self._wakers.setdefault(topic, set()).add(wake)
            pump.start_tail(_after(offset), from_now=offset is None)
        resp = web.StreamResponse(
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await resp.prepare(request)
        try:
            await self._stream(resp, pump, topic, group if auto_ack else None)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            await pump.close()
            if group and "consumer" not in q:  # a made-up name: nobody comes back as it
                with contextlib.suppress(Exception):
                    await self.topics.release(topic, group, consumer)
            waiting = self._wakers.get(topic)
            if waiting is not None:
                waiting.discard(wake)
                if not waiting:
                    del self._wakers[topic]
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        return resp

    async def _check_room(self, topic: str, group: str, consumer: str) -> None:
        """A 429 for a subscription that would make one group or consumer more than
        ``pubsub.max_groups`` / ``max_consumers`` (each lives in the store until removed)."""
        members = await self.topics.members(topic)
        consumers = members.get(group)
        if consumers is None:
            if len(members) >= self.max_groups:
                raise RateLimited(
                    f"Topic {topic!r} has {len(members)} consumer groups, the most allowed "
                    "(pubsub.max_groups); join an existing group.",
                    code="too_many_groups",
                )
        elif consumer not in consumers and len(consumers) >= self.max_consumers:
            raise RateLimited(
                f"Group {group!r} has {len(consumers)} consumers, the most allowed "
                "(pubsub.max_consumers); reuse a consumer name.",
                code="too_many_consumers",
            )

    def _group_allowed(self, topic: str, group: str, who: str) -> None:
        if not valid_topic(group):  # stored by the backend: a bounded name, like a topic's
            raise InvalidRequest(
                "A group name is 1-200 letters, digits and . _ - :", code="invalid_group"
            )
        owner = self.push_groups.get((topic, group))
        if owner is None and group.startswith(PUSH_GROUP_PREFIX):
            owner = group[len(PUSH_GROUP_PREFIX) :]  # the plane's own prefix, reserved
        if owner is not None and who not in (owner, "admin"):
            raise PermissionDenied(
                f"The group {group[:100]!r} is the push delivery of agent {owner[:100]!r}.",
                code="group_reserved",
            )

    async def _body(self, reading: Awaitable[bytes]) -> bytes:
        try:
            async with asyncio.timeout(self.body_timeout):
                return await reading
        except TimeoutError:
            raise RequestTimeout(
                "The request body was not received in time.", code="body_timeout"
            ) from None

    async def _check_offset(self, topic: str, after: str | None) -> None:
        """A 400 now for an offset the store would refuse (not an id, or past its integers),
        rather than a stream that starts and ends at once."""
        if after is None:
            return
        try:
            async for _msg in self.topics.replay(topic, after, 1):
                break
        except (ValueError, OverflowError):
            raise InvalidRequest(
                "Last-Event-ID and after must be a message id of this topic.", param="after"
            ) from None

    async def _stream(
        self, resp: web.StreamResponse, pump: Pump, topic: str, ack_group: str | None
    ) -> None:
        await resp.write(b": subscribed\n\n")  # headers out: the client knows it is live
        quiet = 0.0
        while not self._draining():
            try:
                msg = await asyncio.wait_for(pump.queue.get(), _POLL)
            except TimeoutError:
                quiet += _POLL
                if quiet >= HEARTBEAT:
                    quiet = 0.0
                    await resp.write(b": ping\n\n")
                continue
            if msg is None:  # the store went away: the client subscribes again
                await resp.write(b'event: error\ndata: {"error": "store unavailable"}\n\n')
                return
            quiet = 0.0
            await resp.write(sse_event(msg))
            if ack_group is not None:
                await self.topics.ack(topic, ack_group, [msg.id])


async def _read_message(request: web.Request, limit: int) -> bytes:
    """The whole body, refused past ``limit`` bytes (``content.read(n)`` would return only
    what has arrived so far: the start of a message sent in pieces)."""
    too_large = PayloadTooLarge(f"Messages are limited to {limit} bytes.")
    if (request.content_length or 0) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _after(value: str | None) -> str | None:
    """``None`` and ``0`` both mean "from the oldest kept"."""
    return None if value in (None, "", "0") else value


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("The body is not JSON.") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body
