"""plano.limits.estimate: the worst case a budget reserves is never below what the provider
can bill, and the token count a rate limit uses."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from tests.limits.support import request, upstream

from plano.accounting.pricing import PriceBook, Rates
from plano.accounting.tokens import TokenCounter
from plano.core.model import ChatRequest, ImagePart, Message, TextPart, Tool, Usage
from plano.limits.estimate import (
    IMAGE_TOKENS,
    ModelLimits,
    counts_exactly,
    estimated_tokens,
    input_bound,
    nano_usd,
    output_bound,
    request_tokens,
    tokens_at_most,
    worst_case,
    worst_cost,
)

NONE = ModelLimits()
MINI = PriceBook().rates("openai", "gpt-4o-mini")
SONNET = PriceBook().rates("anthropic", "claude-sonnet-4-5")


def test_input_is_bounded_by_the_bytes_sent_plus_framing() -> None:
    req = request("hello " * 100)
    body = len(upstream(req).body)
    assert input_bound(req, body, NONE) == body + 16 + 8
    # A token is at least one byte: the bound is never below a real tokenizer's count.
    counter = TokenCounter()
    counter.load()
    assert counter.count_request(req, "gpt-4o-mini", load=False) < input_bound(req, body, NONE)


def test_non_ascii_text_is_bounded_by_its_bytes() -> None:
    req = request("日本語のテキスト" * 50)
    body = len(upstream(req).body)  # orjson writes UTF-8: 3 bytes a character
    counter = TokenCounter()
    counter.load()
    assert counter.count_request(req, "gpt-4o-mini", load=False) <= input_bound(req, body, NONE)


def test_tools_add_the_providers_tool_prompt() -> None:
    tool = Tool(
        "lookup", "find things", {"type": "object", "properties": {"q": {"type": "string"}}}
    )
    req = request("hi", tools=[tool])
    assert input_bound(req, 100, NONE) == 100 + 16 + 8 + 512 + 64


def test_images_count_by_allowance_not_by_their_base64() -> None:
    data = "data:image/png;base64," + "A" * 400_000
    msg = Message("user", [TextPart("what is this?"), ImagePart(data)])
    req = ChatRequest("gpt-4o-mini", [msg], max_tokens=10)
    bound = input_bound(req, 400_100, NONE)
    assert bound == len("what is this?") + 16 + 8 + IMAGE_TOKENS
    url_only = ChatRequest("m", [Message("user", [ImagePart("https://x/cat.png")])], max_tokens=1)
    assert input_bound(url_only, 80, NONE) == 24 + IMAGE_TOKENS  # a short URL still costs


def test_the_context_window_caps_input_and_output() -> None:
    req = request("x" * 10_000, max_tokens=50_000)
    limits = ModelLimits(context_window=4096, max_output_tokens=2048)
    assert input_bound(req, 10_100, limits) == 4096
    assert output_bound(req, limits) == 2048


@pytest.mark.parametrize(
    ("max_tokens", "default", "limits", "expected"),
    [
        (100, None, NONE, 100),
        (100, 50, NONE, 100),  # the client's own wins
        (None, 50, ModelLimits(128_000, 16_384), 50),
        (None, None, ModelLimits(128_000, 16_384), 16_384),
        (None, None, ModelLimits(128_000), 128_000),
        (None, None, NONE, None),  # nothing bounds it
    ],
)
def test_output_bound(
    max_tokens: int | None, default: int | None, limits: ModelLimits, expected: int | None
) -> None:
    assert output_bound(request(max_tokens=max_tokens), limits, default) == expected


def test_several_choices_multiply_the_output() -> None:
    req = request(max_tokens=100, extra={"n": 3})
    assert output_bound(req, NONE) == 300


def test_worst_cost_of_flat_prices_rounds_up_to_a_nano_dollar() -> None:
    assert MINI is not None
    # 0.15 $/Mtok in, 0.6 $/Mtok out: 150 and 600 nano-dollars a token.
    assert worst_cost(MINI, 1000, 100) == 150 * 1000 + 600 * 100
    odd = Rates("m", Decimal("0.0000001"), Decimal(0), None, None)
    assert worst_cost(odd, 1, 0) == 1


def test_worst_cost_takes_the_dearest_input_rate_and_the_top_tier() -> None:
    assert SONNET is not None
    # Below 200k input tokens: one-hour cache writes (6 $/Mtok) are the dearest input.
    assert worst_cost(SONNET, 1000, 100) == 6000 * 1000 + 15_000 * 100
    # Past 200k input tokens every rate is the upper tier's.
    assert worst_cost(SONNET, 300_000, 100) == 12_000 * 300_000 + 22_500 * 100


@pytest.mark.parametrize(
    "usage",
    [
        Usage(1000, 100),
        Usage(1000, 100, cache_read_tokens=900),
        Usage(1000, 100, cache_write_tokens=1000, cache_write_1h_tokens=1000),
        Usage(1000, 100, cache_write_tokens=400),
    ],
)
def test_no_billed_cost_within_the_bounds_passes_the_worst_case(usage: Usage) -> None:
    for rates in (MINI, SONNET):
        assert rates is not None
        assert nano_usd(rates.cost(usage)) <= worst_cost(rates, 1000, 100)


def test_worst_case_is_none_without_an_output_bound_and_unpriced_without_rates() -> None:
    req = request(max_tokens=None)
    assert worst_case(req, 80, NONE, MINI) is None
    wc = worst_case(request(max_tokens=10), 80, NONE, None)
    assert wc is not None and wc.nano_usd is None and wc.tokens == 80 + 24 + 10


def test_nano_usd_rounds_up() -> None:
    assert nano_usd(Decimal("0.0000000001")) == 1
    assert nano_usd(Decimal("0.000010800")) == 10_800
    assert nano_usd(Decimal(0)) == 0
    assert math.isclose(nano_usd(Decimal("10")), 1e10)


async def test_rate_limit_tokens_count_exactly_only_near_a_limit() -> None:
    counter = TokenCounter()
    counter.load()
    req = request("The quick brown fox jumps over the lazy dog. " * 20)
    exact = counter.count_request(req, "gpt-4o-mini", load=False)
    assert exact != estimated_tokens(req)
    near = 1000  # the prompt's upper bound (~460) is well past 5% of it: counted
    assert await request_tokens(counter, req, "gpt-4o-mini", near) == exact
    far = 1_000_000  # far below it: the size estimate, no tokenizer
    assert await request_tokens(counter, req, "gpt-4o-mini", far) == estimated_tokens(req)
    assert not counts_exactly(req, "gpt-4o-mini", far)
    assert tokens_at_most(req) >= exact
    for other in ("claude-sonnet-4-5", "llama-3.3-70b-versatile"):
        assert await request_tokens(counter, req, other, near) == estimated_tokens(req)
    big = request("word " * 4000)  # 20 KB: estimated from its size
    assert await request_tokens(counter, big, "gpt-4o", 10) == estimated_tokens(big)
    assert estimated_tokens(big) == 3 + 3 + 20_000 // 4
