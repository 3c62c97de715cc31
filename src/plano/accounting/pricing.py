"""Cost of a request from its usage, with prices from the offline ``genai-prices`` package.

``genai_prices.calc_price`` costs ~100 us per call, so each model's rates are looked up once and
cached; the per-request arithmetic is a handful of Decimal operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from genai_prices import Usage as GPUsage
from genai_prices import calc_price

from plano.core.model import Usage

__all__ = ["PriceBook", "Rates", "provider_id"]

_MTOK = Decimal(1_000_000)
_ZERO = Decimal(0)
#: Our provider names where genai-prices spells them differently.
_PROVIDER_IDS = {
    "gemini": "google",
    "xai": "x-ai",
    "together_ai": "together",
    "zhipu": "zhipuai",
    "azure_openai": "azure",
    "amazon_bedrock": "aws",
}


def provider_id(provider: str) -> str:
    """genai-prices' id of one of our provider names."""
    return _PROVIDER_IDS.get(provider, provider)


def _tiered(price: Any, input_tokens: int) -> Decimal:
    """A flat price, or the tier that applies at this many input tokens."""
    if price is None:
        return _ZERO
    if isinstance(price, Decimal):
        return price
    chosen: Decimal = price.base
    for tier in price.tiers:
        if input_tokens > tier.start:
            chosen = tier.price
    return chosen


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens (flat, or genai-prices' tiered prices)."""

    model_ref: str
    input: Any
    output: Any
    cache_read: Any
    cache_write: Any
    #: One-hour cache writes (Anthropic); the five-minute rate when a model has none.
    cache_write_1h: Any = None

    def cost(self, u: Usage) -> Decimal:
        n = u.input_tokens
        fresh = max(n - u.cache_read_tokens - u.cache_write_tokens, 0)
        inp = _tiered(self.input, n)
        write = _tiered(self.cache_write, n) if self.cache_write else inp
        hour = min(u.cache_write_1h_tokens, u.cache_write_tokens)
        write_1h = _tiered(self.cache_write_1h, n) if self.cache_write_1h else write
        total = (
            fresh * inp
            + u.cache_read_tokens * (_tiered(self.cache_read, n) if self.cache_read else inp)
            + (u.cache_write_tokens - hour) * write
            + hour * write_1h
            + u.output_tokens * _tiered(self.output, n)
        )
        return total / _MTOK


class PriceBook:
    """Looks prices up once per (provider, model); ``None`` when the model has no known price.
    ``overrides`` lets a config price private or self-hosted models."""

    def __init__(self, overrides: dict[str, Rates] | None = None) -> None:
        self._cache: dict[tuple[str, str], Rates | None] = {}
        self._overrides = overrides or {}

    def rates(self, provider: str, model: str) -> Rates | None:
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._overrides.get(f"{provider}/{model}") or _lookup(provider, model)
        if len(self._cache) < 10_000:  # bounded: wildcard models are named by clients
            self._cache[key] = found
        return found

    def cost(self, provider: str, model: str, usage: Usage) -> Decimal | None:
        rates = self.rates(provider, model)
        return None if rates is None else rates.cost(usage)


def _lookup(provider: str, model: str) -> Rates | None:
    probe = GPUsage(input_tokens=1, output_tokens=1)
    pid = _PROVIDER_IDS.get(provider, provider)
    for provider_id in (pid, None):
        try:
            calc = calc_price(probe, model_ref=model, provider_id=provider_id)
        except LookupError:
            continue
        mp = calc.model_price
        return Rates(
            calc.model.id,
            mp.input_mtok,
            mp.output_mtok,
            mp.cache_read_mtok,
            getattr(mp, "cache_write_mtok", None),
            getattr(mp, "cache_write_1h_mtok", None),
        )
    return None
