"""Auth headers per provider auth style (data-driven) and pass-through of client credentials."""

from __future__ import annotations

from collections.abc import Mapping

from plano.providers.deployment import Deployment

__all__ = ["auth_headers"]


def auth_headers(dep: Deployment, client_headers: Mapping[str, str]) -> dict[str, str]:
    if dep.passthrough_auth:
        # The client's own credential goes upstream unchanged, in the header it used.
        out = {}
        for name in ("authorization", "x-api-key", "api-key", "x-goog-api-key"):
            value = client_headers.get(name)
            if value:
                out[name] = value
        return out
    key = dep.access_key
    if not key:
        return {}
    style = dep.spec.auth
    if style == "bearer":
        return {"authorization": f"Bearer {key}"}
    if style == "none":
        return {}
    return {style: key}
