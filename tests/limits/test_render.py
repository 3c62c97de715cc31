"""plano.limits.render: dollar amounts, OpenAI's rate-limit headers and their durations."""

from __future__ import annotations

import pytest

from plano.limits.render import (
    WindowShown,
    duration,
    iso_utc,
    ratelimit_headers,
    usd,
    window_reset,
)
from plano.store.protocols import WindowDecision


@pytest.mark.parametrize(
    ("nano", "text"),
    [
        (10_000_000_000, "$10.00"),
        (1_234_560_000_000, "$1,234.56"),
        (0, "$0.00"),
        (500_000_000, "$0.50"),
        (31_200_000, "$0.0312"),
        (200_000, "$0.0002"),
        (12_345, "$0.00001234"),
        (25_650, "$0.00002565"),
    ],
)
def test_usd(nano: int, text: str) -> None:
    assert usd(nano) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0ms"),
        (0.2501, "251ms"),
        (1.0, "1s"),
        (1.2, "2s"),
        (59.5, "1m0s"),
        (360, "6m0s"),
        (3723, "1h2m3s"),
        (86400, "24h0m0s"),
    ],
)
def test_duration_is_openais_format(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"


def test_window_reset_is_the_end_of_the_next_bucket() -> None:
    assert window_reset(120.0, 60.0) == 120.0  # at a bucket's start: two whole windows
    assert window_reset(150.0, 60.0) == 90.0
    assert window_reset(179.0, 60.0) == pytest.approx(61.0)


def shown(kind: str, limit: float, remaining: float, reset: float = 10.0) -> WindowShown:
    d = WindowDecision(True, limit - remaining, remaining, 0.0)
    return WindowShown(kind, limit, d, reset)  # type: ignore[arg-type]


def test_headers_show_the_tightest_window_of_each_kind() -> None:
    h = ratelimit_headers(
        [
            shown("requests", 100, 41.6, 30.0),
            shown("requests", 10, 3.2, 59.0),
            shown("tokens", 5000, 4100.9, 0.5),
        ]
    )
    assert h == {
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-remaining-requests": "3",
        "x-ratelimit-reset-requests": "59s",
        "x-ratelimit-limit-tokens": "5000",
        "x-ratelimit-remaining-tokens": "4100",
        "x-ratelimit-reset-tokens": "500ms",
    }


def test_no_windows_no_headers() -> None:
    assert ratelimit_headers([]) == {}
    only_tokens = ratelimit_headers([shown("tokens", 10, -1.0)])
    assert only_tokens["x-ratelimit-remaining-tokens"] == "0"
    assert "x-ratelimit-limit-requests" not in only_tokens
