"""Model names as Plano resolves them: ``provider/model``, bare ``model``, aliases, wildcards
(``provider/*``) and the default provider. Built once from the config; lookups are dict hits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from plano.errors import ConfigError, InvalidRequest, ModelNotFound
from plano.providers.table import ProviderSpec, resolve_spec

__all__ = ["AliasLike", "Deployment", "ModelCatalog", "ProviderEntry"]


class ProviderEntry(Protocol):
    """What the catalog reads from a ``model_providers`` entry of the config."""

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
    def access_key(self) -> str | None: ...
    @property
    def default(self) -> bool | None: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def passthrough_auth(self) -> bool | None: ...
    @property
    def headers(self) -> Mapping[str, str] | None: ...
    @property
    def provider_interface(self) -> str | None: ...


class AliasLike(Protocol):
    @property
    def target(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Deployment:
    """One callable model at one provider with one key: the unit routing picks."""

    name: str
    provider: str
    model_id: str
    spec: ProviderSpec
    base_url: str
    access_key: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = ()
    passthrough_auth: bool = False
    #: The entry's ``name`` when it has one. Two entries may share a model (two keys, two
    #: regions); routing state is kept per :attr:`key`, which tells them apart.
    label: str = ""

    @property
    def key(self) -> str:
        """Unique per ``model_providers`` entry: its ``name``, else its ``model``."""
        return self.label or self.name

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def price_provider(self) -> str:
        return self.provider

    @property
    def price_model(self) -> str:
        return self.model_id

    def with_model(self, model_id: str) -> Deployment:
        return Deployment(
            f"{self.provider}/{model_id}",
            self.provider,
            model_id,
            self.spec,
            self.base_url,
            self.access_key,
            self.headers,
            self.passthrough_auth,
        )


def _deployment(e: ProviderEntry) -> Deployment:
    # A provider known by name wins; provider_interface describes unknown ones.
    spec = resolve_spec(e.provider, e.provider_interface)
    if spec is None:
        raise ConfigError(f"model_providers: unknown provider '{e.provider}' for '{e.model}'")
    base = (e.base_url or spec.base_url or "").rstrip("/")
    if not base:
        raise ConfigError(f"model_providers: '{e.model}' needs a base_url")
    return Deployment(
        name=e.model,
        provider=e.provider,
        model_id=e.model_id,
        spec=spec,
        base_url=base,
        access_key=e.access_key or None,
        headers=tuple((e.headers or {}).items()),
        passthrough_auth=bool(e.passthrough_auth),
        label=e.name or "",
    )


class ModelCatalog:
    def __init__(
        self, entries: Iterable[ProviderEntry], aliases: Mapping[str, AliasLike] | None = None
    ) -> None:
        self.deployments: list[Deployment] = []
        self._exact: dict[str, Deployment] = {}
        self._bare: dict[str, list[Deployment]] = {}
        self._wild: dict[str, Deployment] = {}
        self.default: Deployment | None = None
        for e in entries:
            d = _deployment(e)
            if e.is_wildcard:
                self._wild[e.provider] = d
            else:
                self.deployments.append(d)
                self._exact[e.model] = d
                self._bare.setdefault(e.model_id, []).append(d)
                if e.name:
                    self._exact.setdefault(e.name, d)
            if e.default and self.default is None:
                self.default = d if not e.is_wildcard else None
        self.aliases = {k: v.target for k, v in (aliases or {}).items()}
        self._cache: dict[str, Deployment] = {}

    def names(self) -> list[str]:
        """Every name a client may send (for ``/v1/models`` and did-you-mean hints)."""
        return sorted({*self._exact, *self.aliases, *(f"{p}/*" for p in self._wild)})

    def resolve(self, name: str) -> Deployment:
        hit = self._cache.get(name)
        if hit is not None:
            return hit
        d = self._resolve(name)
        if len(self._cache) < 10_000:  # bounded: wildcard names come from clients
            self._cache[name] = d
        return d

    def _resolve(self, name: str) -> Deployment:
        if not name or name == "none":
            if self.default is None:
                raise InvalidRequest(
                    "'model' is required: no default model is configured.", param="model"
                )
            return self.default
        target = self.aliases.get(name, name)
        d = self._exact.get(target)
        if d is not None:
            return d
        bare = self._bare.get(target)
        if bare:
            return bare[0]
        provider, sep, model_id = target.partition("/")
        wild = self._wild.get(provider) if sep else None
        if wild is not None and model_id:
            return wild.with_model(model_id)
        raise self.not_found(name)

    def not_found(self, name: str) -> ModelNotFound:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return ModelNotFound(
            f"The model '{name}' does not exist or is not configured on this gateway.{hint}",
            code="model_not_found",
            param="model",
        )
