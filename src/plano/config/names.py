"""Model names as Plano resolves them: the one rule, used by routing at run time and by
``plano validate`` for every name a config refers to, so the two cannot drift.

A name resolves, in this order, to:

1. nothing, or ``none``: the entry with ``default: true`` (the first one);
2. through an alias (``model_aliases``; one level) to what its target names below;
3. an entry's ``model`` (``provider/model_id``) or its ``name``; a ``model`` wins over another
   entry's ``name``;
4. a bare model id (``gpt-4o``): the first entry declared with it;
5. ``provider/<id>`` under a ``provider/*`` wildcard: that entry, for the model ``<id>``.

A wildcard entry's own ``name`` names nothing (it has no model to call). A name the config
does not declare is client text: it must look like a model id
(:func:`~plano.providers.deployment.is_model_name`) before anything uses it, since a wildcard
puts it into upstream URLs. Pure: built once from the entries, lookups are dict hits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Generic, Protocol, TypeVar

from plano.config.schema import ModelProvider, PlanoConfig
from plano.errors import InvalidRequest
from plano.providers.deployment import check_model_id, invalid_model, is_model_name

__all__ = ["NO_MODEL", "Match", "ModelNames", "NamedEntry", "config_names"]

T = TypeVar("T")

#: The model name that asks for the default model, like an empty one.
NO_MODEL: Final = "none"


class NamedEntry(Protocol):
    """What name resolution reads from a ``model_providers`` entry."""

    @property
    def model(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def is_wildcard(self) -> bool: ...
    @property
    def name(self) -> str | None: ...
    @property
    def default(self) -> bool | None: ...


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    """What a name resolved to: an entry's value and, for a ``provider/*`` entry, the model
    id the name chose under it."""

    value: T
    wildcard_model: str | None = None


class ModelNames(Generic[T]):
    """The names of the given entries, each entry paired with the value a lookup returns (a
    deployment for routing, the config entry itself for validation)."""

    def __init__(
        self, entries: Iterable[tuple[NamedEntry, T]], aliases: Mapping[str, str] | None = None
    ) -> None:
        #: The values of the entries that are not wildcards, in declaration order.
        self.declared: list[T] = []
        self.default: T | None = None
        self.aliases: dict[str, str] = dict(aliases or {})
        self._exact: dict[str, T] = {}
        self._bare: dict[str, list[T]] = {}
        self._wild: dict[str, T] = {}
        for entry, value in entries:
            if entry.is_wildcard:
                self._wild[entry.provider] = value
            else:
                self.declared.append(value)
                self._exact[entry.model] = value
                self._bare.setdefault(entry.model_id, []).append(value)
                if entry.name:
                    self._exact.setdefault(entry.name, value)
            if entry.default and self.default is None:
                self.default = value if not entry.is_wildcard else None

    def names(self) -> list[str]:
        """Every name a client may send (for ``/v1/models`` and did-you-mean hints)."""
        return sorted({*self._exact, *self.aliases, *(f"{p}/*" for p in self._wild)})

    def entry_names(self) -> set[str]:
        """The names of declared entries: ``model``, ``name`` and bare model ids."""
        return {*self._exact, *self._bare}

    def wildcards(self) -> list[T]:
        """The values of the ``provider/*`` entries."""
        return list(self._wild.values())

    def is_declared(self, name: str) -> bool:
        """Whether the config itself declares ``name`` (whatever its characters)."""
        return name in self._exact or name in self.aliases or name in self._bare

    def resolve(self, name: str) -> Match[T] | None:
        """What ``name`` names; ``None`` when nothing does. Raises :class:`InvalidRequest`
        (400) for a name that is no model id, and when it asks for a default there is not."""
        # Checked before anything else sees the name; the config's own names may be anything.
        if name and not is_model_name(name) and not self.is_declared(name):
            raise invalid_model(name)
        if not name or name == NO_MODEL:
            if self.default is None:
                raise InvalidRequest(
                    "'model' is required: no default model is configured.", param="model"
                )
            return Match(self.default)
        return self.entry(self.aliases.get(name, name))

    def entry(self, target: str) -> Match[T] | None:
        """The entry ``target`` names by ``model``, ``name``, bare id or under a wildcard
        (what an alias target or a pool member must be); no aliases, no default."""
        value = self._exact.get(target)
        if value is not None:
            return Match(value)
        bare = self._bare.get(target)
        if bare:
            return Match(bare[0])
        provider, sep, model_id = target.partition("/")
        wild = self._wild.get(provider) if sep else None
        if wild is not None and model_id:
            check_model_id(model_id)
            return Match(wild, model_id)
        return None

    def resolves(self, name: str) -> bool:
        """Whether :meth:`resolve` finds something for ``name`` (validation's question)."""
        try:
            return self.resolve(name) is not None
        except InvalidRequest:
            return False

    def has_entry(self, target: str) -> bool:
        """Whether :meth:`entry` finds something for ``target``."""
        try:
            return self.entry(target) is not None
        except InvalidRequest:
            return False


def config_names(config: PlanoConfig) -> ModelNames[ModelProvider]:
    """The model names of a config, each resolving to its own ``model_providers`` entry."""
    return ModelNames(
        [(p, p) for p in config.model_providers],
        {alias: spec.target for alias, spec in config.model_aliases.items()},
    )
