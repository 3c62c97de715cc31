"""Pub/sub with ``auth:`` on, through `plano up`: the topics API authenticates by its own
identity rules (a managed agent's token, the admin key, static and stored virtual keys), not
by the model listener's auth filter, which would answer 401 to agent tokens and the admin key."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Plano, e2e_config, free_port, start_plano

from plano.sim import SimServer

pytestmark = pytest.mark.e2e

ADMIN = "admin-secret-for-pubsub-0123456789"
STATIC = "static-pubsub-key-0123456789abcdef"

#: A managed agent that, asked ``GET /publish``, publishes to topic ``hello`` with its own
#: PLANO_AGENT_TOKEN and answers the gateway's status.
AGENT = """
import http.server, os, urllib.error, urllib.request

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 200
        if self.path == "/publish":
            req = urllib.request.Request(
                os.environ["PLANO_URL"] + "/v1/topics/hello", data=b'{"hi": 1}', method="POST",
                headers={"authorization": "Bearer " + os.environ["PLANO_AGENT_TOKEN"],
                         "content-type": "application/json"})
            try:
                status = urllib.request.urlopen(req, timeout=10).status
            except urllib.error.HTTPError as err:
                status = err.code
        self.send_response(200)
        self.end_headers()
        self.wfile.write(str(status).encode())

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


@pytest.fixture(scope="module")
def setup(
    sims: dict[str, SimServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Plano, str]]:
    home = tmp_path_factory.mktemp("pubsub-auth")
    (home / "agent.py").write_text(AGENT)
    agent_url = f"http://127.0.0.1:{free_port()}"
    config: dict[str, Any] = e2e_config(sims)
    config["gateway"] = {"admin_key": ADMIN}
    config["auth"] = {"keys": [{"id": "ci", "key": STATIC}]}
    config["agents"] = [
        {
            "id": "printer",
            "url": agent_url,
            "run": {"command": [sys.executable, str(home / "agent.py")], "cwd": str(home)},
        }
    ]
    plano = start_plano(config, home)
    yield plano, agent_url
    assert plano.stop() == 0, plano.output()


def _publish(plano: Plano, headers: dict[str, str]) -> int:
    resp = httpx.post(plano.url + "/v1/topics/hello", content=b"x", headers=headers, timeout=10)
    return resp.status_code


def _messages(plano: Plano, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(plano.url + "/v1/topics/hello/messages?after=0", headers=headers, timeout=10)


def test_a_managed_agent_publishes_with_its_token(setup: tuple[Plano, str]) -> None:
    plano, agent_url = setup
    with urllib.request.urlopen(agent_url + "/publish", timeout=20) as resp:
        assert resp.read() == b"202", plano.output()[-2000:]
    # The admin key reads it (Authorization: Bearer works as well as x-plano-key).
    page = _messages(plano, {"authorization": f"Bearer {ADMIN}"})
    assert page.status_code == 200, page.text
    assert "printer" in [m["publisher"] for m in page.json()["messages"]]


def test_static_and_stored_virtual_keys_publish_and_subscribe(setup: tuple[Plano, str]) -> None:
    plano, _ = setup
    assert _publish(plano, {"authorization": f"Bearer {STATIC}"}) == 202
    made = httpx.post(
        plano.url + "/plano/v1/keys",
        json={"user": "alice"},
        headers={"authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert _publish(plano, {"x-plano-key": key}) == 202
    page = _messages(plano, {"authorization": f"Bearer {key}"})
    assert page.status_code == 200
    assert f"key:{made.json()['id']}" in [m["publisher"] for m in page.json()["messages"]]
    revoked = httpx.delete(
        plano.url + f"/plano/v1/keys/{made.json()['id']}",
        headers={"authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert revoked.status_code == 200
    assert _publish(plano, {"x-plano-key": key}) == 401


def test_nobody_and_a_wrong_key_get_401_and_models_still_need_a_key(
    setup: tuple[Plano, str],
) -> None:
    plano, _ = setup
    assert _publish(plano, {}) == 401
    assert _publish(plano, {"authorization": "Bearer not-a-key-0123456789"}) == 401
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    req = urllib.request.Request(
        plano.url + "/v1/chat/completions",
        data=body.encode(),
        headers={"content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401
