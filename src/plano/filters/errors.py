"""Errors of configured filters, in the one hierarchy of :mod:`plano.errors`.

::

    ClientError
    ├── FilterRejected      the filter's own 4xx, passed on with its status and message
    └── FilterReplyInvalid  400: an input filter returned a body that is not a request
    PlanoError
    └── FilterFailed        502: unreachable, an error status, a broken reply
        └── FilterTimeout   504: no answer within the filter's ``timeout``

A rejection is the filter's decision and always reaches the client (in the client's API
shape). A failure is the filter's fault: the entry's ``on_error`` decides whether it fails
the request (``closed``) or lets it pass unfiltered (``open``). Messages name the filter's id,
never its URL.
"""

from __future__ import annotations

import orjson

from plano.errors import ClientError, PlanoError

__all__ = ["FilterFailed", "FilterRejected", "FilterReplyInvalid", "FilterTimeout", "error_detail"]

#: Characters of a filter's own error message passed on to the client.
_DETAIL_CHARS = 1000

#: OpenAI error types for the statuses that have their own.
_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class FilterRejected(ClientError):
    """A filter refused the request (or the answer) with a 4xx."""

    metric_label = "filter_rejected"

    def __init__(self, filter_id: str, status: int, detail: str) -> None:
        detail = f": {detail}" if detail else "."
        super().__init__(
            f"Rejected by filter '{filter_id}'{detail}", code="filter_rejected", status=status
        )
        self.filter_id = filter_id
        #: Read by the client shapes' error renderers, as for a provider's own error type.
        self.upstream_type = _TYPES.get(status, "invalid_request_error")


class FilterReplyInvalid(ClientError):
    """An input filter's reply is not JSON, or not a request of the client's API."""

    metric_label = "filter_bad_reply"

    def __init__(self, filter_id: str, detail: str) -> None:
        super().__init__(
            f"Filter '{filter_id}' returned a request that is not valid: {detail}",
            code="filter_bad_reply",
        )
        self.filter_id = filter_id


class FilterFailed(PlanoError):
    """The filter could not do its work (its fault, not the client's)."""

    status = 502
    metric_label = "filter_failed"
    error_type = "api_error"

    def __init__(self, filter_id: str, detail: str) -> None:
        super().__init__(f"Filter '{filter_id}' failed: {detail}", code="filter_failed")
        self.filter_id = filter_id


class FilterTimeout(FilterFailed):
    status = 504
    metric_label = "filter_timeout"
    error_type = "timeout_error"


def error_detail(body: bytes) -> str:
    """A filter's error message from its error body: ``{"error": {"message"}}`` (OpenAI),
    ``{"error": "..."}``, ``{"message"}``, ``{"detail"}`` (FastAPI), else the text itself."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        for value in (
            err.get("message") if isinstance(err, dict) else err,
            data.get("message"),
            data.get("detail"),
        ):
            if isinstance(value, str) and value:
                text = value
                break
    return text[:_DETAIL_CHARS]
