"""``tracing.span_attributes.header_prefixes`` copies request headers into span attributes
(``observe/tracing_build.py``: report-only for this review, the tracing helper owns it). A
prefix that happens to cover a credential header (``x-plano-`` covers ``x-plano-key`` and
``x-plano-admin-key``; ``x-`` covers ``x-api-key``) must not put the secret in a trace.
They are skipped whatever the prefix."""

from __future__ import annotations

import pytest

from plano.observe.tracing_build import header_attributes

HEADERS = {
    "x-plano-key": "vk-SECRET-1",
    "x-plano-admin-key": "adm-SECRET-2",
    "x-api-key": "sk-SECRET-3",
    "x-plano-workspace": "blue",
}


def test_a_plain_header_becomes_an_attribute() -> None:
    assert header_attributes(HEADERS, ("x-plano-",))["workspace"] == "blue"


@pytest.mark.parametrize("prefix", ["x-plano-", "x-"])
def test_credential_headers_never_become_attributes(prefix: str) -> None:
    attrs = header_attributes(HEADERS, (prefix,))
    assert "SECRET" not in repr(attrs), attrs
