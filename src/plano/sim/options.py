"""Options of a simulated provider: validated once, replaced whole, overridable per request.

A running server can be switched with ``POST /_sim/options`` (the given fields are merged onto
the current options) or :meth:`SimServer.set_options`; a single request can override a few knobs
with headers:

==================  =====================  ============================================
header              option                 note
==================  =====================  ============================================
x-sim-latency-ms    ``latency_ms``
x-sim-tps           ``tokens_per_second``
x-sim-tokens        ``output_tokens``
x-sim-fault         ``fault``              applies unconditionally (ignores rate/after)
==================  =====================  ============================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from plano.sim.faults import FAULT_KINDS, FaultKind

__all__ = ["HEADER_OVERRIDES", "SimOptions", "options_from_headers"]

DEFAULT_MODELS: Final = (
    "gpt-4o-mini",
    "gpt-4o",
    "claude-sonnet-4-5",
    "gemini-2.5-flash",
)


@dataclass(frozen=True, slots=True)
class SimOptions:
    """How a simulated provider behaves. Invalid values raise :class:`ValueError`."""

    #: Delay before the response headers (and so before the first stream chunk).
    latency_ms: float = 0.0
    #: Stream pacing in output tokens per second; 0 sends the whole stream at once.
    tokens_per_second: float = 0.0
    #: Output tokens of a text answer (capped by the request's max tokens).
    output_tokens: int = 16
    #: Prompt tokens reported as read from the cache.
    cached_tokens: int = 0
    #: Prompt tokens reported as written to the cache (Anthropic's cache_creation_input_tokens).
    cache_write_tokens: int = 0
    #: Hidden reasoning tokens reported in usage (and the size of shown thinking, if asked).
    reasoning_tokens: int = 0
    fault: FaultKind = "none"
    #: Probability (0..1) that ``fault`` applies to an eligible request.
    fault_rate: float = 1.0
    #: The first N requests after the options are set never get the fault.
    fault_after: int = 0
    #: Seed of the fault draws, so ``fault_rate`` runs are reproducible.
    seed: int = 0
    #: Seconds sent in ``Retry-After`` with a 429.
    retry_after: int = 1
    #: Latency of the ``slow`` fault.
    slow_ms: float = 2000.0
    #: Provider label used in text and ids; empty means the wire shape's provider.
    name: str = ""
    #: Answer 401/403 when the provider's API-key header is missing.
    require_auth: bool = True
    #: Served by ``GET /v1/models``.
    models: tuple[str, ...] = DEFAULT_MODELS

    def __post_init__(self) -> None:
        if self.fault not in FAULT_KINDS:
            raise ValueError(f"fault must be one of {sorted(FAULT_KINDS)}, not {self.fault!r}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        for name in (
            "latency_ms",
            "tokens_per_second",
            "output_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "fault_after",
            "retry_after",
            "slow_ms",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: SimOptions | None = None) -> SimOptions:
        """``base`` (or the defaults) with the fields in ``data``; unknown or ill-typed fields
        raise :class:`ValueError`."""
        base = base or cls()
        types = {f.name: type(getattr(base, f.name)) for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in data.items():
            kind = types.get(key)
            if kind is None:
                raise ValueError(f"unknown option {key!r}")
            changes[key] = _coerce(key, value, kind)
        return dataclasses.replace(base, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _coerce(key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is bool and isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)  # so {"fault": 429} works too
    if kind is tuple and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"option {key!r} has the wrong type ({type(value).__name__})")


#: Header name -> (option, parser).
HEADER_OVERRIDES: Final[dict[str, tuple[str, type]]] = {
    "x-sim-latency-ms": ("latency_ms", float),
    "x-sim-tps": ("tokens_per_second", float),
    "x-sim-tokens": ("output_tokens", int),
    "x-sim-fault": ("fault", str),
}

_OVERRIDE_NAMES: Final = tuple(HEADER_OVERRIDES)


def options_from_headers(
    base: SimOptions, headers: Mapping[str, str]
) -> tuple[SimOptions, FaultKind | None]:
    """``base`` with the ``x-sim-*`` overrides of one request, and the fault it forces."""
    for header in _OVERRIDE_NAMES:  # the hot path: usually none is present
        if header in headers:
            break
    else:
        return base, None
    changes: dict[str, Any] = {}
    for header, (name, parse) in HEADER_OVERRIDES.items():
        raw = headers.get(header)
        if raw is not None:
            try:
                changes[name] = parse(raw.strip())
            except ValueError:
                raise ValueError(f"header {header} has an invalid value {raw!r}") from None
    opts = dataclasses.replace(base, **changes)
    forced = cast(FaultKind, changes["fault"]) if "fault" in changes else None
    return opts, forced
