"""The error hierarchy: HTTP statuses, retryability, metric labels, OpenAI types."""

from __future__ import annotations

import pytest

from plano import errors
from plano.errors import (
    AuthenticationError,
    ClientError,
    ConfigError,
    DeploymentsUnavailable,
    InvalidRequest,
    MethodNotAllowed,
    ModelNotFound,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    PermissionDenied,
    PlanoError,
    RateLimited,
    UnsupportedCapability,
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
    is_retryable,
)

IRE = "invalid_request_error"


@pytest.mark.parametrize(
    ("cls", "status", "retryable", "label", "etype", "parent"),
    [
        (PlanoError, 500, False, "internal", "server_error", Exception),
        (ClientError, 400, False, "client_error", "invalid_request_error", PlanoError),
        (InvalidRequest, 400, False, "invalid_request", IRE, ClientError),
        (AuthenticationError, 401, False, "unauthenticated", "authentication_error", ClientError),
        (PermissionDenied, 403, False, "forbidden", "permission_error", ClientError),
        (ModelNotFound, 404, False, "model_not_found", "not_found_error", ClientError),
        (NotFound, 404, False, "not_found", "not_found_error", ClientError),
        (MethodNotAllowed, 405, False, "method_not_allowed", IRE, ClientError),
        (PayloadTooLarge, 413, False, "payload_too_large", IRE, ClientError),
        (UnsupportedCapability, 400, False, "unsupported_capability", IRE, ClientError),
        (RateLimited, 429, False, "rate_limited", "rate_limit_error", ClientError),
        (UpstreamError, 502, True, "upstream_error", "api_error", PlanoError),
        (UpstreamConnectError, 502, True, "upstream_connect", "api_error", UpstreamError),
        (UpstreamTimeout, 504, True, "upstream_timeout", "timeout_error", UpstreamError),
        (UpstreamProtocolError, 502, True, "upstream_protocol", "api_error", UpstreamError),
        (Overloaded, 503, True, "overloaded", "overloaded_error", PlanoError),
        (DeploymentsUnavailable, 503, True, "no_deployment", "overloaded_error", PlanoError),
        (ConfigError, 500, False, "config", "server_error", PlanoError),
    ],
)  # fmt: skip
def test_hierarchy(
    cls: type[PlanoError], status: int, retryable: bool, label: str, etype: str, parent: type
) -> None:
    err = cls("msg")
    assert issubclass(cls, parent)
    assert err.status == status
    assert is_retryable(err) is retryable
    assert err.metric_label == label
    assert err.error_type == etype
    assert err.message == "msg" == str(err)


def test_every_public_error_is_listed() -> None:
    listed = set(errors.__all__)
    defined = {
        name
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, PlanoError)
    }
    assert defined == listed


def test_metric_labels_are_unique() -> None:
    classes = [getattr(errors, n) for n in errors.__all__]
    labels = [c.metric_label for c in classes]
    assert len(labels) == len(set(labels))


def test_fields_and_status_override() -> None:
    err = InvalidRequest("bad", code="invalid_type", param="stop", status=422, retry_after=1.5)
    assert (err.code, err.param, err.status, err.retry_after) == ("invalid_type", "stop", 422, 1.5)
    assert InvalidRequest("x").status == 400  # the override is per instance
    assert repr(err) == "InvalidRequest(422, 'bad')"


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_upstream_status_retryable(status: int) -> None:
    err = UpstreamStatusError("x", status=status)
    assert err.status == status
    assert err.is_retryable
    assert is_retryable(err)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_upstream_status_not_retryable(status: int) -> None:
    err = UpstreamStatusError("x", status=status)
    assert not err.is_retryable
    assert not is_retryable(err)
    assert isinstance(err, UpstreamError)  # still an upstream error for metrics


def test_upstream_status_keeps_upstream_fields() -> None:
    err = UpstreamStatusError(
        "slow down", status=429, code="rate_limit_exceeded", retry_after=3.0, upstream_type="tokens"
    )
    assert (err.code, err.retry_after, err.upstream_type) == ("rate_limit_exceeded", 3.0, "tokens")
    assert err.metric_label == "upstream_status"
