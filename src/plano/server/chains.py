"""Each listener's filter chain, built in one place (:func:`build_chain`): the built-in filters
(accounting, then Responses API state, then any a caller adds), followed by the listener's
configured ``input_filters`` / ``output_filters`` from the filter registry
(:func:`plano.filters.build_chain`).

Chains belong to a runtime snapshot: started with it, closed when it retires. The resources
the built-in filters write to (the ledger, the response store) outlive snapshots, so the
runtime starts and closes those and the built-ins here leave ``start``/``close`` alone.
Remote filters share the process's :class:`~plano.filters.FilterClient`, which counts its
users: a new snapshot's chain acquires it before the old one's releases it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plano.accounting.filter import AccountingFilter
from plano.accounting.ledger import Ledger
from plano.accounting.pricing import PriceBook
from plano.accounting.tokens import TokenCounter
from plano.config import PlanoConfig
from plano.filters import FilterClient
from plano.filters import build_chain as configured_chain
from plano.pipeline.filters import Filter, FilterChain
from plano.server.listeners import ListenerSpec
from plano.state import ResponsesStateFilter, ResponseStore

__all__ = ["ChainParts", "build_chain"]


class _Accounting(AccountingFilter):
    """Accounting into the process's ledger, which the runtime starts and closes: a retired
    snapshot's chain must not stop it."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class _ResponsesState(ResponsesStateFilter):
    """Responses API state in a store the runtime closes (a reload keeps conversations)."""

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ChainParts:
    """What the chains of one snapshot are built from."""

    config: PlanoConfig
    ledger: Ledger
    prices: PriceBook
    counter: TokenCounter
    store: ResponseStore
    client: FilterClient
    #: Filters added after the built-ins on every model listener (tests, embedders).
    extra: Sequence[Filter] = ()


def build_chain(spec: ListenerSpec, parts: ChainParts) -> FilterChain:
    """The filter chain of one listener. Listeners without model traffic (admin) get an
    empty chain."""
    declared = next((lst for lst in parts.config.listeners if lst.name == spec.name), None)
    if spec.kind != "model" or declared is None:
        return FilterChain([])
    state = _ResponsesState(parts.store)
    builtins = [_Accounting(parts.ledger, parts.prices, parts.counter), state, *parts.extra]
    return configured_chain(
        parts.config, declared, builtins=builtins, client=parts.client, last=[state.recorder()]
    )
