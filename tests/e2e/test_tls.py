"""TLS end to end through `plano up`: the openai SDK over https (a private CA), mutual TLS
on the admin listener, a reload that swaps the certificate, an upstream behind a private
CA that asks for the gateway's client certificate; bad files and busy ports refused in one
line."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from tests.certs import Issued, issue, make_ca
from tests.e2e.conftest import Plano, e2e_config, start_plano

from plano.sim import SimOptions, SimServer

pytestmark = pytest.mark.e2e
Run = Callable[..., subprocess.CompletedProcess[str]]


class TLSFront:
    """A TLS terminator in front of a plain simulator (the upstream "behind a private CA"),
    optionally asking for a client certificate; it counts the handshakes it completed."""

    def __init__(self, target_port: int, ctx: ssl.SSLContext) -> None:
        self.target_port = target_port
        self.ctx = ctx
        self.port = 0
        self.accepted = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        with contextlib.suppress(OSError, ConnectionError):
            w.close()

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ctx)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    def __enter__(self) -> TLSFront:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Issued]:
    d = tmp_path_factory.mktemp("pki")
    gateway_ca = make_ca(d / "gw", "Gateway CA")
    upstream_ca = make_ca(d / "up", "Upstream CA")
    clients_ca = make_ca(d / "cl", "Clients CA")
    return {
        "gateway_ca": gateway_ca,
        "first": issue(gateway_ca, d / "first", "gateway first"),
        "second": issue(gateway_ca, d / "second", "gateway second"),
        "upstream_ca": upstream_ca,
        "upstream": issue(upstream_ca, d / "upstream", "upstream"),
        "clients_ca": clients_ca,
        "operator": issue(clients_ca, d / "operator", "operator", client=True),
        "gateway_client": issue(clients_ca, d / "gwclient", "gateway client", client=True),
    }


@pytest.fixture(scope="module")
def upstream(pki: dict[str, Issued]) -> Iterator[TLSFront]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki["upstream"].cert, pki["upstream"].key)
    ctx.load_verify_locations(pki["clients_ca"].cert)
    ctx.verify_mode = ssl.CERT_REQUIRED  # the gateway must show its client certificate
    with (
        SimServer.in_thread(SimOptions(name="openai", tokens_per_second=0)) as sim,
        TLSFront(int(sim.url.rsplit(":", 1)[1].split("/")[0]), ctx) as front,
    ):
        yield front


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def public_looking(pki: dict[str, Issued]) -> Iterator[TLSFront]:
    """An upstream whose certificate no system CA signed (and no `tls:` trusts)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki["upstream"].cert, pki["upstream"].key)
    with (
        SimServer.in_thread(SimOptions(name="openai", tokens_per_second=0)) as sim,
        TLSFront(int(sim.url.rsplit(":", 1)[1].split("/")[0]), ctx) as front,
    ):
        yield front


def tls_config(
    pki: dict[str, Issued],
    upstream: TLSFront,
    admin_port: int,
    public_looking: TLSFront | None = None,
) -> dict[str, Any]:
    return {
        "version": "v0.4.0",
        "listeners": [
            {
                "type": "model",
                "name": "llm",
                "port": 12000,
                "tls": {"cert_file": "server.crt", "key_file": "server.key"},
            }
        ],
        "model_providers": [
            {
                "model": "openai/gpt-4o-mini",
                "access_key": "$SIM_KEY",
                "base_url": f"https://127.0.0.1:{upstream.port}/v1",
                "default": True,
                "tls": {
                    "ca_file": str(pki["upstream_ca"].cert),
                    "cert_file": str(pki["gateway_client"].cert),
                    "key_file": str(pki["gateway_client"].key),
                },
            },
            {
                # The same upstream by another name (another origin), trusted but without
                # the client certificate it asks for.
                "model": "groq/llama-3.3-70b-versatile",
                "access_key": "k",
                "base_url": f"https://localhost:{upstream.port}/v1",
                "tls": {"ca_file": str(pki["upstream_ca"].cert)},
            },
            *(
                [
                    {
                        "model": "mistral/mistral-small-latest",
                        "access_key": "k",
                        "base_url": f"https://127.0.0.1:{public_looking.port}/v1",
                    }
                ]
                if public_looking is not None
                else []
            ),
        ],
        "gateway": {
            "header_timeout": "2s",
            "admin_port": admin_port,
            "admin_key": "admin-secret-123456",
            "admin_tls": {
                "cert_file": "server.crt",
                "key_file": "server.key",
                "client_ca_file": str(pki["clients_ca"].cert),
            },
        },
    }


