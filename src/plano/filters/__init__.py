"""Configured filters: Plano's remote ``http`` / ``mcp`` filters and our own filter types,
built from the config's ``filters:`` entries into each listener's filter chain."""

from plano.filters.client import FilterClient
from plano.filters.errors import FilterFailed, FilterRejected, FilterReplyInvalid, FilterTimeout
from plano.filters.setup import build_chain, filter_registry

__all__ = [
    "FilterClient",
    "FilterFailed",
    "FilterRejected",
    "FilterReplyInvalid",
    "FilterTimeout",
    "build_chain",
    "filter_registry",
]
