"""The policy's error, in the one hierarchy of :mod:`plano.errors`::

    ClientError
    └── PermissionDenied        403
        └── PolicyDenied        a deny rule, a blocked tool, or a policy that failed closed

The client gets it in its own API's shape (403, ``permission_error``), or, in a stream that
already started, as the shape's in-band error event before any held tool call.
"""

from __future__ import annotations

from plano.errors import PermissionDenied

__all__ = ["PolicyDenied"]


class PolicyDenied(PermissionDenied):
    """A policy or a tool rule refused the request (or its answer)."""

    metric_label = "policy_denied"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="policy_denied")
