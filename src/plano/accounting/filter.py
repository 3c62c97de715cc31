"""Usage and cost accounting: the first filter on the request path.

Tokens come from the provider's reported usage; when a stream carried none, they are counted
with tiktoken (marked ``estimated``). Cost comes from genai-prices. All of it runs in
``on_complete``, after the client has its answer.
"""

from __future__ import annotations

import time
from typing import ClassVar

from plano.accounting.ledger import Ledger, UsageRecord
from plano.accounting.pricing import PriceBook
from plano.accounting.tokens import TokenCounter
from plano.core.model import Usage
from plano.pipeline.context import RequestContext
from plano.pipeline.filters import Filter

__all__ = ["AccountingFilter"]


class AccountingFilter(Filter):
    name: ClassVar[str] = "accounting"

    def __init__(self, ledger: Ledger, prices: PriceBook, counter: TokenCounter) -> None:
        self.ledger = ledger
        self.prices = prices
        self.counter = counter

    def settle_usage(self, ctx: RequestContext) -> Usage | None:
        """The usage to bill: reported, or counted when an answer streamed without it."""
        if ctx.usage is not None or ctx.request is None or ctx.deployment is None:
            return ctx.usage
        if not ctx.output_text and ctx.status >= 400:
            # Refused (4xx/5xx before any output): providers do not bill a rejected request.
            return None
        model = ctx.deployment.model_id
        # A client that hung up mid-stream is estimated with what is loaded: loading a ~70 MB
        # encoding for every disconnect would cost more than the precision is worth.
        load = not ctx.client_closed
        return Usage(
            input_tokens=self.counter.count_request(ctx.request, model, load=load),
            output_tokens=self.counter.count("".join(ctx.output_text), model, load=load),
            estimated=True,
        )

    async def on_complete(self, ctx: RequestContext) -> None:
        if (
            ctx.usage is None
            and not ctx.client_closed
            and ctx.deployment is not None
            and ctx.request is not None
        ):
            await self.counter.ready(ctx.deployment.model_id)  # exact counts, not the estimate
        usage = ctx.usage = self.settle_usage(ctx)
        dep = ctx.deployment
        provider = dep.provider if dep is not None else ""
        model = dep.model_id if dep is not None else ""
        if usage is not None and dep is not None:
            ctx.cost = self.prices.cost(dep.price_provider, dep.price_model, usage)
        self.ledger.add(
            UsageRecord(
                request_id=ctx.request_id,
                ts=time.time(),
                shape=ctx.shape,
                model_requested=ctx.model_requested,
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
                principal=ctx.principal,
            )
        )

    async def start(self) -> None:
        await self.ledger.start()

    async def close(self) -> None:
        await self.ledger.close()
