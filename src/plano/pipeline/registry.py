"""Filters from the config: filter types map to factories, listeners' filter ids to a chain.

Each ``filters:`` entry is a typed spec (:mod:`plano.config.filters`: Plano's ``mcp`` and
``http`` filters and our own types, with their options); a :class:`FilterType` pairs a spec
class with the factory that builds the entry's filter for one role. :class:`FilterRegistry`
holds the types (keyed by spec class, never by ``if``/``elif``) and builds a listener's chain::

    builtins (accounting, Responses state, ...)          always, first
    input_filters, in order                              on the request
    output_filters, in order                             on the answer
    the input filters' unwind parts, in reverse order    undo on the answer (restore)

So an answer passes the output filters while it is still as the provider wrote it, then each
reversible input filter undoes its own change, the last applied first (an onion). The concrete
types live in :mod:`plano.filters`; this module knows none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from plano.config.filters import FilterSpecBase, OnError
from plano.config.schema import Listener, PlanoConfig
from plano.errors import ConfigError
from plano.pipeline.filters import Filter, FilterChain

__all__ = ["Built", "ConfiguredFilter", "FilterRegistry", "FilterRole", "FilterType"]

#: Where a listener runs a filter: on requests (``input_filters``) or answers (``output_filters``).
FilterRole: TypeAlias = Literal["input", "output"]

S = TypeVar("S", bound=FilterSpecBase)


class ConfiguredFilter(Filter):
    """A filter built from a ``filters:`` entry: named by the entry's id (so failures and
    ``/plano/v1/filters`` name it as the config does), failing open or closed as the entry's
    ``on_error`` says (default: closed on requests, open on answers, as Plano does)."""

    def __init__(self, spec: FilterSpecBase, role: FilterRole) -> None:
        self.spec = spec
        self.role: FilterRole = role
        self.on_error: OnError = spec.on_error or ("closed" if role == "input" else "open")
        self._name = spec.id
        #: This filter's per-request scratch key in ``ctx.state`` (one per role: the same
        #: entry may run on requests and on answers).
        self.key = f"filter:{spec.id}:{role}"

    # ``name`` and ``fail_closed`` are class-wide on Filter; a configured filter's come from
    # its entry. The setters exist only so the properties may override those attributes.
    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def fail_closed(self) -> bool:
        return self.on_error == "closed"

    @fail_closed.setter
    def fail_closed(self, value: bool) -> None:
        self.on_error = "closed" if value else "open"


@dataclass(frozen=True, slots=True)
class Built:
    """What a factory makes of one entry in one role."""

    filter: Filter
    #: Undoes the filter's change on the answer (reversible redaction); input role only.
    unwind: Filter | None = None


@dataclass(frozen=True, slots=True)
class FilterType(Generic[S]):
    """One filter type: the config model of its entries and the factory of its filters."""

    spec: type[S]
    build: Callable[[S, FilterRole], Built]


class FilterRegistry:
    """Filter types keyed by their spec class; builds the chains listeners run."""

    def __init__(self, types: Iterable[FilterType[Any]]) -> None:
        table: dict[type[FilterSpecBase], FilterType[Any]] = {}
        for kind in types:
            if kind.spec in table:
                raise ValueError(f"two filter types for {kind.spec.__name__}")
            table[kind.spec] = kind
        self.types: Mapping[type[FilterSpecBase], FilterType[Any]] = MappingProxyType(table)

    def build(self, spec: FilterSpecBase, role: FilterRole) -> Built:
        kind = self.types.get(type(spec))
        if kind is None:
            raise ConfigError(f"filter {spec.id!r}: no factory for {type(spec).__name__}")
        return kind.build(spec, role)

    def chain(
        self,
        config: PlanoConfig,
        listener: Listener,
        *,
        builtins: Sequence[Filter] = (),
        last: Sequence[Filter] = (),
    ) -> FilterChain:
        """The chain of ``listener``: ``builtins`` first, then its configured filters, then
        ``last`` (what must see the answer as the client gets it)."""
        entries = {f.id: f for f in config.filters}

        def entry(ident: str) -> FilterSpecBase:
            if ident not in entries:  # validation reports it; a hand-built config may not
                raise ConfigError(f"listener {listener.name!r}: unknown filter {ident!r}")
            return entries[ident]

        inputs = [self.build(entry(i), "input") for i in listener.input_filters]
        outputs = [self.build(entry(i), "output") for i in listener.output_filters]
        unwind = [b.unwind for b in reversed(inputs) if b.unwind is not None]
        return FilterChain(
            [
                *builtins,
                *(b.filter for b in inputs),
                *(b.filter for b in outputs),
                *unwind,
                *last,
            ]
        )
