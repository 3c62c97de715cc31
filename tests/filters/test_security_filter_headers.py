"""A remote filter is another origin: the client's Plano virtual key (``x-plano-key``, the
header ``filters/auth.py`` reads first) reaches it only with ``forward_auth: true``, like the
other credentials."""

from __future__ import annotations

from plano.core.trace import TraceContext
from plano.filters.client import CREDENTIAL_HEADERS, filter_headers
from plano.pipeline.context import RequestContext

HEADERS = {
    "x-plano-key": "vk-SECRET-virtual-key-0123",
    "X-Plano-Key": "vk-SECRET-virtual-key-0123",
    "x-plano-admin-key": "adm-SECRET",
    "proxy-authorization": "Basic c2VjcmV0",
    "x-team": "blue",
}


def _ctx() -> RequestContext:
    trace = TraceContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    return RequestContext("req_1", "openai_chat", HEADERS, trace=trace)


def test_the_plano_key_is_a_credential() -> None:
    assert "x-plano-key" in CREDENTIAL_HEADERS
    out = filter_headers(_ctx(), "guard", forward_auth=False)
    assert "SECRET" not in repr(out) and "c2VjcmV0" not in repr(out)
    assert out["x-team"] == "blue"


def test_forward_auth_passes_it_on_and_never_the_admin_key() -> None:
    out = filter_headers(_ctx(), "guard", forward_auth=True)
    assert out["x-plano-key"].startswith("vk-SECRET")
    assert "x-plano-admin-key" not in out
