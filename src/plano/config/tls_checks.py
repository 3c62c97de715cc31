"""Checking the TLS settings by building their contexts: a missing or unreadable file, a
file that is not PEM, or a key that does not match its certificate is one issue naming the
key path and the file. The contexts built are kept (:class:`TLSMaterial`) for the runtime.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from plano.config.issues import ConfigIssue
from plano.config.schema import PlanoConfig
from plano.config.tls import ListenerTLS, TLSMaterial, UpstreamTLS
from plano.providers.table import resolve_spec
from plano.tls import (
    TLSContext,
    TLSFileError,
    TLSIdentity,
    client_context,
    config_path,
    server_context,
)

__all__ = ["ADMIN_LISTENER", "admin_tls", "check_tls"]

#: The name the admin listener (``gateway.admin_port``) is served under.
ADMIN_LISTENER = "admin"


def admin_tls(config: PlanoConfig) -> ListenerTLS | None:
    """The admin listener's TLS: ``gateway.admin_tls``, else the first model listener's."""
    return config.gateway.admin_tls or config.model_listener.tls


def _server(tls: ListenerTLS, base: Path) -> TLSContext:
    ca = tls.client_ca_file
    identity = TLSIdentity(
        config_path(tls.cert_file, base),
        config_path(tls.key_file, base),
        config_path(ca, base) if ca else None,
    )
    return server_context(identity)


def _client(tls: UpstreamTLS, base: Path) -> TLSContext:
    def path(value: str | None) -> Path | None:
        return config_path(value, base) if value else None

    return client_context(path(tls.ca_file), path(tls.cert_file), path(tls.key_file))


def _listeners(config: PlanoConfig, base: Path) -> tuple[dict[str, TLSContext], list[ConfigIssue]]:
    built: dict[str, TLSContext] = {}
    issues: list[ConfigIssue] = []
    wanted = [(lst.name, lst.tls, f"{lst.source_path}.tls") for lst in config.listeners]
    if config.gateway.admin_port is not None:
        at = "gateway.admin_tls" if config.gateway.admin_tls else "gateway.admin_port"
        wanted.append((ADMIN_LISTENER, admin_tls(config), at))
    for name, tls, at in wanted:
        if tls is None:
            continue
        try:
            built[name] = _server(tls, base)
        except TLSFileError as exc:
            issues.append(ConfigIssue(at, str(exc)))
    return built, issues


def _upstream(config: PlanoConfig, base: Path) -> tuple[dict[str, TLSContext], list[ConfigIssue]]:
    built: dict[str, TLSContext] = {}
    first: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    for provider in config.model_providers:
        if provider.tls is None:
            continue
        at = f"{provider.source_path}.tls"
        spec = resolve_spec(provider.provider, provider.provider_interface)
        url = provider.base_url or (spec.base_url if spec is not None else None)
        if not url:
            continue  # the provider checks already report the missing base_url
        parts = urlsplit(url)
        if parts.scheme != "https":
            issues.append(ConfigIssue(at, f"applies to https only; base_url is {url}", "warning"))
            continue
        origin = f"{parts.scheme}://{parts.netloc}"
        try:
            ctx = _client(provider.tls, base)
        except TLSFileError as exc:
            issues.append(ConfigIssue(at, str(exc)))
            continue
        if origin in built and built[origin].fingerprint != ctx.fingerprint:
            # One connection pool per origin, so one set of TLS files per origin.
            message = f"{origin} is also called by {first[origin]} with other tls files"
            issues.append(ConfigIssue(at, message + "; one origin takes one tls setting"))
            continue
        built.setdefault(origin, ctx)
        first.setdefault(origin, provider.source_path)
    return built, issues


def check_tls(config: PlanoConfig, base: Path) -> tuple[TLSMaterial, list[ConfigIssue]]:
    """Build every TLS context the config asks for (files relative to ``base``)."""
    listeners, issues = _listeners(config, base)
    upstream, more = _upstream(config, base)
    return TLSMaterial(listeners, upstream), issues + more
