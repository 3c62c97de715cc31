"""PriceBook against the offline genai-prices data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage as GPUsage
from genai_prices import calc_price

from plano.accounting import pricing
from plano.accounting.pricing import PriceBook, Rates
from plano.core.model import Usage

MTOK = Decimal(1_000_000)


def test_gpt_4o_with_cached_tokens() -> None:
    cost = PriceBook().cost("openai", "gpt-4o", Usage(1000, 500, cache_read_tokens=200))
    expected = (800 * Decimal("2.5") + 200 * Decimal("1.25") + 500 * Decimal(10)) / MTOK
    assert cost == expected == Decimal("0.00725")


def test_anthropic_cache_write_is_priced_at_the_write_rate() -> None:
    book = PriceBook()
    rates = book.rates("anthropic", "claude-3-5-sonnet-latest")
    assert rates is not None and rates.cache_write is not None
    u = Usage(input_tokens=3000, output_tokens=100, cache_read_tokens=1000, cache_write_tokens=1500)
    expected = (
        500 * Decimal(3) + 1000 * Decimal("0.3") + 1500 * Decimal("3.75") + 100 * Decimal(15)
    ) / MTOK
    assert book.cost("anthropic", "claude-3-5-sonnet-latest", u) == expected


def test_tiered_price_above_200k_input_tokens() -> None:
    book = PriceBook()
    small = book.cost("anthropic", "claude-sonnet-4-5", Usage(200_000, 1000))
    big = book.cost("anthropic", "claude-sonnet-4-5", Usage(200_001, 1000))
    assert small == (200_000 * Decimal(3) + 1000 * Decimal(15)) / MTOK
    assert big == (200_001 * Decimal(6) + 1000 * Decimal("22.5")) / MTOK


@pytest.mark.parametrize(
    ("provider", "model", "usage"),
    [
        ("openai", "gpt-4o", Usage(1000, 500, cache_read_tokens=200)),
        ("openai", "gpt-4o-mini", Usage(12_345, 678)),
        ("anthropic", "claude-sonnet-4-5", Usage(250_000, 2000, 10_000, 5000)),
        ("anthropic", "claude-sonnet-4-5", Usage(10_000, 2000, 1000, 500)),
        ("anthropic", "claude-3-5-sonnet-latest", Usage(3000, 100, 1000, 1500)),
        ("anthropic", "claude-sonnet-4-5", Usage(3000, 100, 0, 1500, cache_write_1h_tokens=1000)),
    ],
)
def test_matches_genai_prices_own_calculation(provider: str, model: str, usage: Usage) -> None:
    ref = calc_price(
        GPUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
        ),
        model_ref=model,
        provider_id=provider,
    )
    assert PriceBook().cost(provider, model, usage) == ref.total_price


def test_provider_names_are_mapped_to_genai_prices_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Any] = []
    real = pricing.calc_price

    def spy(usage: Any, *, model_ref: str, provider_id: str | None) -> Any:
        asked.append(provider_id)
        return real(usage, model_ref=model_ref, provider_id=provider_id)

    monkeypatch.setattr(pricing, "calc_price", spy)
    rates = PriceBook().rates("gemini", "gemini-2.5-flash")
    assert asked == ["google"]
    assert rates is not None and rates.model_ref == "gemini-2.5-flash"
    asked.clear()
    PriceBook().rates("azure_openai", "gpt-4o")
    assert asked == ["azure"]


def test_unknown_provider_falls_back_to_any_provider() -> None:
    rates = PriceBook().rates("my-proxy", "gpt-4o")
    assert rates is not None and rates.input == Decimal("2.5")


def test_unknown_model_is_none_and_the_miss_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = pricing._lookup

    def spy(provider: str, model: str) -> Rates | None:
        calls.append((provider, model))
        return real(provider, model)

    monkeypatch.setattr(pricing, "_lookup", spy)
    book = PriceBook()
    assert book.cost("openai", "no-such-model-xyz", Usage(10, 10)) is None
    assert book.cost("openai", "no-such-model-xyz", Usage(10, 10)) is None
    assert book.rates("openai", "gpt-4o") is not None
    assert book.rates("openai", "gpt-4o") is not None
    assert calls == [("openai", "no-such-model-xyz"), ("openai", "gpt-4o")]


def test_overrides_price_private_models() -> None:
    rates = Rates("mine", Decimal(1), Decimal(2), None, None)
    book = PriceBook({"vllm/llama-local": rates})
    # Without a cache-read price, cached tokens cost the input price.
    assert (
        book.cost("vllm", "llama-local", Usage(1000, 1000, cache_read_tokens=400))
        == (Decimal(1000) * 1 + Decimal(1000) * 2) / MTOK
    )
    assert book.rates("vllm", "llama-local") is rates


def test_cache_tokens_larger_than_input_do_not_go_negative() -> None:
    rates = Rates("m", Decimal(10), Decimal(0), Decimal(1), None)
    assert rates.cost(Usage(input_tokens=100, cache_read_tokens=150)) == 150 * Decimal(1) / MTOK


def test_zero_usage_costs_nothing() -> None:
    assert PriceBook().cost("openai", "gpt-4o", Usage()) == 0


def test_one_hour_cache_writes_cost_more_than_five_minute_ones() -> None:
    book = PriceBook()
    five = book.cost("anthropic", "claude-sonnet-4-5", Usage(1000, 0, 0, 1000))
    hour = book.cost(
        "anthropic", "claude-sonnet-4-5", Usage(1000, 0, 0, 1000, cache_write_1h_tokens=1000)
    )
    assert five == Decimal("0.00375") and hour == Decimal("0.006")
