"""What a provider and a client can make the gateway do with the provider key, end to end:
the gateway (non-stream ``call_once`` and stream ``relay_stream`` paths) in front of stub
upstreams on 127.0.0.1. A key echoed in an error is scrubbed in every client shape, a redirect
is never followed, and a client's model name cannot steer the upstream URL or a header."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace as NS
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from plano.core.redact import PLACEHOLDER, SecretScrubber
from plano.pipeline.filters import FilterChain
from plano.providers.transport import Timeouts, UpstreamPool
from plano.routing.catalog import ModelCatalog
from plano.server.gateway import Gateway, GatewaySettings

KEY = "plano-test-Key-0042-configured"
SHAPED_KEY = "sk-proj-" + "Zz9" * 12  # the client's own key, unknown to the config


@dataclass
class Upstream:
    """Records every request; answers with ``status``/``body``/``headers``."""

    url: str = ""
    seen: list[str] = field(default_factory=list)
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    redirect_to: str | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request.path_qs)
        if self.redirect_to is not None:
            return web.Response(status=307, headers={"location": self.redirect_to})
        return web.Response(
            status=self.status,
            body=self.body,
            headers={"content-type": "application/json", **self.headers},
        )


async def _serve(app: web.Application, runners: list[web.AppRunner]) -> str:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, shutdown_timeout=0.1)
    await site.start()
    runners.append(runner)
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


@dataclass
class Env:
    gateway_url: str
    upstream: Upstream
    other: Upstream  # where a redirect points; must never see a request
    client: aiohttp.ClientSession

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        async with self.client.post(self.gateway_url + path, data=orjson.dumps(body)) as resp:
            return resp.status, await resp.read()


def _entry(model: str, base_url: str, **kw: Any) -> NS:
    provider, model_id = model.split("/", 1)
    fields = {
        "model": model,
        "provider": provider,
        "model_id": model_id,
        "is_wildcard": model_id == "*",
        "name": None,
        "access_key": KEY,
        "default": False,
        "base_url": base_url,
        "passthrough_auth": False,
        "headers": {},
        "provider_interface": None,
    }
    return NS(**{**fields, **kw})


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    runners: list[web.AppRunner] = []
    upstream, other = Upstream(), Upstream()
    for stub in (upstream, other):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", stub.handle)
        stub.url = await _serve(app, runners)
    catalog = ModelCatalog(
        [
            _entry("openai/gpt-4o-mini", upstream.url, default=True),
            _entry("openai/*", upstream.url),
            _entry("gemini/*", upstream.url),
            _entry("anthropic/claude", upstream.url),
        ]
    )
    pool = UpstreamPool(
        Timeouts(connect=1.0, first_byte=2.0), scrubber=SecretScrubber.from_catalog(catalog)
    )
    gw = Gateway(GatewaySettings(), catalog, pool, FilterChain([]))
    url = await _serve(gw.app(), runners)
    async with aiohttp.ClientSession() as client:
        yield Env(url, upstream, other, client)
    for r in reversed(runners):
        await r.cleanup()


CHAT, MESSAGES = "/v1/chat/completions", "/v1/messages"
HI = [{"role": "user", "content": "hi"}]


def _body(path: str, model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": HI, "stream": stream}
    if path == MESSAGES:
        body["max_tokens"] = 16
    return body


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("path", "model"), [(CHAT, "gpt-4o-mini"), (MESSAGES, "anthropic/claude")])
async def test_a_key_echoed_in_a_provider_error_never_reaches_the_client(
    env: Env, path: str, model: str, stream: bool
) -> None:
    env.upstream.status = 401
    message = f"Incorrect API key provided: {KEY}. Also tried Bearer {SHAPED_KEY}."
    if model.startswith("anthropic"):
        error = {"type": "error", "error": {"type": "authentication_error", "message": message}}
    else:
        error = {"error": {"message": message, "type": "invalid_request_error", "code": KEY}}
    env.upstream.body = orjson.dumps(error)
    status, raw = await env.post(path, _body(path, model, stream))
    assert status == 401
    assert KEY.encode() not in raw
    assert SHAPED_KEY.encode() not in raw
    assert PLACEHOLDER.encode() in raw
    assert b"Incorrect API key provided" in raw  # the rest of the message is kept


@pytest.mark.parametrize("stream", [False, True])
async def test_a_redirect_is_answered_502_and_never_followed(env: Env, stream: bool) -> None:
    env.upstream.redirect_to = env.other.url + "/steal"
    status, raw = await env.post(CHAT, _body(CHAT, "gpt-4o-mini", stream))
    assert status == 502
    assert orjson.loads(raw)["error"]["message"] == (
        "The provider 'openai' answered with a redirect (HTTP 307), which Plano does not follow."
    )
    assert env.upstream.seen == ["/v1/chat/completions"]
    assert env.other.seen == []


@pytest.mark.parametrize("stream", [False, True])
async def test_an_oversized_upstream_header_is_a_clear_502(env: Env, stream: bool) -> None:
    env.upstream.headers = {"x-huge": "h" * 100_000}
    status, raw = await env.post(CHAT, _body(CHAT, "gpt-4o-mini", stream))
    assert status == 502
    assert "response header longer than" in orjson.loads(raw)["error"]["message"]


@pytest.mark.parametrize(
    "model",
    [
        "gemini//internal/admin?x=",
        "gemini/../../v1beta/files",
        "gemini/x#y",
        "openai/evil\r\nX-Injected: 1",
        "gpt-4o-mini\nX-Injected: 1",
    ],
)
async def test_a_bad_model_name_is_a_400_before_any_upstream_call(env: Env, model: str) -> None:
    status, raw = await env.post(CHAT, _body(CHAT, model, False))
    assert status == 400
    err = orjson.loads(raw)["error"]
    assert (err["code"], err["param"]) == ("invalid_model", "model")
    assert env.upstream.seen == []


async def test_a_huge_model_name_gets_a_short_answer(env: Env) -> None:
    status, raw = await env.post(CHAT, _body(CHAT, "m" * 1_000_000, False))
    assert status == 400
    assert len(raw) < 1000
    assert env.upstream.seen == []


async def test_a_real_model_id_under_a_wildcard_reaches_the_provider(env: Env) -> None:
    env.upstream.status = 404
    env.upstream.body = b'{"error":{"message":"no such model"}}'
    status, _ = await env.post(CHAT, _body(CHAT, "openai/ft:gpt-4o-mini:org::abc123", False))
    assert status == 404
    assert env.upstream.seen == ["/v1/chat/completions"]
