"""Virtual keys and the audit trail through `plano up`, with the official openai and anthropic
SDKs: 401s and 403s as each SDK's own error types, keys made and revoked through the admin
API and the CLI, static keys, malformed key headers, audit rows for requests and admin
actions (API and CLI), keys stored hashed, and a revocation seen by two workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import yaml
from tests.e2e.conftest import SIM_KEY, Plano, e2e_config, start_plano

from plano.sim import SimServer
from plano.store.keys import hash_key

pytestmark = pytest.mark.e2e

ADMIN = "admin-secret-for-e2e-0123456789"
STATIC = "static-e2e-key-0123456789abcdef"
USER = [{"role": "user", "content": "Hello there"}]
Run = Callable[..., subprocess.CompletedProcess[str]]


def auth_config(sims: dict[str, SimServer], **auth: Any) -> dict[str, Any]:
    config = e2e_config(sims)
    config["gateway"] = {"admin_key": ADMIN}
    config["auth"] = {
        "keys": [
            {
                "id": "ci",
                "key": STATIC,
                "principal": {"user": "ci-bot", "team": "platform", "tags": ["ci"]},
                "models": ["gpt-4o-mini", "fast"],
            }
        ],
        **auth,
    }
    return config


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth")


@pytest.fixture(scope="module")
def plano(sims: dict[str, SimServer], home: Path) -> Iterator[Plano]:
    p = start_plano(auth_config(sims), home)
    yield p
    assert p.stop() == 0, p.output()


def admin(plano: Plano) -> httpx.Client:
    return httpx.Client(
        base_url=plano.url, headers={"authorization": f"Bearer {ADMIN}"}, timeout=10
    )


def make_key(plano: Plano, **body: Any) -> dict[str, Any]:
    with admin(plano) as c:
        resp = c.post("/plano/v1/keys", json=body)
    assert resp.status_code == 201, resp.text
    made: dict[str, Any] = resp.json()
    return made


def oai(plano: Plano, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=plano.url + "/v1", api_key=key, max_retries=0)


def ant(plano: Plano, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=plano.url, api_key=key, max_retries=0)


def ask_openai(plano: Plano, key: str, model: str = "gpt-4o-mini") -> str:
    with oai(plano, key) as client:
        resp = client.chat.completions.create(model=model, messages=USER)  # type: ignore[arg-type]
    return resp.choices[0].message.content or ""


def ask_anthropic(plano: Plano, key: str, model: str = "gpt-4o-mini") -> str:
    with ant(plano, key) as client:
        msg = client.messages.create(
            model=model, max_tokens=20, messages=[{"role": "user", "content": "Hello"}]
        )
    return "".join(b.text for b in msg.content if b.type == "text")


def test_the_banner_says_keys_are_required(plano: Plano) -> None:
    assert "model API: virtual keys required (1 static key(s)" in plano.output()


def test_no_key_or_a_wrong_one_is_each_sdks_authentication_error(plano: Plano) -> None:
    resp = httpx.post(plano.url + "/v1/chat/completions", json={"model": "x", "messages": USER})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "missing_api_key"
    with pytest.raises(openai.AuthenticationError) as oe:
        ask_openai(plano, "sk-not-a-plano-key")
    assert oe.value.status_code == 401
    with pytest.raises(anthropic.AuthenticationError) as ae:
        ask_anthropic(plano, "pk-" + "x" * 43)
    assert ae.value.status_code == 401


def test_a_static_key_works_in_both_sdks_and_only_for_its_models(plano: Plano) -> None:
    assert ask_openai(plano, STATIC)
    assert ask_anthropic(plano, STATIC, "fast")
    with pytest.raises(openai.PermissionDeniedError) as oe:
        ask_openai(plano, STATIC, "xai/grok-3")
    assert "may not use the model" in str(oe.value)
    with pytest.raises(anthropic.PermissionDeniedError):
        ask_anthropic(plano, STATIC, "deepseek/deepseek-chat")


def test_a_created_key_works_then_is_revoked(plano: Plano) -> None:
    made = make_key(plano, user="alice", team="red", models=["openai/*", "groq/*"])
    key = made["key"]
    assert ask_openai(plano, key) and ask_anthropic(plano, key, "fast")
    with pytest.raises(anthropic.PermissionDeniedError):
        ask_anthropic(plano, key, "xai/grok-3")
    with admin(plano) as c:
        assert c.delete(f"/plano/v1/keys/{made['id']}").status_code == 200
    # One worker: the process that revoked the key forgets it at once.
    with pytest.raises(openai.AuthenticationError) as oe:
        ask_openai(plano, key)
    assert "revoked" in str(oe.value)
    with pytest.raises(anthropic.AuthenticationError):
        ask_anthropic(plano, key)


def test_admin_endpoints_need_the_admin_key_not_a_virtual_key(plano: Plano) -> None:
    for headers in ({}, {"authorization": f"Bearer {STATIC}"}):
        resp = httpx.get(plano.url + "/plano/v1/keys", headers=headers)
        assert resp.status_code == 401
    with admin(plano) as c:
        assert c.get("/plano/v1/keys").status_code == 200


def raw(plano: Plano, header: bytes) -> tuple[int, dict[str, Any]]:
    host, port = plano.url.removeprefix("http://").split(":")
    body = json.dumps({"model": "gpt-4o-mini", "messages": USER}).encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + header
            + b"\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + body
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(rest)


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer \xff\xfe-not-utf8",
        "Authorization: Bearer cl\u00e9".encode(),
        b"Authorization: Bearer",
        b"Authorization: Token abc",
        b"x-api-key: " + b"k" * 4096,
    ],
)
def test_malformed_key_headers_are_401s(plano: Plano, header: bytes) -> None:
    status, body = raw(plano, header)
    assert status == 401 and body["error"]["type"] == "authentication_error"


def test_a_10kb_header_is_refused_by_the_edge_as_json(plano: Plano) -> None:
    status, body = raw(plano, b"Authorization: Bearer " + b"k" * 10_240)
    assert status == 400 and body["error"]["message"]  # past the 8 KB field limit: not a 500


def test_keys_are_stored_hashed(plano: Plano, home: Path) -> None:
    made = make_key(plano, id="hashed-one")
    conn = sqlite3.connect(home / ".plano" / "state.db")
    try:
        rows = conn.execute("SELECT * FROM api_keys WHERE id = 'hashed-one'").fetchall()
        everything = conn.execute("SELECT * FROM api_keys").fetchall()
    finally:
        conn.close()
    (row,) = rows
    assert hash_key(made["key"]) in row
    dump = repr(everything)
    assert made["key"] not in dump and made["key"][3:] not in dump and STATIC not in dump


def audit(plano: Plano, **query: str) -> list[dict[str, Any]]:
    with admin(plano) as c:
        resp = c.get("/plano/v1/audit", params=query)
    assert resp.status_code == 200, resp.text
    events: list[dict[str, Any]] = resp.json()["data"]
    return events


def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """``check()``'s first truthy result (audit events are written in the background: late
    on a loaded box), or its last one at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_allowed_and_denied_requests_and_admin_actions_are_audited(plano: Plano) -> None:
    with oai(plano, STATIC) as client:
        raw_ok = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=USER, extra_headers={"x-request-id": "audit-ok"}
        )
    assert raw_ok.status_code == 200
    with pytest.raises(openai.PermissionDeniedError), oai(plano, STATIC) as client:
        client.chat.completions.create(
            model="xai/grok-3", messages=USER, extra_headers={"x-request-id": "audit-403"}
        )
    made = make_key(plano, id="audited")
    with admin(plano) as c:
        c.delete("/plano/v1/keys/audited")
    ok = until(lambda: audit(plano, request_id="audit-ok"))
    (event,) = ok
    assert (event["action"], event["source"], event["principal"], event["team"]) == (
        "allow",
        "auth",
        "ci",
        "platform",
    )
    assert event["model"] == "openai/gpt-4o-mini" and event["status"] == 200
    (denied,) = until(lambda: audit(plano, request_id="audit-403"))
    assert (denied["action"], denied["rule"], denied["status"]) == (
        "deny",
        "model_not_allowed",
        403,
    )
    admin_events = audit(plano, kind="admin", principal="admin")
    assert {("key.create", "audited"), ("key.revoke", "audited")} <= {
        (e["action"], e["target"]) for e in admin_events
    }
    text = json.dumps(audit(plano, limit="1000"))
    assert STATIC not in text and made["key"] not in text and ADMIN not in text


