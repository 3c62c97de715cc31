"""Model names as routing resolves them, to :class:`~plano.providers.deployment.Deployment`s:
``provider/model``, bare ``model``, aliases, wildcards (``provider/*``) and the default
provider. The rules are :class:`~plano.config.names.ModelNames` (the same ones ``plano
validate`` checks the config with); this module builds the deployments and the client-facing
errors. Built once from the config; lookups are dict hits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Protocol

from plano.config.names import ModelNames, NamedEntry
from plano.errors import ConfigError, ModelNotFound
from plano.providers.deployment import Deployment, shown_name
from plano.providers.table import resolve_spec

__all__ = ["AliasLike", "ModelCatalog", "ProviderEntry"]

#: The longest name that gets did-you-mean hints (difflib is quadratic in the name's length).
_HINTED = 100


class ProviderEntry(NamedEntry, Protocol):
    """What the catalog reads from a ``model_providers`` entry of the config."""

    @property
    def access_key(self) -> str | None: ...
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
        headers=tuple({**dict(spec.default_headers), **(e.headers or {})}.items()),
        passthrough_auth=bool(e.passthrough_auth)
        or (spec.passthrough_without_key and not e.access_key),
        label=e.name or "",
    )


class ModelCatalog:
    def __init__(
        self, entries: Iterable[ProviderEntry], aliases: Mapping[str, AliasLike] | None = None
    ) -> None:
        self._names = ModelNames(
            [(e, _deployment(e)) for e in entries],
            {k: v.target for k, v in (aliases or {}).items()},
        )
        self.deployments: list[Deployment] = self._names.declared
        self.default: Deployment | None = self._names.default
        self.aliases: dict[str, str] = self._names.aliases
        self._cache: dict[str, Deployment] = {}

    def names(self) -> list[str]:
        """Every name a client may send (for ``/v1/models`` and did-you-mean hints)."""
        return self._names.names()

    def all_deployments(self) -> list[Deployment]:
        """Every configured deployment, the ``provider/*`` ones included (for secrets)."""
        return [*self.deployments, *self._names.wildcards()]

    def resolve(self, name: str) -> Deployment:
        hit = self._cache.get(name)
        if hit is not None:
            return hit
        found = self._names.resolve(name)
        if found is None:
            raise self.not_found(name)
        d = found.value
        if found.wildcard_model is not None:
            d = d.with_model(found.wildcard_model)
        if len(self._cache) < 10_000:  # bounded: wildcard names come from clients
            self._cache[name] = d
        return d

    def not_found(self, name: str) -> ModelNotFound:
        close: list[str] = []
        if len(name) <= _HINTED:
            close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return ModelNotFound(
            f"The model {shown_name(name)} does not exist or is not configured on this gateway."
            f"{hint}",
            code="model_not_found",
            param="model",
        )
