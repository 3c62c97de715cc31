"""Tracing end to end: `plano up` in front of simulated providers, a remote filter and real
OTLP receivers (gRPC and HTTP) started here; one request through the filter and an LLM with
one fallback is one trace, continuing the client's traceparent; `plano trace` lists and shows
it; the access log names the trace."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest
from tests.e2e.conftest import SIM_KEY, Plano, start_plano
from tests.observe.otlp_receiver import GrpcReceiver, HttpReceiver

from plano.sim import SimOptions, SimServer

pytestmark = pytest.mark.e2e

ADMIN = "adm-trace-secret-42"
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


class EchoFilter:
    """Plano's http filter protocol: the request body back unchanged; headers recorded."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        seen = self.headers

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                seen.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    echo = EchoFilter()
    with (
        SimServer.in_thread(SimOptions(name="good")) as good,
        SimServer.in_thread(SimOptions(name="bad", fault="500")) as bad,
        GrpcReceiver() as grpc_rx,
        HttpReceiver() as http_rx,
    ):

        def entry(name: str, sim: SimServer) -> dict[str, Any]:
            return {
                "model": "openai/gpt-4o-mini",
                "name": name,
                "access_key": "$SIM_KEY",
                "base_url": sim.url,
            }

        config = {
            "version": "v0.4.0",
            "listeners": [
                {
                    "type": "model",
                    "name": "llm",
                    "port": 12000,
                    "timeout": "30s",
                    "input_filters": ["echo"],
                }
            ],
            "filters": [{"id": "echo", "type": "http", "url": echo.url}],
            "model_providers": [entry("primary", good), entry("secondary", bad)],
            # round robin from the failing one: the first request falls back once
            "model_pools": {
                "chat": {"strategy": "round_robin", "deployments": ["secondary", "primary"]}
            },
            "fallback": {"backoff": {"initial": "10ms", "max": "20ms"}},
            "gateway": {"admin_key": ADMIN},
            "tracing": {
                "random_sampling": 100,
                "opentracing_grpc_endpoint": grpc_rx.url,
                "otlp_http_endpoint": http_rx.url,
                "otlp_headers": {"x-collector-token": "tok"},
                "export_interval": "100ms",
                "span_attributes": {"header_prefixes": ["x-acme-"], "static": {"env": "e2e"}},
            },
        }
        p = start_plano(config, tmp_path_factory.mktemp("tracing"))
        try:
            yield {"plano": p, "grpc": grpc_rx, "http": http_rx, "echo": echo, "bad": bad}
        finally:
            code = p.stop()
            echo.close()
            assert code == 0, p.output()


def _wait(get: Callable[[], list[dict[str, Any]]], n: int, timeout: float = 60.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = get()
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return get()


@pytest.fixture(scope="module")
def asked(world: dict[str, Any]) -> dict[str, Any]:
    p: Plano = world["plano"]
    client = openai.OpenAI(
        base_url=p.url + "/v1",
        api_key="client-key",
        max_retries=0,
        default_headers={"traceparent": TRACEPARENT, "x-acme-workspace-id": "ws-7"},
    )
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "Hello there"}]
    )
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-plano-attempts"] == "2"
    return {"headers": dict(raw.headers)}


