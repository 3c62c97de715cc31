"""TLS contexts from certificate files: the listeners' (server side, optionally mutual) and
the upstream pools' (client side: a custom CA bundle, a client certificate).

Contexts are built once (at config check time) and reused for every handshake. A file that
is missing, unreadable, not PEM, or a key that does not match its certificate becomes one
:class:`TLSFileError` whose message is one line naming the file, never an OpenSSL traceback.

Listener certificates are reloadable: a listening socket keeps the context it started with
(:class:`ServerTLS`), whose SNI callback, run at every handshake (with or without SNI),
moves the connection onto the current generation's context. The new certificate and client
CA then apply to new handshakes; open connections keep theirs. Whether a listener speaks
TLS, and whether it asks for client certificates, are fixed until a restart (OpenSSL copies
the verify mode into each connection before the callback runs).
"""

from __future__ import annotations

import hashlib
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ServerTLS",
    "TLSContext",
    "TLSFileError",
    "TLSIdentity",
    "client_context",
    "config_path",
    "server_context",
]


class TLSFileError(Exception):
    """A TLS file that cannot be used; the message is one line."""


def _readable(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TLSFileError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise TLSFileError(f"{what} {path} is a directory, not a file") from None
    except PermissionError:
        raise TLSFileError(f"{what} {path} is not readable (permission denied)") from None
    except OSError as exc:
        raise TLSFileError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None


def _digest(*blobs: bytes) -> str:
    h = hashlib.sha256()
    for blob in blobs:
        h.update(len(blob).to_bytes(8, "big"))
        h.update(blob)
    return h.hexdigest()[:16]


def _why(exc: ssl.SSLError) -> str:
    reason = f"{exc.reason or ''} {exc}".upper()
    if "KEY_VALUES_MISMATCH" in reason:
        return "the key does not match the certificate"
    if "BAD_DECRYPT" in reason or "BAD_PASSWORD" in reason:
        return "the key is encrypted; give an unencrypted key file"
    if "NO_START_LINE" in reason or "PEM" in reason:
        return "not a PEM certificate and key"
    return exc.reason or exc.strerror or str(exc)


def _load_chain(ctx: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        ctx.load_cert_chain(str(cert), str(key), password=_no_password)
    except ssl.SSLError as exc:
        raise TLSFileError(f"certificate {cert} / key {key}: {_why(exc)}") from None
    except OSError as exc:
        raise TLSFileError(f"certificate {cert} / key {key}: {exc.strerror or exc}") from None


class _EncryptedKey(TLSFileError):
    """Raised from the password callback; :func:`_chain` names the key file."""


def _no_password() -> str:
    # Asked only for an encrypted key: fail rather than prompt on a terminal.
    raise _EncryptedKey("encrypted")


def _load_ca(ctx: ssl.SSLContext, ca: Path, what: str) -> bytes:
    data = _readable(ca, what)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise TLSFileError(f"{what} {ca} holds no PEM certificate")
    try:
        ctx.load_verify_locations(cadata=data.decode("ascii", errors="replace"))
    except (ssl.SSLError, ValueError) as exc:
        why = _why(exc) if isinstance(exc, ssl.SSLError) else str(exc)
        raise TLSFileError(f"{what} {ca}: {why}") from None
    return data


@dataclass(frozen=True, slots=True)
class TLSIdentity:
    """A certificate, its key and (server side) the CA that signs client certificates."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


def _chain(ctx: ssl.SSLContext, cert: Path, key: Path) -> list[bytes]:
    blobs = [_readable(cert, "certificate"), _readable(key, "key")]
    if b"CERTIFICATE-----" not in blobs[0]:
        raise TLSFileError(f"certificate {cert} is not a PEM certificate")
    if b"PRIVATE KEY-----" not in blobs[1]:
        raise TLSFileError(f"key {key} is not a PEM private key")
    try:
        _load_chain(ctx, cert, key)
    except _EncryptedKey:
        raise TLSFileError(f"key {key} is encrypted; give an unencrypted key file") from None
    return blobs


@dataclass(frozen=True, eq=False, slots=True)
class TLSContext:
    """A context, built once, and the digest of the files it was built from (equal
    digests: same files; a reload keeps an upstream pool's connections only then)."""

    context: ssl.SSLContext
    fingerprint: str
    mutual: bool = False


def server_context(identity: TLSIdentity) -> TLSContext:
    """A listener's context (TLS 1.2+); with a client CA, client certificates are required."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    blobs = _chain(ctx, identity.cert_file, identity.key_file)
    if identity.client_ca_file is not None:
        blobs.append(_load_ca(ctx, identity.client_ca_file, "client CA file"))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return TLSContext(ctx, _digest(*blobs), mutual=identity.client_ca_file is not None)


def client_context(
    ca_file: Path | None = None, cert_file: Path | None = None, key_file: Path | None = None
) -> TLSContext:
    """An upstream pool's context: the system's CAs, or ``ca_file`` instead; a client
    certificate when ``cert_file`` and ``key_file`` are given."""
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    blobs: list[bytes] = []
    if ca_file is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no system CAs: only the bundle
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        blobs.append(_load_ca(ctx, ca_file, "CA bundle"))
    if cert_file is not None and key_file is not None:
        blobs += _chain(ctx, cert_file, key_file)
    return TLSContext(ctx, _digest(*blobs))


@dataclass(eq=False)
class ServerTLS:
    """A listener's TLS for the life of its socket: :attr:`front` is the context the socket
    serves with; :meth:`swap` makes new handshakes use another generation's context."""

    front: ssl.SSLContext
    mutual: bool
    fingerprint: str
    _current: ssl.SSLContext = field(init=False)

    def __post_init__(self) -> None:
        self._current = self.front
        self.front.sni_callback = self._pick

    @classmethod
    def of(cls, built: TLSContext) -> ServerTLS:
        return cls(built.context, built.mutual, built.fingerprint)

    def _pick(
        self, conn: ssl.SSLObject | ssl.SSLSocket, _name: str | None, ctx: ssl.SSLContext
    ) -> None:
        current = self._current
        if current is not ctx:
            conn.context = current

    def swap(self, built: TLSContext) -> bool:
        """New handshakes use ``built``'s certificate and client CA; whether it changed."""
        changed = built.fingerprint != self.fingerprint
        self._current = built.context
        self.fingerprint = built.fingerprint
        return changed


def config_path(value: str, base: Path) -> Path:
    """A path from the config, relative to the config file's folder."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path
