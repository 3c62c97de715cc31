"""Which request headers carry a client's credentials: the one list every hop consults
before passing headers on (filters, agents, span attributes). Pure data."""

from __future__ import annotations

__all__ = ["ADMIN_KEY_HEADER", "CREDENTIAL_HEADERS", "NEVER_COPIED", "is_credential"]

#: The client's credentials: a filter or agent gets them only with ``forward_auth: true``.
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "x-plano-key",  # the client's Plano virtual key (filters/auth.py reads it first)
    }
)
#: The gateway's admin key header: never forwarded to anyone, whatever ``forward_auth`` says.
ADMIN_KEY_HEADER = "x-plano-admin-key"
#: Never copied anywhere a third party or an operator's trace store could read it.
NEVER_COPIED = CREDENTIAL_HEADERS | {ADMIN_KEY_HEADER}


def is_credential(name: str) -> bool:
    """Whether a header (any case) carries a credential or the admin key."""
    return name.lower() in NEVER_COPIED