def _install(pki: dict[str, Issued], which: str, folder: Path) -> None:
    # Written to a new file, then renamed: a reader never sees half a certificate.
    for suffix, src in (("crt", pki[which].cert), ("key", pki[which].key)):
        tmp = folder / f"server.{suffix}.tmp"
        tmp.write_bytes(src.read_bytes())
        tmp.replace(folder / f"server.{suffix}")


def _peer_name(port: int, ca: Path) -> str:
    ctx = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        cert = tls.getpeercert()
    assert cert is not None
    return str(dict(x[0] for x in cert["subject"])["commonName"])


@pytest.fixture(scope="module")
def served(
    pki: dict[str, Issued],
    upstream: TLSFront,
    public_looking: TLSFront,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Plano, int, Path]]:
    folder = tmp_path_factory.mktemp("tls")
    _install(pki, "first", folder)
    admin_port = free_port()
    p = start_plano(tls_config(pki, upstream, admin_port, public_looking), folder)
    yield p, admin_port, folder
    assert p.stop() == 0, p.output()
    # Failed handshakes (no CA, no client certificate, plain HTTP) leave no traceback.
    assert "Traceback" not in p.output(), p.output()


def _trust(pki: dict[str, Issued], client: Issued | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki["gateway_ca"].cert))
    if client is not None:
        ctx.load_cert_chain(client.cert, client.key)
    return ctx


def _https(p: Plano) -> str:
    return p.url.replace("http://", "https://")


def test_openai_sdk_over_https_with_private_ca(
    served: tuple[Plano, int, Path], pki: dict[str, Issued], upstream: TLSFront
) -> None:
    p, _, _ = served
    before = upstream.accepted
    with httpx.Client(verify=_trust(pki)) as http:
        client = openai.OpenAI(base_url=_https(p) + "/v1", api_key="sk-x", http_client=http)
        answer = client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        stream = client.chat.completions.create(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert answer.choices[0].message.content and text
    # Both went upstream over the pooled TLS connection (custom CA + client certificate).
    assert upstream.accepted >= before + 1


@pytest.mark.parametrize(
    "model",
    ["groq/llama-3.3-70b-versatile", "mistral/mistral-small-latest"],
    ids=["no-client-certificate", "untrusted-upstream"],
)
def test_upstream_tls_failures_are_clean_errors(
    served: tuple[Plano, int, Path], pki: dict[str, Issued], model: str
) -> None:
    p, _, _ = served
    with httpx.Client(verify=_trust(pki)) as http:
        client = openai.OpenAI(
            base_url=_https(p) + "/v1", api_key="sk-x", http_client=http, max_retries=0
        )
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}]
            )
    assert info.value.status_code in (502, 503)
    assert model.split("/")[0] in info.value.message
    assert "Traceback" not in p.output()


