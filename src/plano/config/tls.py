"""TLS settings (Plano-for-Python's keys): a listener's certificate (``listeners[].tls``,
``gateway.admin_tls``) and an upstream provider's CA bundle and client certificate
(``model_providers[].tls``). File paths are relative to the config file's folder.

:class:`TLSMaterial` is what checking them built (``config/tls_checks.py``): the contexts,
attached to the config so the runtime serves exactly what ``plano validate`` loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import Field, model_validator

from plano.config.sections import ConfigModel
from plano.tls import TLSContext

__all__ = ["ListenerTLS", "TLSMaterial", "UpstreamTLS"]


class ListenerTLS(ConfigModel):
    """HTTPS on a listener. Reloaded with the config: new handshakes use the new files."""

    cert_file: str = Field(
        description="PEM certificate (chain) the listener presents; relative to the config file."
    )
    key_file: str = Field(description="PEM private key of cert_file (unencrypted).")
    client_ca_file: str | None = Field(
        default=None,
        description="PEM CA bundle that signs client certificates: set, clients must present "
        "one (mutual TLS). Turning it on or off needs a restart; changing the file does not.",
    )


class UpstreamTLS(ConfigModel):
    """How the gateway's connections to one provider's https base_url verify and identify."""

    ca_file: str | None = Field(
        default=None,
        description="PEM CA bundle trusted for this provider instead of the system's CAs "
        "(a private CA in front of a self-hosted model).",
    )
    cert_file: str | None = Field(
        default=None, description="PEM client certificate sent to the provider (mutual TLS)."
    )
    key_file: str | None = Field(default=None, description="PEM private key of cert_file.")

    @model_validator(mode="after")
    def _pair(self) -> UpstreamTLS:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both or neither")
        return self


@dataclass(frozen=True, slots=True)
class TLSMaterial:
    """The contexts a config's TLS settings built, once."""

    #: Per listener name (the admin listener's name is ``admin``).
    listeners: Mapping[str, TLSContext] = field(default_factory=dict)
    #: Per upstream origin (``https://host:port``).
    upstream: Mapping[str, TLSContext] = field(default_factory=dict)
