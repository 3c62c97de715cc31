"""Hostile input against a real `plano up` (security review): every answer is JSON in the
API's error shape, never a 500, a traceback or aiohttp's text/plain page, and no secret of
the config shows up in an answer or the log."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import SIM_KEY, Plano, e2e_config, start_plano

from plano.sim import SimServer

HUGE = "9" * 30


def _raw(url: str, head: bytes) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


@pytest.mark.parametrize(
    "path",
    [
        f"/plano/v1/usage?status_min={HUGE}",
        f"/plano/v1/usage?limit={HUGE}",
        "/plano/v1/usage?since=nan",
        "/plano/v1/traces?since=garbage",
        "/plano/v1/sessions/%ff%fe",
        "/dashboard/..%2f..%2fetc%2fpasswd",
        "/dashboard/x%0d%0aSet-Cookie:%20a=b",
        "/nope%0a",
        "/v1/topics/t/messages?after=not-an-id",
        "/v1/topics/a%20b/messages",
        "/v1/topics/t?after=not-an-id",
    ],
)
def test_hostile_paths_get_json_errors(plano: Plano, path: str) -> None:
    r = httpx.get(plano.url + path, timeout=10)
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), (path, r.text)
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize("header", [b"x-plano-key: \xff\xfe", b"authorization: Bearer \xc3\x28"])
def test_a_credential_that_is_not_utf8_is_not_a_500(plano: Plano, header: bytes) -> None:
    head = (
        b"POST /v1/topics/t HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1\r\n"
        + header
        + b"\r\nconnection: close\r\n\r\nx"
    )
    status = int(_raw(plano.url, head).split(b" ", 2)[1])
    assert status < 500


def test_a_message_sent_in_pieces_is_stored_whole(plano: Plano) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"n": "'
        yield b"a" * 100_000
        yield b'"}'

    r = httpx.post(
        plano.url + "/v1/topics/pieces",
        content=pieces(),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 202, r.text
    got = httpx.get(plano.url + "/v1/topics/pieces/messages?after=0", timeout=10).json()
    assert got["messages"][-1]["data"] == {"n": "a" * 100_000}


def test_no_secret_in_the_log_after_all_that(plano: Plano) -> None:
    assert SIM_KEY not in plano.output()
    assert "Traceback" not in plano.output()


def test_with_auth_the_dashboard_page_opens_and_its_data_needs_the_admin_key(
    sims: dict[str, SimServer], tmp_path: Path
) -> None:
    """The admin routes on the model listener (no admin_port) with auth: on: the page and
    its assets need no virtual key (a browser navigating cannot send one; they hold no data),
    the data behind them needs the admin key, and a virtual key is not the admin key."""
    admin, vkey = "adm-0123456789abcdef", "vk-0123456789abcdef0"
    config = e2e_config(sims)
    config["gateway"] = {"admin_key": admin}
    config["auth"] = {"keys": [{"id": "bot", "key": vkey}]}
    p = start_plano(config, tmp_path)
    try:
        for path in ("/dashboard/", "/dashboard/app.js"):
            assert httpx.get(p.url + path, timeout=10).status_code == 200, path
        features = p.url + "/plano/v1/dashboard/features"
        assert httpx.get(features, timeout=10).status_code == 401
        as_bot = httpx.get(features, headers={"authorization": f"Bearer {vkey}"}, timeout=10)
        assert as_bot.status_code == 401
        ok = httpx.get(features, headers={"x-plano-admin-key": admin}, timeout=10)
        assert ok.status_code == 200 and "/plano/v1/usage" in ok.json()["endpoints"]
        assert httpx.get(p.url + "/v1/models", timeout=10).status_code == 401  # still guarded
    finally:
        assert p.stop() == 0, p.output()
    assert admin not in p.output() and vkey not in p.output()