def cli(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plano", *args],
        capture_output=True,
        text=True,
        cwd=home,
        timeout=60,
        env={**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "SIM_KEY": SIM_KEY, **(env or {})},
    )


def test_the_cli_makes_lists_and_revokes_keys_and_reads_the_audit(plano: Plano, home: Path) -> None:
    target = ["--url", plano.url]
    env = {"PLANO_ADMIN_KEY": ADMIN}
    made = cli(home, "keys", "create", "--id", "from-cli", "--team", "blue", "--model", "fast",
               "--expires-in", "7d", "--json", *target, env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]
    assert ask_anthropic(plano, key, "fast")
    listing = cli(home, "keys", "list", "--team", "blue", *target, env=env)
    assert listing.returncode == 0 and "from-cli" in listing.stdout and key not in listing.stdout
    shown = cli(home, "keys", "create", "--id", "shown", "--admin-key", ADMIN, *target)
    assert shown.returncode == 0 and "shown once" in shown.stdout and "pk-" in shown.stdout
    revoked = cli(home, "keys", "revoke", "from-cli", *target, env=env)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    with pytest.raises(anthropic.AuthenticationError):
        ask_anthropic(plano, key, "fast")
    refused = cli(home, "keys", "list", *target, env={"PLANO_ADMIN_KEY": "wrong"})
    assert refused.returncode == 1 and "401" in refused.stderr
    table = cli(home, "audit", "--principal", "admin", *target, env=env)
    assert table.returncode == 0 and "key.revoke" in table.stdout and "from-cli" in table.stdout
    as_json = cli(home, "audit", "--action", "key.create", "--json", *target, env=env)
    events = json.loads(as_json.stdout)["data"]
    assert {"from-cli", "shown"} <= {e["target"] for e in events}


