"""The filter types Plano-for-Python knows, and the chains listeners run.

A new filter type is a spec model in :mod:`plano.config.filters` and a row here.
"""

from __future__ import annotations

from collections.abc import Sequence

from plano.config.filters import (
    HttpFilterSpec,
    InjectionGuardSpec,
    McpFilterSpec,
    PiiSpec,
    RegexRedactSpec,
)
from plano.config.schema import Listener, PlanoConfig
from plano.filters.client import FilterClient
from plano.filters.injection_guard import injection_guard
from plano.filters.mcp import McpSession
from plano.filters.pii import pii
from plano.filters.redact import regex_redact
from plano.filters.remote import HttpCall, RemoteInputFilter, RemoteOutputFilter
from plano.pipeline.filters import Filter, FilterChain
from plano.pipeline.registry import Built, FilterRegistry, FilterRole, FilterType

__all__ = ["build_chain", "filter_registry"]


def filter_registry(client: FilterClient) -> FilterRegistry:
    """Every filter type, remote ones posting through ``client``. An MCP server's session is
    shared by the entry's filters (one entry may run on requests and on answers)."""
    sessions: dict[str, McpSession] = {}

    def remote(call: HttpCall | McpSession, role: FilterRole) -> Built:
        spec = call.spec
        if role == "input":
            return Built(RemoteInputFilter(spec, role, call, client))
        return Built(RemoteOutputFilter(spec, role, call, client))

    def mcp(spec: McpFilterSpec, role: FilterRole) -> Built:
        session = sessions.setdefault(spec.id, McpSession(spec, client))
        return remote(session, role)

    def http(spec: HttpFilterSpec, role: FilterRole) -> Built:
        return remote(HttpCall(spec, client), role)

    return FilterRegistry(
        (
            FilterType(McpFilterSpec, mcp),
            FilterType(HttpFilterSpec, http),
            FilterType(RegexRedactSpec, regex_redact),
            FilterType(PiiSpec, pii),
            FilterType(InjectionGuardSpec, injection_guard),
        )
    )


def build_chain(
    config: PlanoConfig,
    listener: Listener,
    *,
    builtins: Sequence[Filter] = (),
    client: FilterClient | None = None,
    last: Sequence[Filter] = (),
) -> FilterChain:
    """The filter chain of one listener: ``builtins`` (accounting, Responses state...) first,
    then the listener's ``input_filters`` and ``output_filters``. Pass one ``client`` for all
    listeners of a runtime so every remote filter shares one connection pool."""
    registry = filter_registry(client or FilterClient())
    return registry.chain(config, listener, builtins=builtins, last=last)
