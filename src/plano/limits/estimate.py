"""What a request may cost at most, before it is sent (the amount a budget reserves), and how
many input tokens it carries (what a token rate limit counts). Pure: the request, the bytes
going upstream, the model's limits and its prices in; numbers out.

The worst case of one attempt at one deployment::

    input  <= the upstream body's size in bytes              (text: a token is at least one
              + 8 per message + 16                            byte in every tokenizer Plano
              + 512 when tools are offered                    knows; framing, and the tool-use
              + 64 per tool                                   prompt providers add, as
              + 25,600 per image, counted instead of its      allowances)
                bytes (the largest a high-detail image costs)
           and <= the model's context window, when known
    output <= max_tokens x n                                  (the provider stops there)
              else default_max_tokens (sent upstream)
              else the model's max_output_tokens, else its context window
    cost   <= input x the highest input rate (cache writes included, the top price tier)
              + output x the highest output rate, rounded up to a nano-dollar

A request whose output has no bound at all (no max_tokens, no default, a model whose limits are
unknown) cannot be reserved: budgets refuse it with a 400 that asks for ``max_tokens``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

import orjson

from plano.accounting.pricing import Rates
from plano.accounting.tokens import TokenCounter
from plano.core.model import ChatRequest, text_size

__all__ = [
    "CLOSE_SHARE",
    "IMAGE_TOKENS",
    "NANO",
    "ModelLimits",
    "WorstCase",
    "counts_exactly",
    "estimated_tokens",
    "input_bound",
    "nano_usd",
    "output_bound",
    "request_tokens",
    "tokens_at_most",
    "worst_case",
    "worst_cost",
]

#: Nano-dollars per dollar: budgets count in whole nano-dollars, so sums are exact.
NANO = Decimal(1_000_000_000)
#: Tokens allowed per image (gpt-4o-mini's largest high-detail image; others cost less).
IMAGE_TOKENS = 25_600
_REQUEST = 16
_PER_MESSAGE = 8
_TOOLS = 512
_PER_TOOL = 64
#: Prompts up to this much text may be tokenized for rate limits (in a thread); longer ones
#: are estimated from their size.
COUNT_BELOW_CHARS = 8 * 1024
#: A token limit is close when a prompt's upper bound reaches this share of it: only then is
#: the prompt counted exactly (tiktoken on 2 KB costs ~400 µs; the estimate ~2 µs).
CLOSE_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """What a deployment's model can take and give, when known."""

    context_window: int | None = None
    max_output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class WorstCase:
    input_tokens: int
    output_tokens: int
    #: ``None`` when the deployment has no known price.
    nano_usd: int | None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def _tool_text(req: ChatRequest) -> int:
    n = 0
    for t in req.tools:
        try:
            n += len(orjson.dumps(t.parameters))
        except (orjson.JSONEncodeError, TypeError):
            n += 64 * 1024  # nested past what orjson writes: a generous allowance
        n += len(t.name.encode()) + len((t.description or "").encode())
    return n


def input_bound(req: ChatRequest, body_bytes: int, limits: ModelLimits) -> int:
    """The most input tokens the request sent with a body of ``body_bytes`` can be billed."""
    size = text_size(req)
    overhead = _REQUEST + _PER_MESSAGE * size.messages
    if req.tools:
        overhead += _TOOLS + _PER_TOOL * len(req.tools)
    text = body_bytes
    if size.images:  # their bytes (base64) overstate them; their tokens are bounded apart
        text = min(body_bytes, size.ascii_chars + size.other_bytes + _tool_text(req))
        overhead += IMAGE_TOKENS * size.images
    bound = text + overhead
    window = limits.context_window
    return min(bound, window) if window else bound


def output_bound(
    req: ChatRequest, limits: ModelLimits, default_max_tokens: int | None = None
) -> int | None:
    """The most output tokens (reasoning included) the request can be billed; ``None`` when
    nothing bounds it."""
    n = req.extra.get("n")
    choices = n if isinstance(n, int) and n > 1 else 1
    out = req.max_tokens or default_max_tokens or limits.max_output_tokens or limits.context_window
    if out is None:
        return None
    for cap in (limits.max_output_tokens, limits.context_window):
        if cap:
            out = min(out, cap)
    return out * choices