def test_two_workers_see_a_revocation_within_the_cache_ttl(
    sims: dict[str, SimServer], tmp_path: Path
) -> None:
    p = start_plano(auth_config(sims, cache_ttl="1s"), tmp_path, "--workers", "2")
    try:
        made = make_key(p, id="shared")
        key = made["key"]
        pids = set()
        for _ in range(40):  # new connections: both workers serve (and cache) the key
            assert ask_openai(p, key)
            with admin(p) as c:
                pids.add(c.get("/plano/v1/status").json()["pid"])
        assert len(pids) == 2
        with admin(p) as c:
            assert c.delete("/plano/v1/keys/shared").status_code == 200
        revoked_at = time.monotonic()
        time.sleep(1.2)  # the documented bound: auth.cache_ttl
        for _ in range(40):
            with pytest.raises(openai.AuthenticationError):
                ask_openai(p, key)
        assert time.monotonic() - revoked_at < 30
        # Both workers wrote their refusals to the shared audit trail.
        denied = until(lambda: len(audit(p, action="deny")) >= 40)
        assert denied

        # A static key is revoked by removing it from the config and reloading; the reload
        # is audited once, though both workers applied it.
        assert ask_openai(p, STATIC)
        raw = auth_config(sims, cache_ttl="1s")
        raw["auth"]["keys"] = []
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
        p.proc.send_signal(signal.SIGHUP)

        def generations() -> set[int]:
            seen = set()
            for _ in range(10):
                with admin(p) as c:
                    seen.add(c.get("/plano/v1/status").json()["generation"])
            return seen

        assert until(lambda: generations() == {2}, timeout=15)
        with pytest.raises(openai.AuthenticationError):
            ask_openai(p, STATIC)
        reloads = until(lambda: audit(p, action="config.reload"))
        (reload,) = reloads
        assert reload["detail"]["generation"] == 2 and reload["principal"] == "admin"
    finally:
        assert p.stop() == 0, p.output()
