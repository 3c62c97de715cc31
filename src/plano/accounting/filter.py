"""Usage and cost accounting: the first filter on the request path.

Tokens come from the provider's reported usage; when a stream carried none, they are counted
with tiktoken (marked ``estimated``). Cost comes from genai-prices. All of it runs in
``on_complete``, after the client has its answer.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import ClassVar

from plano.accounting.ledger import UsageRecord, UsageSink
from plano.accounting.pricing import PriceBook
from plano.accounting.tokens import TokenCounter
from plano.core.model import ChatRequest, Usage, text_size
from plano.pipeline.context import ANONYMOUS, RequestContext
from plano.pipeline.filters import Filter

__all__ = ["COUNT_INPUT_BELOW", "AccountingFilter", "attribution"]

#: Prompts of up to this much text are tokenized when the provider reported no input usage.
COUNT_INPUT_BELOW = 32 * 1024


def _capped(name: str, limit: int = 200) -> str:
    """A client-chosen name as the ledger and the access log keep it (a 9 MB "model" must
    not become a 9 MB log line)."""
    return name if len(name) <= limit else f"{name[:limit]}...({len(name)} chars)"


def attribution(ctx: RequestContext) -> dict[str, str | None]:
    """Who and what a request's cost is for: the virtual key's id and its principal's user,
    team and tenant, the agent, the route, the trace (``plano cost``'s groups)."""
    p = ctx.principal
    key = p.key.id if p.key is not None else None

    def cap(v: str | None) -> str | None:
        return None if v is None else _capped(v)

    return {
        "key_id": cap(key),
        "user_id": cap(p.user),
        "team": cap(p.team),
        "tenant": cap(p.tenant),
        "agent": cap(ctx.agent_id),
        "route": cap(ctx.route),
        "trace_id": ctx.trace.trace_id,
    }


class AccountingFilter(Filter):
    name: ClassVar[str] = "accounting"

    def __init__(self, ledger: UsageSink, prices: PriceBook, counter: TokenCounter) -> None:
        self.ledger = ledger
        self.prices = prices
        self.counter = counter

    @staticmethod
    def needs_counting(ctx: RequestContext) -> bool:
        """Whether some of the usage must be counted: none or only part of it was reported."""
        if ctx.request is None or ctx.deployment is None:
            return False
        if ctx.usage is not None:
            return not ctx.usage.complete
        # Refused (4xx/5xx before any output): providers do not bill a rejected request.
        return bool(ctx.output_text) or ctx.status < 400

    def settle_usage(self, ctx: RequestContext, *, load: bool = True) -> Usage | None:
        """The usage to bill: what was reported, with only the missing side counted.
        Blocking (it may tokenize): :meth:`on_complete` runs it in a thread."""
        if not self.needs_counting(ctx):
            return ctx.usage
        assert ctx.request is not None and ctx.deployment is not None
        model = ctx.deployment.model_id
        got = ctx.usage
        out = ctx.output_text
        if got is not None and got.has_input:
            usage = Usage(
                got.input_tokens,
                cache_read_tokens=got.cache_read_tokens,
                cache_write_tokens=got.cache_write_tokens,
                cache_write_1h_tokens=got.cache_write_1h_tokens,
            )
        else:
            usage = Usage(self._input_tokens(ctx.request, model, load))
        if got is not None and got.has_output:
            usage.output_tokens = got.output_tokens
            usage.reasoning_tokens = got.reasoning_tokens
        elif out:
            counted = self.counter.count(out.sample(), model, load=load)
            usage.output_tokens = round(counted * out.scale)
        usage.estimated = True
        return usage

    def _input_tokens(self, req: ChatRequest, model: str, load: bool) -> int:
        """A prompt's tokens: counted when it is small, else estimated from its size (the
        accounting queue must keep up with the gateway: a 178 KB prompt takes ~15 ms to
        tokenize, and the provider usually reports the input anyway)."""
        size = text_size(req)
        if size.ascii_chars + size.other_bytes <= COUNT_INPUT_BELOW:
            return self.counter.count_request(req, model, load=load)
        return 3 + 3 * size.messages + size.ascii_chars // 4 + size.other_bytes // 3

    async def _settle(self, ctx: RequestContext) -> Usage | None:
        if not self.needs_counting(ctx):
            return ctx.usage
        # A client that hung up mid-stream is estimated with what is loaded: loading a ~70 MB
        # encoding for every disconnect would cost more than the precision is worth.
        load = not ctx.client_closed
        if load and ctx.deployment is not None:
            await self.counter.ready(ctx.deployment.model_id)  # exact counts, not the estimate
        loop = asyncio.get_running_loop()
        # Tokenizing is O(size): never on the event loop (a 20 MB answer took 12 s there).
        return await loop.run_in_executor(None, partial(self.settle_usage, ctx, load=False))

    async def on_complete(self, ctx: RequestContext) -> None:
        usage = ctx.usage = await self._settle(ctx)
        dep = ctx.deployment
        provider = dep.provider if dep is not None else ""
        model = dep.model_id if dep is not None else ""
        if usage is not None and dep is not None:
            ctx.cost = self.prices.cost(dep.price_provider, dep.price_model, usage)
        self.ledger.add(
            UsageRecord(
                request_id=ctx.request_id,
                client_request_id=ctx.client_request_id,
                ts=time.time(),
                shape=ctx.shape,
                model_requested=_capped(ctx.model_requested),
                provider=provider,
                model=model,
                status=ctx.status,
                stream=ctx.stream,
                usage=usage,
                cost=ctx.cost,
                total_ms=ctx.total_ms(),
                overhead_ms=ctx.overhead_ms(),
                ttft_ms=ctx.ttft_ms(),
                attempts=len(ctx.attempts),
                error=ctx.error.metric_label if ctx.error is not None else None,
                principal=None if ctx.principal is ANONYMOUS else ctx.principal.id,
                session=ctx.session_id,
                **attribution(ctx),
            )
        )

    async def start(self) -> None:
        await self.ledger.start()

    async def close(self) -> None:
        await self.ledger.close()