def _top(price: Any, input_tokens: int) -> Decimal:
    """A price in $/Mtok at its highest tier reachable with this many input tokens."""
    if price is None:
        return Decimal(0)
    if isinstance(price, Decimal):
        return price
    best: Decimal = price.base
    for tier in price.tiers:
        if input_tokens > tier.start and tier.price > best:
            best = tier.price
    return best


def worst_cost(rates: Rates, input_tokens: int, output_tokens: int) -> int:
    """Nano-dollars that ``input_tokens`` and ``output_tokens`` cost at most."""
    n = input_tokens
    rate_in = max(_top(rates.input, n), _top(rates.cache_write, n), _top(rates.cache_write_1h, n))
    rate_out = _top(rates.output, n)
    # $/Mtok x tokens / 1e6 = $; x 1e9 = nano-dollars.
    return math.ceil((input_tokens * rate_in + output_tokens * rate_out) * 1000)


def worst_case(
    req: ChatRequest,
    body_bytes: int,
    limits: ModelLimits,
    rates: Rates | None,
    default_max_tokens: int | None = None,
) -> WorstCase | None:
    """The attempt's worst case; ``None`` when its output has no bound."""
    out = output_bound(req, limits, default_max_tokens)
    if out is None:
        return None
    inp = input_bound(req, body_bytes, limits)
    return WorstCase(inp, out, None if rates is None else worst_cost(rates, inp, out))


def nano_usd(cost: Decimal) -> int:
    """A cost in whole nano-dollars, rounded up."""
    return int((cost * NANO).to_integral_value(rounding=ROUND_CEILING))


def estimated_tokens(req: ChatRequest) -> int:
    """Input tokens from the request's size alone: ~4 ASCII characters or ~3 other bytes a
    token, plus framing (the accounting's estimate)."""
    size = text_size(req)
    return 3 + 3 * size.messages + size.ascii_chars // 4 + size.other_bytes // 3


def _exact_tokenizer(model_id: str) -> bool:
    """Whether tiktoken is the model's own tokenizer (OpenAI's models)."""
    m = model_id.rsplit("/", 1)[-1].removeprefix("ft:")
    return m.startswith(("gpt-", "chatgpt-", "text-embedding-")) or (
        len(m) > 1 and m[0] == "o" and m[1].isdigit()
    )


def tokens_at_most(req: ChatRequest) -> int:
    """A practical upper bound on the input tokens from the size alone: ASCII text at no
    fewer than 2 characters a token, other text at most a token a byte, plus framing."""
    size = text_size(req)
    return 3 + _PER_MESSAGE * size.messages + size.ascii_chars // 2 + size.other_bytes


def counts_exactly(req: ChatRequest, model_id: str, smallest_limit: float) -> bool:
    """Whether a token rate limit needs the exact count: an OpenAI model (tiktoken is its
    tokenizer), a prompt small enough to count, and a limit close enough to matter."""
    size = text_size(req)
    if size.ascii_chars + size.other_bytes > COUNT_BELOW_CHARS or not _exact_tokenizer(model_id):
        return False
    return tokens_at_most(req) >= smallest_limit * CLOSE_SHARE


async def request_tokens(
    counter: TokenCounter, req: ChatRequest, model_id: str, smallest_limit: float
) -> int:
    """Input tokens for a token rate limit whose smallest limit is ``smallest_limit``: the
    size estimate (:func:`estimated_tokens`), unless the prompt's upper bound is close to the
    limit (:func:`counts_exactly`); then counted with tiktoken off the event loop (its
    encoding loads in a thread the first time). Other model families keep the estimate:
    their tokenizers are not available offline."""
    if counts_exactly(req, model_id, smallest_limit):
        return await counter.count_request_async(req, model_id)
    return estimated_tokens(req)