def _by_service(spans: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    return sorted((s for s in spans if s["service"] == service), key=lambda s: s["start_ns"])


@pytest.mark.parametrize("receiver", ["grpc", "http"])
def test_one_trace_through_filter_and_fallback(
    world: dict[str, Any], asked: dict[str, Any], receiver: str
) -> None:
    rx = world[receiver]
    spans = _wait(lambda: rx.got.of(CLIENT_TRACE), 5)
    assert {s["trace_id"] for s in spans} == {CLIENT_TRACE}
    # the request, the filter, routing, the failed attempt and the fallback that answered
    assert len(spans) == 5, [s["name"] for s in spans]
    ids = {s["span_id"] for s in spans}
    assert len(ids) == len(spans)
    (root,) = _by_service(spans, "plano(inbound)")
    assert root["parent_id"] == CLIENT_SPAN  # the client's trace, continued
    assert root["name"] == "POST /v1/chat/completions"
    assert root["kind"] == 2  # server
    a = root["attributes"]
    assert a["gen_ai.request.model"] == "chat"
    assert a["gen_ai.response.model"] == "gpt-4o-mini"
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert a["llm.usage.total_cost_usd"] > 0
    assert a["workspace.id"] == "ws-7" and a["env"] == "e2e"
    assert a["plano.attempts"] == 2
    # every other span hangs under the request's span
    for s in spans:
        if s is not root:
            assert s["parent_id"] == root["span_id"], s
    (flt,) = _by_service(spans, "plano(filter)")
    assert flt["name"] == "execute_raw_filter (echo) on_request"
    # the filter was called with the filter span as its parent
    (headers,) = world["echo"].headers[:1]
    assert headers["traceparent"] == f"00-{CLIENT_TRACE}-{flt['span_id']}-01"
    (routing,) = _by_service(spans, "plano(routing)")
    assert routing["attributes"]["routing.selected_model"] == "gpt-4o-mini"
    failed, answered = _by_service(spans, "plano(llm)")
    assert failed["status"] == 2 and failed["attributes"]["error.type"]
    assert failed["attributes"]["plano.deployment"] == "secondary"
    assert answered["status"] == 1 and answered["attributes"]["plano.fallback"] is True
    assert answered["attributes"]["plano.deployment"] == "primary"
    assert answered["attributes"]["gen_ai.usage.output_tokens"] > 0
    assert answered["kind"] == 3  # client
    assert flt["end_ns"] <= routing["start_ns"] <= failed["start_ns"] < answered["start_ns"]
    assert root["start_ns"] <= flt["start_ns"] and answered["end_ns"] <= root["end_ns"]
    assert all(m.get("x-collector-token") == "tok" for m in rx.got.metadata)
    # nothing secret on any span
    blob = json.dumps(spans)
    assert SIM_KEY not in blob and ADMIN not in blob and "client-key" not in blob


def test_http_exports_go_to_v1_traces(world: dict[str, Any], asked: dict[str, Any]) -> None:
    _wait(lambda: world["http"].got.of(CLIENT_TRACE), 5)
    assert {m["path"] for m in world["http"].got.metadata} == {"/v1/traces"}
    assert {m["content-type"] for m in world["http"].got.metadata} == {"application/x-protobuf"}


def test_trace_api_needs_the_admin_key(world: dict[str, Any], asked: dict[str, Any]) -> None:
    url = world["plano"].url
    assert httpx.get(url + "/plano/v1/traces").status_code == 401
    ok = httpx.get(url + "/plano/v1/traces", headers={"authorization": f"Bearer {ADMIN}"})
    assert ok.status_code == 200
    (t,) = [t for t in ok.json()["traces"] if t["trace_id"] == CLIENT_TRACE]
    assert t["root_name"] == "POST /v1/chat/completions"
    assert t["service"] == "plano(inbound)" and t["status"] == "ok"
    assert t["errors"] == 1 and t["span_count"] == 5 and t["tokens"] > 0
    assert float(t["cost"]) > 0 and t["model"] == "gpt-4o-mini"
    one = httpx.get(
        f"{url}/plano/v1/traces/{CLIENT_TRACE}", headers={"authorization": f"Bearer {ADMIN}"}
    ).json()
    assert one["trace_id"] == CLIENT_TRACE
    names = [s["name"] for s in one["spans"]]
    assert "routing" in names and "execute_raw_filter (echo) on_request" in names
    span = one["spans"][0]
    assert set(span) >= {
        "span_id",
        "parent_id",
        "name",
        "service",
        "kind",
        "start_ns",
        "end_ns",
        "status",
        "attributes",
        "events",
    }


def test_plano_trace_cli(
    world: dict[str, Any], asked: dict[str, Any], run_cli: Callable[..., Any]
) -> None:
    target = ("--url", world["plano"].url, "--admin-key", ADMIN)
    listed = run_cli("trace", *target, "--json", "--since", "10m")
    assert listed.returncode == 0, listed.stderr
    assert CLIENT_TRACE in [t["trace_id"] for t in json.loads(listed.stdout)["traces"]]
    table = run_cli("trace", *target, "--where", "model=gpt-4o-mini")
    assert table.returncode == 0, table.stderr
    assert CLIENT_TRACE in table.stdout and "POST /v1/chat/completions" in table.stdout
    none = run_cli("trace", *target, "--json", "--where", "status=error")
    assert CLIENT_TRACE not in none.stdout
    attr = run_cli("trace", *target, "--json", "--where", "workspace.id=ws-7")
    assert CLIENT_TRACE in attr.stdout
    shown = run_cli("trace", *target, CLIENT_TRACE)
    assert shown.returncode == 0, shown.stderr
    for text in ("execute_raw_filter (echo)", "routing", "plano(llm)", "attempt 2", "█"):
        assert text in shown.stdout, shown.stdout
    as_json = run_cli("trace", *target, CLIENT_TRACE, "--json")
    assert json.loads(as_json.stdout)["trace_id"] == CLIENT_TRACE
    missing = run_cli("trace", *target, "0" * 31 + "1")
    assert missing.returncode == 1 and "not kept" in missing.stderr


def test_access_log_names_the_trace(world: dict[str, Any], asked: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not lines:
        for line in world["plano"].output().splitlines():
            if line.startswith("{") and CLIENT_TRACE in line:
                lines.append(json.loads(line))
        time.sleep(0.05)
    assert lines, world["plano"].output()
    assert lines[0]["trace_id"] == CLIENT_TRACE and "principal" in lines[0]
    assert SIM_KEY not in world["plano"].output() and ADMIN not in world["plano"].output()
