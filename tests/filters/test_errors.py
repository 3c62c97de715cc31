"""Filter errors: statuses, types the client shapes render, the filter's own message."""

from __future__ import annotations

import pytest

from plano.filters.errors import (
    FilterFailed,
    FilterRejected,
    FilterReplyInvalid,
    FilterTimeout,
    error_detail,
)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"error": {"message": "no PII allowed"}}', "no PII allowed"),
        (b'{"error": "blocked"}', "blocked"),
        (b'{"message": "too long"}', "too long"),
        (b'{"detail": "Forbidden"}', "Forbidden"),
        (b"  plain text\n", "plain text"),
        (b"x" * 5000, "x" * 1000),
    ],
)
def test_error_detail(body: bytes, detail: str) -> None:
    assert error_detail(body) == detail


def test_statuses_and_types() -> None:
    rejected = FilterRejected("guard", 429, "slow down")
    assert (rejected.status, rejected.upstream_type, rejected.retryable) == (
        429,
        "rate_limit_error",
        False,
    )
    assert FilterRejected("guard", 418, "").message == "Rejected by filter 'guard'."
    assert FilterRejected("guard", 418, "").upstream_type == "invalid_request_error"
    assert FilterReplyInvalid("f", "bad").status == 400
    failed, late = FilterFailed("f", "down"), FilterTimeout("f", "slow")
    assert (failed.status, late.status) == (502, 504)
    assert not failed.retryable  # another deployment would not help
    assert {failed.metric_label, late.metric_label} == {"filter_failed", "filter_timeout"}
