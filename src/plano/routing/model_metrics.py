"""Per-model values from ``model_metrics_sources`` as plain data for routing
(``docs/model-metrics.md``).

Pure: the parsers turn a fetched body into ``{model: value}``, :class:`SourceState` folds each
fetch's outcome in (a failed fetch keeps the last good values and counts the failure), and a
:class:`MetricTable` answers "what is this deployment's value" for the router. The polling (IO)
is ``plano.server.model_metrics``; the router only ever reads the current table.

==============  =============================================================================
prometheus      ``GET {url}/api/v1/query?query=...``: an instant vector, one sample per model,
                the model in the ``label`` label (Plano: ``model_name``)
digitalocean    ``{data: [{model_id, pricing: {input_price_per_million, ...}}]}``: per-token
                USD despite the names (Plano scales them by a million); input + output
models.dev      ``{provider: {models: {model: {cost: {input, output}}}}}``: per-million USD,
                keyed ``provider/model`` (and the bare model id)
==============  =============================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final, Protocol

from plano.providers.deployment import Deployment

__all__ = [
    "PARSERS",
    "MetricTable",
    "MetricsView",
    "SourceState",
    "carried",
    "lookup_names",
    "parse_digitalocean",
    "parse_models_dev",
    "parse_prometheus",
    "with_state",
]

_MILLION = 1_000_000.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def parse_prometheus(body: Any, label: str, _aliases: Mapping[str, str]) -> dict[str, float]:
    """An instant-query answer's samples by the ``label`` label. Raises ``ValueError`` when the
    answer is not a successful vector (the caller keeps its last good values)."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise ValueError(f"prometheus answered {error or 'no success status'}")
    data = body.get("data")
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, list):
        raise ValueError("prometheus answer has no data.result list")
    out: dict[str, float] = {}
    for sample in result:
        if not isinstance(sample, dict):
            continue
        metric, value = sample.get("metric"), sample.get("value")
        if not isinstance(metric, dict) or not isinstance(value, list) or len(value) != 2:
            continue
        name, number = metric.get(label), _number(value[1])
        if isinstance(name, str) and number is not None:
            out[_aliases.get(name, name)] = number
    return out


