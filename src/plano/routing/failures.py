"""What kind of failure an attempt ended with, and what that means for routing.

The kinds are the words of ``fallback.retry_on``. The classification is pure: it reads the
error's class, status and the provider's code/message (context-length and content-policy
refusals arrive as 400s that only their code or wording tells apart).
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

from plano.errors import (
    DeploymentRefused,
    PlanoError,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)

__all__ = ["HEALTH_FAILURES", "FailureKind", "classify"]

FailureKind: TypeAlias = Literal[
    "connect",
    "timeout",
    "rate_limit",
    "server_error",
    "context_length",
    "content_policy",
    "client",
]

#: Kinds that say something about the deployment (and so feed its circuit breaker); the others
#: are about the request.
HEALTH_FAILURES: Final[frozenset[str]] = frozenset(
    {"connect", "timeout", "rate_limit", "server_error"}
)

_CONTEXT_CODES: Final = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_WORDS: Final = (
    "maximum context length",
    "context length",
    "context window",
    "prompt is too long",
    "too many tokens",
    "input is too long",
    "exceeds the maximum number of tokens",
)
_POLICY_CODES: Final = frozenset(
    {"content_policy_violation", "content_filter", "responsibleaipolicyviolation"}
)
_POLICY_WORDS: Final = ("content policy", "content management policy", "safety system")


def classify(err: PlanoError) -> FailureKind:
    if isinstance(err, UpstreamTimeout):
        return "timeout"
    if isinstance(err, UpstreamConnectError):
        return "connect"
    if isinstance(err, UpstreamProtocolError):
        return "server_error"
    if isinstance(err, UpstreamStatusError):
        return _status_kind(err)
    if isinstance(err, DeploymentRefused):  # a filter refused it: about the request
        return "client"
    if err.retryable:  # Overloaded and other retryable errors of our own
        return "server_error"
    return "client"


def _status_kind(err: UpstreamStatusError) -> FailureKind:
    status = err.status
    if status == 429:
        return "rate_limit"
    if status == 408:
        return "timeout"
    if status >= 500 or status == 409:
        return "server_error"
    code = (err.code or "").lower()
    message = err.message.lower()
    if code in _CONTEXT_CODES or any(w in message for w in _CONTEXT_WORDS):
        return "context_length"
    if code in _POLICY_CODES or any(w in message for w in _POLICY_WORDS):
        return "content_policy"
    return "client"
