"""The gateway in-process: answers, streams, upstream failures, limits, admin, secrets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from tests.server.support import (
    CHAT,
    DONE,
    FINISH,
    FIXTURE_BYTES,
    GW,
    MESSAGES,
    ROLE,
    SECRET,
    TEXT,
    USAGE,
    GatewayFactory,
    Stub,
    error_of,
    free_port,
    post,
    sse,
    sse_data,
)

from plano.accounting.filter import AccountingFilter
from plano.accounting.pricing import PriceBook
from plano.core.model import Usage
from plano.providers.transport import Timeouts
from plano.server.gateway import GatewaySettings

# ---------------------------------------------------------------- answers


async def test_non_stream_is_passed_through_byte_for_byte(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    status, headers, body = await post(
        client, gw.url, {"model": "fast", "messages": MESSAGES, "seed": 7, "store": False}
    )
    assert status == 200
    assert body == FIXTURE_BYTES
    assert headers["Content-Type"].startswith("application/json")
    ((up_headers, up_body),) = stub.seen
    assert up_body == {"model": "gpt-4o-mini", "messages": MESSAGES, "seed": 7, "store": False}
    assert up_headers["Authorization"] == f"Bearer {SECRET}"
    assert headers["x-request-id"].startswith("req_")
    assert headers["x-plano-provider"] == "openai"
    assert headers["x-plano-model"] == "gpt-4o-2024-08-06"  # the model that answered
    assert headers["x-plano-attempts"] == "1"
    assert 0.0 <= float(headers["x-plano-overhead-ms"]) < 1000


async def test_client_request_id_is_echoed_and_recorded(
    gw: GW, client: aiohttp.ClientSession
) -> None:
    body = {"model": "fast", "messages": MESSAGES}
    _, headers, _ = await post(client, gw.url, body, headers={"x-request-id": "trace-abc-123"})
    assert headers["x-request-id"] == "trace-abc-123"
    ours = headers["x-plano-request-id"]
    assert ours.startswith("req_")
    _, headers, _ = await post(client, gw.url, body, headers={"x-request-id": "x" * 129})
    # An unreasonable id is not kept: the answer carries ours on both headers.
    assert headers["x-request-id"] == headers["x-plano-request-id"]
    assert headers["x-request-id"].startswith("req_")
    recs = await gw.record(2)
    assert recs[0].request_id == ours and recs[0].client_request_id == "trace-abc-123"
    assert recs[1].client_request_id is None
    async with client.get(f"{gw.url}/plano/v1/requests/trace-abc-123") as resp:
        assert (await resp.json())["request_id"] == ours  # found by the client's id too


async def test_stream_drops_the_usage_chunk_the_client_did_not_ask_for(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    status, headers, raw = await post(
        client, gw.url, {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["x-plano-model"] == "gpt-4o-mini"
    # Plano asked the upstream for usage so it can bill...
    assert stub.seen[0][1]["stream_options"] == {"include_usage": True}
    # ...and relays every other event untouched.
    assert raw == ROLE + b"".join(TEXT) + FINISH + DONE
    (rec,) = await gw.record()
    assert rec.usage == Usage(5, 3)
    assert rec.stream and rec.status == 200
    assert rec.ttft_ms is not None


async def test_stream_keeps_the_usage_chunk_when_asked(
    gw: GW, client: aiohttp.ClientSession
) -> None:
    body = {
        "model": "fast",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    status, _, raw = await post(client, gw.url, body)
    assert status == 200
    assert raw == ROLE + b"".join(TEXT) + FINISH + USAGE + DONE


async def test_stream_without_usage_is_estimated(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    async def no_usage(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return await sse(request, [ROLE, *TEXT, FINISH, DONE])

    stub.handler = no_usage
    status, _, _ = await post(
        client, gw.url, {"model": "fast", "messages": MESSAGES, "stream": True}
    )
    assert status == 200
    (rec,) = await gw.record()
    assert rec.usage is not None and rec.usage.estimated
    assert rec.usage.output_tokens == len("Hello world") // 4  # the counter is not loaded


@pytest.mark.parametrize("how", ["clean_end", "abort"])
async def test_stream_cut_by_the_upstream_ends_with_an_error_event(
    gw: GW, stub: Stub, client: aiohttp.ClientSession, how: str
) -> None:
    async def cut(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        resp = await sse(request, [ROLE, TEXT[0]])
        if how == "abort":
            await asyncio.sleep(0.05)
            assert request.transport is not None
            request.transport.close()  # mid-body: the chunked encoding never ends
        return resp

    stub.handler = cut
    status, _, raw = await post(
        client, gw.url, {"model": "fast", "messages": MESSAGES, "stream": True}
    )
    assert status == 200
    assert raw.startswith(ROLE + TEXT[0])
    events = sse_data(raw)
    assert "[DONE]" not in events
    err = orjson.loads(events[-1])["error"]
    assert err["type"] == "api_error"
    assert "provider 'openai'" in err["message"]
    (rec,) = await gw.record()
    assert rec.status == 502
    assert rec.error == "upstream_protocol"


async def test_stream_stalled_mid_way_ends_with_a_timeout_event(
    make_gateway: GatewayFactory, stub: Stub, client: aiohttp.ClientSession
) -> None:
    gw = await make_gateway(timeouts=Timeouts(connect=1.0, first_byte=0.2))

    async def stall(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        resp = await sse(request, [ROLE, TEXT[0]])
        await asyncio.sleep(30)
        return resp

    stub.handler = stall
    status, _, raw = await post(
        client, gw.url, {"model": "fast", "messages": MESSAGES, "stream": True}
    )
    assert status == 200
    events = sse_data(raw)
    assert "[DONE]" not in events
    err = orjson.loads(events[-1])["error"]
    assert err["type"] == "timeout_error"
    assert (await gw.record())[0].status == 504


async def test_unterminated_last_event_still_reaches_the_client(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    async def no_final_blank_line(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return await sse(request, [ROLE, *TEXT, FINISH, USAGE, b"data: [DONE]\n"])

    stub.handler = no_final_blank_line
    _, _, raw = await post(client, gw.url, {"model": "fast", "messages": MESSAGES, "stream": True})
    assert sse_data(raw)[-1] == "[DONE]"


async def test_mis_shaped_stream_chunk_ends_with_an_error_event(
    gw: GW, stub: Stub, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async def garbage(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        # After the first token: before it, the attempt fails (and may fail over) instead.
        return await sse(request, [ROLE, TEXT[0], b'data: {"choices":[1]}\n\n', DONE])

    stub.handler = garbage
    with caplog.at_level(logging.ERROR):
        _, _, raw = await post(
            client, gw.url, {"model": "fast", "messages": MESSAGES, "stream": True}
        )
    events = sse_data(raw)
    assert "[DONE]" not in events
    assert "error" in orjson.loads(events[-1])


async def test_events_before_a_broken_one_in_the_same_read_are_delivered(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    async def good_then_garbage(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return await sse(request, [ROLE + TEXT[0] + b"data: {not json\n\n"])

    stub.handler = good_then_garbage
    _, _, raw = await post(client, gw.url, {"model": "fast", "messages": MESSAGES, "stream": True})
    events = sse_data(raw)
    assert "malformed" in orjson.loads(events[-1])["error"]["message"]
    assert raw.startswith(ROLE + TEXT[0])


async def test_mis_shaped_stream_chunk_is_blamed_on_the_provider(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    async def garbage(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return await sse(request, [ROLE, b'data: {"choices":[1]}\n\n', DONE])

    stub.handler = garbage
    await post(client, gw.url, {"model": "fast", "messages": MESSAGES, "stream": True})
    (rec,) = await gw.record()
    assert (rec.status, rec.error) == (502, "upstream_protocol")


# ---------------------------------------------------------------- upstream failures


async def test_upstream_429_is_passed_on_with_retry_after(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    async def limited(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        err = {
            "message": "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
        return web.json_response({"error": err}, status=429, headers={"Retry-After": "3"})

    stub.handler = limited
    status, headers, raw = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 429
    assert headers["Retry-After"] == "3"
    assert headers["x-plano-provider"] == "openai"
    err = error_of(raw)
    assert err["message"].startswith("Rate limit reached for gpt-4o-mini")
    assert err["type"] == "requests"
    assert err["code"] == "rate_limit_exceeded"
    (rec,) = await gw.record()
    assert rec.status == 429 and rec.error == "upstream_status"


async def test_upstream_retry_after_ms_is_rounded_up(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    async def limited(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return web.json_response(
            {"error": {"message": "slow"}}, status=429, headers={"retry-after-ms": "1500"}
        )

    stub.handler = limited
    status, headers, _ = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 429
    assert headers["Retry-After"] == "2"


async def test_upstream_nan_retry_after_does_not_break_the_answer(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    async def limited(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return web.json_response(
            {"error": {"message": "slow"}}, status=429, headers={"Retry-After": "nan"}
        )

    stub.handler = limited
    status, _, _ = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 429


async def test_upstream_500_is_passed_on(gw: GW, stub: Stub, client: aiohttp.ClientSession) -> None:
    async def broken(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        err = {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
        }
        return web.json_response({"error": err}, status=500)

    stub.handler = broken
    status, headers, raw = await post(
        client, gw.url, {"model": "fast", "messages": MESSAGES, "stream": True}
    )
    assert status == 500  # before the first byte, a stream error is a proper status
    assert "Retry-After" not in headers
    err = error_of(raw)
    assert err["message"] == "The server had an error while processing your request."
    assert err["type"] == "server_error"


async def test_upstream_html_error_page(gw: GW, stub: Stub, client: aiohttp.ClientSession) -> None:
    async def html(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")

    stub.handler = html
    status, _, raw = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 502
    assert error_of(raw)["message"] == "The provider answered with HTTP 502."


async def test_upstream_invalid_json_is_a_502(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    async def bad(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return web.Response(body=b"{not json", content_type="application/json")

    stub.handler = bad
    status, _, raw = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 502
    assert "invalid JSON" in error_of(raw)["message"]


async def test_connection_refused_is_a_502(
    make_gateway: GatewayFactory, client: aiohttp.ClientSession
) -> None:
    port = free_port()
    gw = await make_gateway(base_url=f"http://127.0.0.1:{port}")
    status, headers, raw = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 502
    err = error_of(raw)
    assert err["message"] == "Could not connect to the provider 'openai'."
    assert str(port) not in raw.decode()
    assert headers["x-plano-provider"] == "openai"
    (rec,) = await gw.record()
    assert rec.usage is None and rec.cost is None  # nothing reached a model


async def test_first_byte_timeout_is_a_504(
    make_gateway: GatewayFactory, stub: Stub, client: aiohttp.ClientSession
) -> None:
    gw = await make_gateway(timeouts=Timeouts(connect=1.0, first_byte=0.2))

    async def silent(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    stub.handler = silent
    status, _, raw = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 504
    err = error_of(raw)
    assert err["type"] == "timeout_error"
    assert err["message"] == "The provider 'openai' did not answer in time."
    # The abandoned upstream call is closed, not left running.
    await asyncio.wait_for(stub.cancelled.wait(), 3)


async def test_listener_time_limit_is_a_504(
    make_gateway: GatewayFactory, stub: Stub, client: aiohttp.ClientSession
) -> None:
    gw = await make_gateway(
        settings=GatewaySettings(request_timeout=0.3),
        timeouts=Timeouts(connect=1.0, first_byte=5.0),
    )

    async def silent(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    stub.handler = silent
    status, _, raw = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 504
    assert "listener's time limit" in error_of(raw)["message"]


async def test_listener_time_limit_ends_a_started_stream_in_band(
    make_gateway: GatewayFactory, stub: Stub, client: aiohttp.ClientSession
) -> None:
    gw = await make_gateway(
        settings=GatewaySettings(request_timeout=0.3),
        timeouts=Timeouts(connect=1.0, first_byte=5.0),
    )

    async def slow_stream(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        resp = await sse(request, [ROLE, TEXT[0]])  # started: headers and a token are out
        await asyncio.sleep(30)
        return resp

    stub.handler = slow_stream
    status, _, raw = await post(
        client, gw.url, {"model": "fast", "messages": MESSAGES, "stream": True}
    )
    assert status == 200
    events = sse_data(raw)
    assert "listener's time limit" in orjson.loads(events[-1])["error"]["message"]
    (rec,) = await gw.record()
    assert rec.status == 504
    assert not gw.gateway.in_flight


# ---------------------------------------------------------------- client errors


async def test_body_over_max_body_is_a_413(
    make_gateway: GatewayFactory, stub: Stub, client: aiohttp.ClientSession
) -> None:
    gw = await make_gateway(settings=GatewaySettings(max_body=2048))
    big = {"model": "fast", "messages": [{"role": "user", "content": "x" * 4096}]}
    status, _, raw = await post(client, gw.url, big)
    assert status == 413
    assert error_of(raw)["code"] == "request_too_large"

    async def chunked() -> AsyncIterator[bytes]:
        data = orjson.dumps(big)
        for i in range(0, len(data), 1024):
            yield data[i : i + 1024]

    async with client.post(gw.url + CHAT, data=chunked()) as resp:  # no content-length
        assert resp.status == 413
        assert error_of(await resp.read())["code"] == "request_too_large"
    assert stub.seen == []


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"{bad", "invalid_json"),
        (b"", None),
        (b"[1, 2]", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
    ],
)
async def test_malformed_bodies_are_a_400(
    gw: GW, stub: Stub, client: aiohttp.ClientSession, data: bytes, code: str | None
) -> None:
    status, _, raw = await post(client, gw.url, data)
    assert status == 400
    err = error_of(raw)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == code
    assert stub.seen == []


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"max_tokens": "9"}, "max_tokens"),
        ({"messages": "x"}, "messages"),
        ({"stream": "yes"}, "stream"),
        ({"temperature": True}, "temperature"),
    ],
)
async def test_wrong_types_are_a_400_naming_the_param(
    gw: GW, stub: Stub, client: aiohttp.ClientSession, patch: dict[str, Any], param: str
) -> None:
    status, _, raw = await post(client, gw.url, {"model": "fast", "messages": MESSAGES, **patch})
    assert status == 400
    assert error_of(raw)["param"] == param
    assert stub.seen == []


async def test_unknown_model_is_a_404_with_a_suggestion(
    gw: GW, client: aiohttp.ClientSession
) -> None:
    status, headers, raw = await post(
        client, gw.url, {"model": "gpt-4o-mimi", "messages": MESSAGES}
    )
    assert status == 404
    err = error_of(raw)
    assert err["code"] == "model_not_found"
    assert err["type"] == "not_found_error"
    assert "Did you mean: openai/gpt-4o-mini?" in err["message"]
    assert headers["x-request-id"].startswith("req_")


async def test_empty_model_uses_the_default(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    status, _, _ = await post(client, gw.url, {"messages": MESSAGES})
    assert status == 200
    assert stub.seen[0][1]["model"] == "gpt-4o-mini"


async def test_unknown_path_and_wrong_method(gw: GW, client: aiohttp.ClientSession) -> None:
    async with client.get(gw.url + "/v2/nothing") as resp:
        assert resp.status == 404
        assert resp.content_type == "application/json"
        assert error_of(await resp.read())["code"] == "unknown_url"
    for method in ("GET", "PUT", "DELETE"):
        async with client.request(method, gw.url + CHAT) as resp:
            assert resp.status == 405, method
            assert "not allowed" in error_of(await resp.read())["message"]
    async with client.post(gw.url + "/healthz") as resp:
        assert resp.status == 405


async def test_models_and_healthz(gw: GW, client: aiohttp.ClientSession) -> None:
    async with client.get(gw.url + "/v1/models") as resp:
        data = await resp.json()
    assert [(m["id"], m["owned_by"]) for m in data["data"]] == [
        ("fast", "plano"),
        ("openai/gpt-4o-mini", "openai"),
    ]
    async with client.get(gw.url + "/healthz") as resp:
        health = await resp.json()
    assert health["status"] == "ok" and health["in_flight"] == 0


async def test_the_short_path_is_served_too(gw: GW, client: aiohttp.ClientSession) -> None:
    async with client.post(
        gw.url + "/chat/completions", json={"model": "fast", "messages": MESSAGES}
    ) as resp:
        assert resp.status == 200
        assert await resp.read() == FIXTURE_BYTES


# ---------------------------------------------------------------- capacity and disconnects


async def test_in_flight_cap_is_a_503(
    make_gateway: GatewayFactory, stub: Stub, client: aiohttp.ClientSession
) -> None:
    gw = await make_gateway(settings=GatewaySettings(max_in_flight=1))

    async def held(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        await stub.release.wait()
        return web.Response(body=FIXTURE_BYTES, content_type="application/json")

    stub.handler = held
    first = asyncio.create_task(post(client, gw.url, {"model": "fast", "messages": MESSAGES}))
    await asyncio.wait_for(stub.arrived.wait(), 3)
    assert gw.gateway.in_flight == 1
    status, _, raw = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 503
    assert error_of(raw)["type"] == "overloaded_error"
    stub.release.set()
    assert (await first)[0] == 200
    assert gw.gateway.in_flight == 0
    status, _, _ = await post(client, gw.url, {"model": "fast", "messages": MESSAGES})
    assert status == 200


async def test_client_disconnect_mid_stream_cancels_the_upstream_call(
    gw: GW, stub: Stub, client: aiohttp.ClientSession
) -> None:
    async def endless(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        resp = await sse(request, [ROLE, TEXT[0]])
        while True:
            await asyncio.sleep(0.05)
            await resp.write(b": still generating\n\n")

    stub.handler = endless
    body = {"model": "fast", "messages": MESSAGES, "stream": True}
    resp = await client.post(gw.url + CHAT, data=orjson.dumps(body))
    assert resp.status == 200
    assert (await resp.content.readany()).startswith(b"data: ")
    await asyncio.sleep(0.3)  # the provider keeps generating for a while
    resp.close()  # the client goes away
    await asyncio.wait_for(stub.cancelled.wait(), 3)
    (rec,) = await gw.record()
    assert rec.status == 499
    assert gw.gateway.in_flight == 0
    # The wait on the provider is not Plano's overhead, even when the client hangs up.
    assert rec.overhead_ms < 100
    # A hang-up is estimated with what is loaded: no ~70 MB encoding load per disconnect.
    accounting = gw.gateway.chain.filters[0]
    assert isinstance(accounting, AccountingFilter)
    assert not accounting.counter.loaded
    assert rec.usage is not None and rec.usage.estimated


async def test_client_leaving_before_the_first_token_is_not_a_deployment_failure(
    make_gateway: GatewayFactory, stub: Stub, client: aiohttp.ClientSession
) -> None:
    async def slow_first_token(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await asyncio.sleep(5)
        return resp

    stub.handler = slow_first_token
    gw = await make_gateway()
    reports: list[object] = []
    gw.gateway.router.report = lambda dep, err, ms, ttft: reports.append(err)  # type: ignore[method-assign]
    body = {"model": "fast", "messages": MESSAGES, "stream": True}
    with pytest.raises(asyncio.TimeoutError):
        async with client.post(
            gw.url + CHAT, data=orjson.dumps(body), timeout=aiohttp.ClientTimeout(total=0.3)
        ) as resp:
            await resp.read()
    (rec,) = await gw.record()
    assert rec.status == 499
    # A client hang-up must never feed the deployment's breaker or cool-down.
    assert all(err is None for err in reports)


# ---------------------------------------------------------------- admin and secrets


async def test_admin_usage_shows_requests_with_usage_and_cost(
    gw: GW, client: aiohttp.ClientSession
) -> None:
    await post(
        client, gw.url, {"model": "fast", "messages": MESSAGES}, headers={"x-request-id": "one"}
    )
    await post(
        client,
        gw.url,
        {"model": "fast", "messages": MESSAGES, "stream": True},
        headers={"x-request-id": "two"},
    )
    await gw.record(2)
    async with client.get(gw.url + "/plano/v1/usage") as resp:
        assert resp.status == 200
        usage = await resp.json()
    # The fixture answer: 1117 prompt tokens (1024 cached), 46 completion; the stream: 5 + 3.
    expected = PriceBook().cost("openai", "gpt-4o-mini", Usage(1117, 46, 1024))
    expected2 = PriceBook().cost("openai", "gpt-4o-mini", Usage(5, 3))
    assert expected is not None and expected2 is not None
    totals = usage["totals"]
    assert totals["requests"] == 2 and totals["errors"] == 0
    assert (totals["input_tokens"], totals["output_tokens"]) == (1122, 49)
    assert totals["cache_read_tokens"] == 1024
    assert Decimal(totals["cost_usd"]) == expected + expected2
    # Newest first (the usage log pages backwards in time).
    recent = usage["recent"]
    assert [(r["client_request_id"], r["model_requested"], r["stream"]) for r in recent] == [
        ("two", "fast", True),
        ("one", "fast", False),
    ]
    assert usage["by_model"][0]["model"] == "gpt-4o-mini"
    async with client.get(gw.url + "/plano/v1/requests/one") as resp:
        one = await resp.json()
    assert Decimal(one["cost_usd"]) == expected
    async with client.get(gw.url + "/plano/v1/requests/nope") as resp:
        assert resp.status == 404
    async with client.get(gw.url + "/plano/v1/usage?last=1") as resp:
        assert [r["client_request_id"] for r in (await resp.json())["recent"]] == ["two"]
    async with client.get(gw.url + "/plano/v1/filters") as resp:
        assert (await resp.json()) == {"filters": ["accounting"], "failures": {}}


async def test_no_secret_in_error_bodies_or_logs(
    make_gateway: GatewayFactory,
    stub: Stub,
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gw = await make_gateway(timeouts=Timeouts(connect=1.0, first_byte=0.3))
    refused = await make_gateway(base_url=f"http://127.0.0.1:{free_port()}")

    async def per_request(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        kind = body["messages"][0]["content"]
        if kind == "429":
            return web.json_response({"error": {"message": "slow"}}, status=429)
        if kind == "500":
            return web.Response(status=500, text="oops")
        if kind == "timeout":
            await asyncio.sleep(30)
        if kind == "cut":
            return await sse(request, [ROLE])
        return await stub.default(request, body)

    stub.handler = per_request
    outputs: list[bytes] = []

    def msg(content: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": content}]

    for url, body in [
        (gw.url, {"model": "fast", "messages": msg("429")}),
        (gw.url, {"model": "fast", "messages": msg("500")}),
        (gw.url, {"model": "fast", "messages": msg("timeout")}),
        (gw.url, {"model": "fast", "messages": msg("cut"), "stream": True}),
        (gw.url, {"model": "nope", "messages": msg("x")}),
        (gw.url, {"model": "fast", "messages": msg("x"), "max_tokens": "x"}),
        (gw.url, b"{bad"),
        (refused.url, {"model": "fast", "messages": msg("x")}),
        (refused.url, {"model": "fast", "messages": msg("x"), "stream": True}),
    ]:
        status, headers, raw = await post(client, url, body)
        assert status >= 400 or b'"error"' in raw
        outputs.append(raw + orjson.dumps({str(k): v for k, v in headers.items()}))
    await gw.record(7)
    await refused.record(2)
    gw.ledger.flush()
    refused.ledger.flush()

    assert len(stub.seen) == 4  # the key did go upstream where it belongs
    assert all(h["Authorization"] == f"Bearer {SECRET}" for h, _ in stub.seen)
    for out in outputs:
        assert SECRET.encode() not in out
    assert caplog.records  # failures were logged...
    assert SECRET not in caplog.text  # ...without the key
    for record in caplog.records:
        assert SECRET not in record.getMessage()