def parse_digitalocean(body: Any, _label: str, aliases: Mapping[str, str]) -> dict[str, float]:
    """DigitalOcean's GenAI catalogue: input + output USD per million tokens, by model id."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ValueError("catalogue has no data list")
    out: dict[str, float] = {}
    for model in data:
        if not isinstance(model, dict) or not isinstance(model.get("model_id"), str):
            continue
        pricing = model.get("pricing")
        if not isinstance(pricing, dict):
            continue
        rate_in = _number(pricing.get("input_price_per_million")) or 0.0
        rate_out = _number(pricing.get("output_price_per_million")) or 0.0
        key = model["model_id"]
        out[aliases.get(key, key)] = (rate_in + rate_out) * _MILLION
    return out


def parse_models_dev(body: Any, _label: str, aliases: Mapping[str, str]) -> dict[str, float]:
    """models.dev's catalogue: input + output USD per million tokens, keyed ``provider/model``
    and, when no provider claimed it first, the bare model id."""
    if not isinstance(body, dict):
        raise ValueError("catalogue is not an object")
    out: dict[str, float] = {}
    bare: dict[str, float] = {}
    for provider, entry in body.items():
        models = entry.get("models") if isinstance(entry, dict) else None
        if not isinstance(models, dict):
            continue
        for model, info in models.items():
            cost = info.get("cost") if isinstance(info, dict) else None
            if not isinstance(cost, dict):
                continue
            rate_in, rate_out = _number(cost.get("input")), _number(cost.get("output"))
            if rate_in is None or rate_out is None:
                continue
            key = f"{provider}/{model}"
            out[aliases.get(key, key)] = rate_in + rate_out
            bare.setdefault(str(model), rate_in + rate_out)
    return {**bare, **out}


#: How each source provider's answer becomes ``{model: value}``.
PARSERS: Final[Mapping[str, Callable[[Any, str, Mapping[str, str]], dict[str, float]]]] = (
    MappingProxyType(
        {
            "prometheus": parse_prometheus,
            "digitalocean": parse_digitalocean,
            "models.dev": parse_models_dev,
        }
    )
)


@dataclass(frozen=True, slots=True)
class SourceState:
    """One source's values and freshness. ``updated`` / ``attempted`` are wall-clock times."""

    key: str
    kind: str
    provider: str
    origin: str
    interval: float
    query: str = ""
    values: Mapping[str, float] = field(default_factory=dict)
    updated: float | None = None
    attempted: float | None = None
    failures: int = 0
    error: str | None = None

    @property
    def polled(self) -> bool:
        """False for a catalogue source without a url: the bundled offline prices stand in."""
        return self.origin != "bundled"

    @property
    def usable(self) -> bool:
        """Whether routing uses this source's values (it has answered at least once)."""
        return self.updated is not None

    def succeeded(self, values: Mapping[str, float], now: float) -> SourceState:
        return replace(
            self,
            values=MappingProxyType(dict(values)),
            updated=now,
            attempted=now,
            failures=0,
            error=None,
        )

    def failed(self, error: str, now: float) -> SourceState:
        """The last good values stay; the failure is counted and described."""
        return replace(self, attempted=now, failures=self.failures + 1, error=error[:200])

    def status(self, now: float) -> dict[str, Any]:
        age = None if self.updated is None else round(now - self.updated, 3)
        return {
            "metric": self.key,
            "type": self.kind,
            "provider": self.provider,
            "origin": self.origin,
            "interval_s": self.interval,
            "models": len(self.values),
            "updated_at": self.updated,
            "age_s": age,
            # Two missed refreshes: the values are old, but still the last good ones.
            "fresh": age is not None and age <= 2 * self.interval,
            "consecutive_failures": self.failures,
            "last_error": self.error,
            "in_use": self.usable,
        }


def lookup_names(dep: Deployment) -> tuple[str, ...]:
    """The names a source may know a deployment by, most specific first: the entry's name,
    ``provider/model`` and the bare model id."""
    return (dep.key, dep.name, f"{dep.provider}/{dep.model_id}", dep.model_id)


@dataclass(frozen=True, slots=True)
class MetricTable:
    """Every source's current state, by metric key (``cost``, ``latency``, custom names)."""

    sources: Mapping[str, SourceState] = field(default_factory=dict)

    def usable(self, key: str) -> bool:
        state = self.sources.get(key)
        return state is not None and state.usable

    def value(self, key: str, dep: Deployment) -> float | None:
        state = self.sources.get(key)
        if state is None:
            return None
        values = state.values
        for name in lookup_names(dep):
            found = values.get(name)
            if found is not None:
                return found
        return None

    def status(self, now: float) -> list[dict[str, Any]]:
        return [s.status(now) for s in self.sources.values()]


class MetricsView(Protocol):
    """What the router reads: the current table, and the freshness report for
    ``/plano/v1/routing``."""

    def table(self) -> MetricTable: ...

    def status(self) -> list[dict[str, Any]]: ...


def with_state(table: MetricTable, state: SourceState) -> MetricTable:
    """``table`` with one source's state replaced."""
    return MetricTable(MappingProxyType({**table.sources, state.key: state}))


def carried(states: Sequence[SourceState], previous: MetricTable | None) -> MetricTable:
    """A new table whose sources keep the previous table's values when the same source
    (metric, provider, origin, query) was there before: a reload loses nothing it knew."""
    out: dict[str, SourceState] = {}
    for state in states:
        old = previous.sources.get(state.key) if previous is not None else None
        same = old is not None and (old.provider, old.origin, old.query) == (
            state.provider,
            state.origin,
            state.query,
        )
        out[state.key] = replace(old, interval=state.interval) if same and old else state
    return MetricTable(MappingProxyType(out))
