"""Model names as Plano resolves them: ``provider/model``, bare ``model``, aliases, wildcards
(``provider/*``) and the default provider. Built once from the config; lookups are dict hits.

A name the config does not declare is client text: it must look like a model id (see
:func:`check_model_id`) before anything uses it, since a wildcard puts it into upstream URLs
and every answer echoes it in a header.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from plano.errors import ConfigError, InvalidRequest, ModelNotFound
from plano.providers.table import ProviderSpec, resolve_spec

__all__ = [
    "MAX_MODEL_NAME",
    "AliasLike",
    "Deployment",
    "ModelCatalog",
    "ProviderEntry",
    "check_model_id",
    "shown_name",
]

MAX_MODEL_NAME = 256
#: What real model ids use: OpenAI fine-tunes ``ft:gpt-4o-mini:org::id``, Bedrock
#: ``anthropic.claude-3-5-sonnet-20241022-v2:0``, ``meta-llama/Llama-3.3-70B-Instruct``, ollama
#: ``llama3.2:latest``, Gemini ``models/gemini-2.0-flash``. No ``?``, ``#``, ``%``, spaces or
#: control characters: they would steer an upstream URL or break a response header.
_MODEL_NAME = re.compile(rf"[A-Za-z0-9._:/@+=\-]{{1,{MAX_MODEL_NAME}}}")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")
_EMPTY_SEGMENT = re.compile(r"^/|//|/$")
#: How much of a client's model name an error message repeats, and the longest name that gets
#: did-you-mean hints (difflib is quadratic in the name's length).
_SHOWN = 100


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
    #: For a deployment a ``provider/*`` wildcard made for a client-chosen model: the
    #: wildcard entry's key. Tables that must stay bounded (metric labels, routing state past
    #: a limit) use it instead of the client's name.
    group: str = ""

    @property
    def key(self) -> str:
        """Unique per ``model_providers`` entry: its ``name``, else its ``model``."""
        return self.label or self.name

    @property
    def metric_key(self) -> str:
        """The deployment as a metric label: fixed by the config (``openai/*`` for any model a
        wildcard serves), never a client's choice."""
        return self.group or self.key

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
        """This deployment for another model of its provider (a wildcard's client-chosen id)."""
        check_model_id(model_id)
        return Deployment(
            f"{self.provider}/{model_id}",
            self.provider,
            model_id,
            self.spec,
            self.base_url,
            self.access_key,
            self.headers,
            self.passthrough_auth,
            group=self.key,
        )


def _valid_name(name: str) -> bool:
    return _MODEL_NAME.fullmatch(name) is not None and _DOT_SEGMENT.search(name) is None


def check_model_id(model_id: str) -> None:
    """Raise :class:`InvalidRequest` (400, ``invalid_model``) unless ``model_id`` looks like a
    model id: at most 256 of ``A-Z a-z 0-9 . _ - : / @ + =``, no ``.``, ``..`` or empty path
    segments."""
    if not _valid_name(model_id) or _EMPTY_SEGMENT.search(model_id):
        raise _invalid(model_id)


def shown_name(name: str) -> str:
    """``name`` as an error message or log line may repeat it: quoted, control characters
    escaped, and cut after 100 characters."""
    if len(name) <= _SHOWN:
        return repr(name)
    return f"{name[:_SHOWN]!r}…({len(name)} characters)"


def _invalid(name: str) -> InvalidRequest:
    return InvalidRequest(
        f"The model name {shown_name(name)} is not valid: model names use letters, digits and "
        f"'._-:/@+=' only, at most {MAX_MODEL_NAME} characters.",
        code="invalid_model",
        param="model",
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

    def all_deployments(self) -> list[Deployment]:
        """Every configured deployment, the ``provider/*`` ones included (for secrets)."""
        return [*self.deployments, *self._wild.values()]

    def resolve(self, name: str) -> Deployment:
        hit = self._cache.get(name)
        if hit is not None:
            return hit
        # Checked before anything else sees the name; the config's own names may be anything.
        if name and not _valid_name(name) and not self._declared(name):
            raise _invalid(name)
        d = self._resolve(name)
        if len(self._cache) < 10_000:  # bounded: wildcard names come from clients
            self._cache[name] = d
        return d

    def _declared(self, name: str) -> bool:
        return name in self._exact or name in self.aliases or name in self._bare

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
        close: list[str] = []
        if len(name) <= _SHOWN:
            close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return ModelNotFound(
            f"The model {shown_name(name)} does not exist or is not configured on this gateway."
            f"{hint}",
            code="model_not_found",
            param="model",
        )
