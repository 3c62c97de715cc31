"""The one error hierarchy of Plano.

Every error that can reach a client is a :class:`PlanoError`. Each carries the HTTP status it
maps to, whether a retry against another deployment could help, a fixed metric label, and an
OpenAI-style ``type``/``code`` pair. Wire modules render it in the client's own error shape;
nothing else formats errors.

::

    PlanoError                      500 internal_error
    ├── ClientError                 400 (the caller's request is wrong)
    │   ├── InvalidRequest          400 invalid_request_error
    │   ├── AuthenticationError     401
    │   ├── PermissionDenied        403
    │   ├── ModelNotFound           404
    │   ├── NotFound                404
    │   ├── MethodNotAllowed        405
    │   ├── RequestTimeout          408 (the client was too slow to send its request)
    │   ├── PayloadTooLarge         413
    │   ├── UnsupportedCapability   400 (a shape/provider pair cannot do what was asked)
    │   └── RateLimited             429 (Plano's own limits)
    ├── UpstreamError               502 (the provider failed); retryable by default
    │   ├── UpstreamStatusError     provider's 4xx/5xx, status passed on
    │   ├── UpstreamConnectError    502 connection refused / DNS / TLS
    │   ├── UpstreamTimeout         504
    │   └── UpstreamProtocolError   502 garbage body, broken stream
    ├── DeploymentRefused           403 a filter refused one deployment; retryable (fallback)
    │   └── BudgetExceeded          429 a budget cannot cover it (insufficient_quota)
    ├── ClientClosed                499 the client left before the answer was whole
    ├── Overloaded                  503 in-flight cap reached
    ├── DeploymentsUnavailable      503 every deployment cooling down or its breaker open
    └── ConfigError                 not an HTTP error: start-up refuses to run
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthenticationError",
    "BudgetExceeded",
    "ClientClosed",
    "ClientError",
    "ConfigError",
    "DeploymentRefused",
    "DeploymentsUnavailable",
    "InvalidRequest",
    "MethodNotAllowed",
    "ModelNotFound",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "PermissionDenied",
    "PlanoError",
    "RateLimited",
    "RequestTimeout",
    "UnsupportedCapability",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamStatusError",
    "UpstreamTimeout",
]


class PlanoError(Exception):
    """Base of every error Plano raises on purpose."""

    status: int = 500
    retryable: ClassVar[bool] = False
    #: Fixed, low-cardinality label for metrics; never built from request data.
    metric_label: ClassVar[str] = "internal"
    #: OpenAI ``error.type``; the Anthropic and Gemini renderers map it to their own.
    error_type: ClassVar[str] = "server_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        if status is not None:
            self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r})"


class ClientError(PlanoError):
    status = 400
    metric_label = "client_error"
    error_type = "invalid_request_error"


class InvalidRequest(ClientError):
    metric_label = "invalid_request"


class AuthenticationError(ClientError):
    status = 401
    metric_label = "unauthenticated"
    error_type = "authentication_error"


class PermissionDenied(ClientError):
    status = 403
    metric_label = "forbidden"
    error_type = "permission_error"


class ModelNotFound(ClientError):
    status = 404
    metric_label = "model_not_found"
    error_type = "not_found_error"


class NotFound(ClientError):
    status = 404
    metric_label = "not_found"
    error_type = "not_found_error"


class MethodNotAllowed(ClientError):
    status = 405
    metric_label = "method_not_allowed"


class RequestTimeout(ClientError):
    status = 408
    metric_label = "request_timeout"
    error_type = "timeout_error"


class PayloadTooLarge(ClientError):
    status = 413
    metric_label = "payload_too_large"


class UnsupportedCapability(ClientError):
    metric_label = "unsupported_capability"


class RateLimited(ClientError):
    status = 429
    metric_label = "rate_limited"
    error_type = "rate_limit_error"


class UpstreamError(PlanoError):
    status = 502
    retryable = True
    metric_label = "upstream_error"
    error_type = "api_error"


class UpstreamStatusError(UpstreamError):
    """The provider answered with an error status; its status and message are passed on."""

    metric_label = "upstream_status"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        upstream_type: str | None = None,
    ) -> None:
        super().__init__(message, code=code, param=param, status=status, retry_after=retry_after)
        self.upstream_type = upstream_type

    @property
    def is_retryable(self) -> bool:
        # 408/409/429 and 5xx may succeed elsewhere; other 4xx are the request's fault.
        return self.status in (408, 409, 429) or self.status >= 500


class UpstreamConnectError(UpstreamError):
    metric_label = "upstream_connect"


class UpstreamTimeout(UpstreamError):
    status = 504
    metric_label = "upstream_timeout"
    error_type = "timeout_error"


class UpstreamProtocolError(UpstreamError):
    metric_label = "upstream_protocol"


class DeploymentRefused(PlanoError):
    """A filter refused the deployment an attempt was about to call (a policy, a budget);
    another deployment may be allowed, so fallback goes on."""

    status = 403
    retryable = True
    metric_label = "deployment_refused"
    error_type = "permission_error"


class BudgetExceeded(DeploymentRefused):
    """A budget cannot cover the worst-case cost of a call to this deployment. Fallback goes on
    (a cheaper deployment may fit); when none does, the client gets 429 (docs/budgets.md says
    why not 402), typed like OpenAI's own quota error."""

    status = 429
    metric_label = "budget_exceeded"
    error_type = "insufficient_quota"


class ClientClosed(PlanoError):
    """The client left before its answer was whole (nginx's 499); never sent, only recorded."""

    status = 499
    metric_label = "client_closed"
    error_type = "client_closed"


class Overloaded(PlanoError):
    status = 503
    retryable = True
    metric_label = "overloaded"
    error_type = "overloaded_error"


class DeploymentsUnavailable(PlanoError):
    """No deployment could be tried: every one is cooling down or its breaker is open."""

    status = 503
    retryable = True
    metric_label = "no_deployment"
    error_type = "overloaded_error"


class ConfigError(PlanoError):
    """The configuration cannot be used; raised at start-up, never per request."""

    metric_label = "config"


def detached(err: PlanoError) -> PlanoError:
    """``err`` without its traceback and chained causes, to keep after the request: a
    traceback holds the frames that raised it (a request's body, its parsed prompt) in a
    reference cycle that only the garbage collector would free."""
    err.__traceback__ = None
    err.__cause__ = None
    err.__context__ = None
    return err


def is_retryable(err: PlanoError) -> bool:
    """Whether another attempt (another deployment) could succeed."""
    if isinstance(err, UpstreamStatusError):
        return err.is_retryable
    return err.retryable
