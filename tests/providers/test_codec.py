"""plano.providers.codec: URL joining, Retry-After parsing."""

from __future__ import annotations

import math

import pytest
from multidict import CIMultiDict

from plano.providers.codec import join_url, retry_after

V1 = "/v1/chat/completions"
AZ = "/openai/deployments/d1/chat/completions"


@pytest.mark.parametrize(
    ("base", "path", "url"),
    [
        ("https://api.openai.com", V1, "https://api.openai.com" + V1),
        ("https://api.groq.com/openai", V1, "https://api.groq.com/openai" + V1),
        # A base that already carries a version keeps it and gets only the endpoint.
        ("http://127.0.0.1:8000/v1", V1, "http://127.0.0.1:8000/v1/chat/completions"),
        ("https://h.example/v4", "/v4/chat/completions", "https://h.example/v4/chat/completions"),
        ("https://h.example/api/v1beta", V1, "https://h.example/api/v1beta/chat/completions"),
        ("https://h.example/v2", V1, "https://h.example/v2/chat/completions"),
        # Segments that only look like versions are not versions.
        ("https://h.example/vision", V1, "https://h.example/vision" + V1),
        ("https://h.example/v1/proxy", V1, "https://h.example/v1/proxy" + V1),
        ("https://r.example", AZ, "https://r.example" + AZ),
    ],
)  # fmt: skip
def test_join_url(base: str, path: str, url: str) -> None:
    assert join_url(base, path) == url


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # dates are ignored
        ({"retry-after": ""}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # ms wins
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),  # bad ms falls back
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after(CIMultiDict(headers)) == seconds


def test_retry_after_reads_headers_case_insensitively() -> None:
    assert retry_after(CIMultiDict({"Retry-After": "4"})) == 4.0
    assert retry_after(CIMultiDict({"Retry-After-Ms": "40"})) == 0.04


@pytest.mark.parametrize(
    "headers", [{"retry-after": "nan"}, {"retry-after": "inf"}, {"retry-after-ms": "-500"}]
)
def test_retry_after_is_finite_and_not_negative(headers: dict[str, str]) -> None:
    value = retry_after(CIMultiDict(headers))
    assert value is None or (math.isfinite(value) and value >= 0)