def test_https_refused_without_the_private_ca(served: tuple[Plano, int, Path]) -> None:
    p, _, _ = served
    client = openai.OpenAI(base_url=_https(p) + "/v1", api_key="sk-x", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.models.list()
    # Plain HTTP on the TLS port is not served either.
    with pytest.raises(httpx.HTTPError):
        httpx.get(p.url + "/healthz", timeout=5)


def test_admin_listener_requires_a_client_certificate(
    served: tuple[Plano, int, Path], pki: dict[str, Issued], run_cli: Run
) -> None:
    _, admin_port, _ = served
    url = f"https://127.0.0.1:{admin_port}"
    ca = str(pki["gateway_ca"].cert)
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/healthz", verify=_trust(pki), timeout=5)
    op = pki["operator"]
    with httpx.Client(verify=_trust(pki, op)) as http:
        assert http.get(url + "/healthz").status_code == 200
    # The CLI's TLS plumbing: status through mutual TLS.
    r = run_cli(
        "status",
        "--url",
        url,
        "--admin-key",
        "admin-secret-123456",
        "--cacert",
        ca,
        "--cert",
        str(op.cert),
        "--key",
        str(op.key),
        "--json",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"tls": "mutual"' in r.stdout
    refused = run_cli("status", "--url", url, "--cacert", ca)
    assert refused.returncode == 1 and "cannot reach the gateway" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_silent_client_is_dropped_after_the_head_timeout(
    served: tuple[Plano, int, Path],
) -> None:
    p, _, _ = served
    port = int(p.url.rsplit(":", 1)[1])
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
        assert raw.recv(1) == b""  # never sent a ClientHello: closed by the gateway
    # header_timeout is 2 s; asyncio's own handshake limit would be 60 s.
    assert 1.5 < time.monotonic() - started < 8


def test_reload_swaps_the_certificate(
    served: tuple[Plano, int, Path], pki: dict[str, Issued]
) -> None:
    p, _, folder = served
    port = int(p.url.rsplit(":", 1)[1])
    ca = pki["gateway_ca"].cert
    assert _peer_name(port, ca) == "gateway first"
    _install(pki, "second", folder)
    p.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while _peer_name(port, ca) != "gateway second":
        assert time.monotonic() < deadline, p.output()
        time.sleep(0.1)
    assert "config reloaded: generation 2" in p.output()
    # A reload with a broken certificate is refused; the second one keeps serving.
    (folder / "server.key").write_bytes(pki["first"].key.read_bytes())
    p.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while "the key does not match the certificate" not in p.output():
        assert time.monotonic() < deadline, p.output()
        time.sleep(0.1)
    assert _peer_name(port, ca) == "gateway second"
    _install(pki, "second", folder)


def _bad_tls(sims: dict[str, SimServer], tmp_path: Path, tls: dict[str, str]) -> None:
    config = e2e_config(sims)
    config["listeners"][0]["tls"] = tls
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cert_file": "missing.crt", "key_file": "server.key"}, "missing.crt does not exist"),
        ({"cert_file": "server.crt", "key_file": "other.key"}, "key does not match"),
    ],
    ids=["missing", "mismatched"],
)
def test_bad_tls_files_are_one_line(
    run_cli: Run,
    tmp_path: Path,
    sims: dict[str, SimServer],
    pki: dict[str, Issued],
    files: dict[str, str],
    expected: str,
) -> None:
    (tmp_path / "server.crt").write_bytes(pki["first"].cert.read_bytes())
    (tmp_path / "server.key").write_bytes(pki["first"].key.read_bytes())
    (tmp_path / "other.key").write_bytes(pki["second"].key.read_bytes())
    _bad_tls(sims, tmp_path, files)
    checked = run_cli("validate")
    assert checked.returncode == 1
    lines = [line for line in checked.stdout.splitlines() if expected in line]
    assert len(lines) == 1 and lines[0].startswith("error listeners[0].tls:"), checked.stdout
    up = run_cli("up")
    assert up.returncode == 1 and expected in " ".join(up.stderr.split())
    assert "Traceback" not in checked.stderr + up.stderr


def test_port_in_use_is_one_line(
    run_cli: Run, tmp_path: Path, sims: dict[str, SimServer], pki: dict[str, Issued]
) -> None:
    (tmp_path / "server.crt").write_bytes(pki["first"].cert.read_bytes())
    (tmp_path / "server.key").write_bytes(pki["first"].key.read_bytes())
    _bad_tls(sims, tmp_path, {"cert_file": "server.crt", "key_file": "server.key"})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        up = run_cli("up", "--port", str(port))
    assert up.returncode == 1
    errors = [line for line in up.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "port is in use" in errors[0], up.stderr
    assert "Traceback" not in up.stderr


def test_supervised_workers_all_swap_the_certificate(
    pki: dict[str, Issued], upstream: TLSFront, tmp_path: Path
) -> None:
    _install(pki, "first", tmp_path)
    config = tls_config(pki, upstream, free_port())
    config["gateway"]["workers"] = 2
    p = start_plano(config, tmp_path)
    try:
        port = int(p.url.rsplit(":", 1)[1])
        ca = pki["gateway_ca"].cert
        assert {_peer_name(port, ca) for _ in range(10)} == {"gateway first"}
        _install(pki, "second", tmp_path)
        p.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while p.output().count("config reloaded: generation 2") < 2:
            assert time.monotonic() < deadline, p.output()
            time.sleep(0.1)
        # Whichever worker accepts the connection presents the new certificate.
        assert {_peer_name(port, ca) for _ in range(20)} == {"gateway second"}
    finally:
        assert p.stop() == 0, p.output()
