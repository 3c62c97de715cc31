"""The upstream pool's TLS: one context per origin, built once (the config check's), used by
that origin's connector; a reload keeps warm connections only when the TLS files are the
same."""

from __future__ import annotations

from pathlib import Path

from tests.certs import issue, make_ca

from plano.providers.transport import Timeouts, UpstreamPool
from plano.tls import TLSContext, client_context

ORIGIN = "https://models.internal:8443"


def _ctx(tmp_path: Path, name: str, *, client: bool) -> TLSContext:
    ca = make_ca(tmp_path / name, f"{name} CA")
    if not client:
        return client_context(ca.cert)
    cert = issue(ca, tmp_path / name, f"{name} client", client=True)
    return client_context(ca.cert, cert.cert, cert.key)


async def test_the_origin_connector_uses_its_context(tmp_path: Path) -> None:
    tls = _ctx(tmp_path, "a", client=True)
    pool = UpstreamPool(Timeouts(), tls={ORIGIN: tls})
    try:
        session = pool.session(ORIGIN + "/v1/chat/completions")
        assert session.connector is not None
        assert session.connector._ssl is tls.context  # type: ignore[attr-defined]
        # The same session (and context) for every call to the origin.
        assert pool.session(ORIGIN + "/v1/models") is session
        other = pool.session("https://api.openai.com/v1/chat/completions")
        assert other.connector is not None
        assert other.connector._ssl is True  # type: ignore[attr-defined]
    finally:
        await pool.close()


async def test_reload_keeps_connections_only_for_unchanged_tls(tmp_path: Path) -> None:
    first = _ctx(tmp_path, "a", client=False)
    rebuilt = client_context(tmp_path / "a" / "a-ca.crt")  # same file: same fingerprint
    changed = _ctx(tmp_path, "b", client=False)
    old = UpstreamPool(Timeouts(), tls={ORIGIN: first})
    old.session(ORIGIN + "/v1")
    try:
        same = UpstreamPool(Timeouts(), tls={ORIGIN: rebuilt})
        assert rebuilt.fingerprint == first.fingerprint
        assert same.adopt(old, [ORIGIN]) == [ORIGIN]
        other = UpstreamPool(Timeouts(), tls={ORIGIN: changed})
        assert other.adopt(old, [ORIGIN]) == []
        await other.close()
        await same.close()
    finally:
        await old.close()
