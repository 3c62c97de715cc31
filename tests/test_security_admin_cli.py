"""`plano keys` / `plano status` never send the admin key past the address they were given:
a redirect (a proxy in front, a wrong --url) is an error, not a hop for the key."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from plano.admin_cli import AdminClient, AdminError, gateway_target

KEY = "adm-secret-key-0123456789"


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]
    target = ""

    def _answer(self) -> None:
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        if self.target:
            self.send_response(307)
            self.send_header("location", self.target + self.path)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        body = b'{"data": []}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *_args: Any) -> None:
        pass


def _server(target: str, seen: list[dict[str, str]]) -> ThreadingHTTPServer:
    handler = type("H", (_Recorder,), {"target": target, "seen": seen})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@dataclass
class Pair:
    front: str
    elsewhere: str
    front_seen: list[dict[str, str]]
    elsewhere_seen: list[dict[str, str]]


@pytest.fixture
def pair() -> Iterator[Pair]:
    """``front`` redirects every request to ``elsewhere``, which answers."""
    elsewhere_seen: list[dict[str, str]] = []
    elsewhere = _server("", elsewhere_seen)
    other = f"http://127.0.0.1:{elsewhere.server_address[1]}"
    front_seen: list[dict[str, str]] = []
    front = _server(other, front_seen)
    yield Pair(f"http://127.0.0.1:{front.server_address[1]}", other, front_seen, elsewhere_seen)
    front.shutdown()
    elsewhere.shutdown()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_redirect_is_an_error_and_the_key_stays_home(pair: Pair, method: str) -> None:
    client = AdminClient(pair.front, KEY, timeout=5)
    with pytest.raises(AdminError, match="redirects") as caught:
        client.call(method, "/plano/v1/keys", body={} if method == "POST" else None)
    assert KEY not in str(caught.value)
    assert pair.front_seen[0]["authorization"] == f"Bearer {KEY}"  # the address it was given
    assert pair.elsewhere_seen == []  # nothing, and so no key, went on


def test_the_gateway_asked_directly_gets_the_key(pair: Pair) -> None:
    assert AdminClient(pair.elsewhere, KEY, timeout=5).call("GET", "/plano/v1/keys") == {"data": []}
    assert pair.elsewhere_seen[-1]["authorization"] == f"Bearer {KEY}"


def _config_with_key(tmp_path: Any, address: str = "127.0.0.1") -> str:
    config = {
        "version": "v0.4.0",
        "listeners": [{"type": "model", "name": "llm", "port": 12345, "address": address}],
        "model_providers": [{"model": "openai/gpt-4o-mini", "access_key": "k"}],
        "gateway": {"admin_key": KEY},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.parametrize(
    "url", ["http://evil.example:12345", "http://127.0.0.1:9999", "https://127.0.0.1:12345"]
)
def test_the_configs_admin_key_never_goes_to_another_url(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.delenv("PLANO_ADMIN_KEY", raising=False)
    monkeypatch.delenv("PLANO_URL", raising=False)
    ns = argparse.Namespace(url=url, admin_key=None, config=_config_with_key(tmp_path))
    assert gateway_target(ns) == (url, None)
    # Given explicitly, the key goes where it is told.
    ns.admin_key = "explicit"
    assert gateway_target(ns) == (url, "explicit")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:12345", "http://localhost:12345/", "http://[::1]:12345"]
)
def test_the_configs_own_listener_still_gets_its_key(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.delenv("PLANO_ADMIN_KEY", raising=False)
    monkeypatch.delenv("PLANO_URL", raising=False)
    ns = argparse.Namespace(url=url, admin_key=None, config=_config_with_key(tmp_path, "0.0.0.0"))
    assert gateway_target(ns) == (url, KEY)
