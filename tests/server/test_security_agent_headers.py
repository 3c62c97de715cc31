"""What an agent receives of the client's headers (``server/agent_calls.py``: report-only
for this review, its owner is still editing it). An agent is another origin: the client's
credentials for the gateway (the admin key, a Plano key), its cookies and proxy credentials
must not reach it. Marked xfail until ``hop_headers`` drops them: remove the marker then."""

from __future__ import annotations

import pytest

from plano.core.trace import TraceContext
from plano.pipeline.context import RequestContext
from plano.server.agent_calls import hop_headers

SECRETS = {
    "authorization": "Bearer vk-SECRET-1",
    "x-api-key": "vk-SECRET-2",
    "x-plano-key": "vk-SECRET-3",
    "x-plano-admin-key": "adm-SECRET-4",
    "cookie": "session=SECRET-5",
    "proxy-authorization": "Basic SECRET-6",
    "api-key": "azure-SECRET-7",
    "x-goog-api-key": "goog-SECRET-8",
}


def _ctx(headers: dict[str, str]) -> RequestContext:
    trace = TraceContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    return RequestContext("req_1", "openai_chat", headers, trace=trace)


def test_the_gateway_credentials_that_are_dropped_today() -> None:
    headers = {**SECRETS, "x-team": "blue"}
    out = hop_headers(_ctx(headers), "a1", "agents", headers)
    for name in ("authorization", "x-api-key", "x-plano-key"):
        assert name not in out
    assert out["x-team"] == "blue"


@pytest.mark.xfail(
    strict=True,
    reason="agent_calls._DROP is a deny-list without x-plano-admin-key, cookie, "
    "proxy-authorization, api-key, x-goog-api-key (security review finding)",
)
def test_no_client_credential_reaches_an_agent() -> None:
    headers = {**SECRETS, "x-team": "blue"}
    out = hop_headers(_ctx(headers), "a1", "agents", headers)
    assert "SECRET" not in repr(out), {k: v for k, v in out.items() if "SECRET" in v}
