"""plano.tls: contexts from files, one-line errors for bad files, the reloadable listener
context (a swap changes the certificate new handshakes get)."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from tests.certs import Issued, issue, make_ca

from plano.tls import (
    ServerTLS,
    TLSFileError,
    TLSIdentity,
    client_context,
    config_path,
    server_context,
)


@pytest.fixture
def ca(tmp_path: Path) -> Issued:
    return make_ca(tmp_path / "ca")


@pytest.fixture
def server(ca: Issued, tmp_path: Path) -> Issued:
    return issue(ca, tmp_path / "srv", "server one")


def test_server_context_loads_and_fingerprints(server: Issued) -> None:
    a = server_context(TLSIdentity(server.cert, server.key))
    b = server_context(TLSIdentity(server.cert, server.key))
    assert isinstance(a.context, ssl.SSLContext)
    assert not a.mutual and a.context.verify_mode == ssl.CERT_NONE
    assert a.fingerprint == b.fingerprint


def test_client_ca_makes_it_mutual(server: Issued, ca: Issued) -> None:
    built = server_context(TLSIdentity(server.cert, server.key, ca.cert))
    assert built.mutual and built.context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda s, o, d: (d / "nope.crt", s.key), "does not exist"),
        (lambda s, o, d: (d, s.key), "is a directory"),
        (lambda s, o, d: (s.cert, o.key), "the key does not match the certificate"),
        (lambda s, o, d: (s.key, s.key), "is not a PEM certificate"),
    ],
    ids=["missing", "directory", "mismatch", "not-a-cert"],
)
def test_bad_files_are_one_line(
    server: Issued, ca: Issued, tmp_path: Path, break_it: object, expected: str
) -> None:
    other = issue(ca, tmp_path / "other", "server two")
    cert, key = break_it(server, other, tmp_path)  # type: ignore[operator]
    with pytest.raises(TLSFileError) as info:
        server_context(TLSIdentity(cert, key))
    message = str(info.value)
    assert expected in message and "\n" not in message


def test_encrypted_key_is_refused_without_prompting(server: Issued, tmp_path: Path) -> None:
    locked = tmp_path / "locked.key"
    locked.write_bytes(
        server.key_obj.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(TLSFileError) as refused:
        server_context(TLSIdentity(server.cert, locked))
    assert str(refused.value) == f"key {locked} is encrypted; give an unencrypted key file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(server: Issued) -> None:
    server.key.chmod(0)
    with pytest.raises(TLSFileError, match="not readable"):
        server_context(TLSIdentity(server.cert, server.key))


def test_client_ca_file_without_certificates(server: Issued, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    with pytest.raises(TLSFileError, match="holds no PEM certificate"):
        server_context(TLSIdentity(server.cert, server.key, empty))
    with pytest.raises(TLSFileError, match="CA bundle"):
        client_context(empty)


def test_config_path_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    assert config_path("certs/a.pem", tmp_path) == tmp_path / "certs/a.pem"
    assert config_path("/etc/a.pem", tmp_path) == Path("/etc/a.pem")


async def _handshake(port: int, ca: Path) -> str:
    ctx = client_context(ca).context
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    peer = writer.get_extra_info("peercert")
    writer.close()
    await reader.read()
    return str(dict(x[0] for x in peer["subject"])["commonName"])


async def test_swap_changes_the_certificate_of_new_handshakes(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    first = issue(ca, tmp_path / "a", "first")
    second = issue(ca, tmp_path / "b", "second")
    tls = ServerTLS.of(server_context(TLSIdentity(first.cert, first.key)))

    async def serve(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls.front)
    port = srv.sockets[0].getsockname()[1]
    try:
        assert await _handshake(port, ca.cert) == "first"
        assert tls.swap(server_context(TLSIdentity(second.cert, second.key)))
        assert await _handshake(port, ca.cert) == "second"
        assert not tls.swap(server_context(TLSIdentity(second.cert, second.key)))
    finally:
        srv.close()
        await srv.wait_closed()
