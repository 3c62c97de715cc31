"""Budgets: spend limits in dollars and tokens, reserved before each upstream call and settled
on what the provider reported.

Per attempt (``on_upstream_request``, the deployment actually about to be called, whose price
it is): the budgets that apply to the request are found, the attempt's worst case is computed
(:mod:`plano.limits.estimate`) and reserved on every budget's counters in one atomic
:meth:`~plano.store.protocols.Counters.reserve` (all or none). Refused: a
:class:`~plano.errors.BudgetExceeded` before any byte goes upstream, which moves fallback on
(a cheaper deployment may fit) and reaches the client as a 429 when none does. A later
attempt (the previous one failed over) first releases the previous hold. After the answer
(``on_complete``, off the request's task) the last hold is settled on the request's usage
and cost as accounting computed them (what the provider reported; estimated where it
reported nothing, e.g. a client that left mid-stream), or released when nothing was used.

Counters (nano-dollars and tokens, so sums are exact) are keyed
``b:<budget>:<period>:<scope value>:usd|tok``: a new day or month is a new key. A hold lives
at most the listener's timeout plus two minutes (a worker that dies frees its holds then).
Soft limits: a first reservation under ``soft x limit``; when that fails but the hard one
holds, the request goes on with a warning (``x-plano-budget-warning``, a decision, a log
line once per budget, value and period in this process).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from plano.accounting.pricing import PriceBook
from plano.config.limits import Budget
from plano.errors import BudgetExceeded, DeploymentRefused, InvalidRequest, PlanoError
from plano.limits.background import Background
from plano.limits.estimate import ModelLimits, WorstCase, nano_usd, worst_case
from plano.limits.periods import Period, period_end, period_key, period_label
from plano.limits.render import iso_utc, tokens_text, usd
from plano.limits.scopes import Selector, key_part, scope_value
from plano.pipeline.context import Decision, RequestContext
from plano.pipeline.filters import Filter
from plano.store.health import StoreHealth
from plano.store.memory import MemoryCounters
from plano.store.protocols import Counters, Reservation, StoreUnavailable

if TYPE_CHECKING:
    from plano.providers.codec import UpstreamRequest
    from plano.providers.deployment import Deployment

__all__ = ["BudgetFilter", "BudgetRule"]

log = logging.getLogger("plano.budgets")

WARNING_HEADER = "x-plano-budget-warning"
#: Read by the openai and anthropic SDKs: ``false`` and they do not retry the error.
_NO_RETRY = "x-should-retry"
#: Waits between the tries of a settle that found the store down.
_SETTLE_RETRIES = (0.2, 1.0, 3.0)


@dataclass(frozen=True, slots=True)
class BudgetRule:
    """A budget as the filter uses it (amounts in nano-dollars and tokens)."""

    name: str
    scope: str
    selector: Selector
    period: Period
    nano_usd: int | None
    tokens: int | None
    soft: float | None = None
    default_max_tokens: int | None = None
    unpriced_free: bool = False
    fail_open: bool = False

    @classmethod
    def of(cls, b: Budget) -> BudgetRule:
        return cls(
            b.name,
            b.scope,
            Selector.of(b.match, b.models, b.applies),
            b.period,
            None if b.usd is None else nano_usd(b.usd),
            b.tokens,
            b.soft,
            b.default_max_tokens,
            b.unpriced == "free",
            b.on_store_error == "open",
        )


@dataclass(frozen=True, slots=True)
class _Applied:
    """One budget applying to one attempt: its counter keys and what this attempt needs."""

    rule: BudgetRule
    value: str
    period_key: str
    usd_key: str | None
    tok_key: str | None
    usd_need: int
    tok_need: int

    def amounts(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.usd_key is not None:
            out[self.usd_key] = self.usd_need
        if self.tok_key is not None:
            out[self.tok_key] = self.tok_need
        return out

    def limits(self, fraction: float = 1.0) -> dict[str, float]:
        r = self.rule
        out: dict[str, float] = {}
        if self.usd_key is not None and r.nano_usd is not None:
            out[self.usd_key] = float(int(r.nano_usd * fraction))
        if self.tok_key is not None and r.tokens is not None:
            out[self.tok_key] = float(int(r.tokens * fraction))
        return out

    def who(self) -> str:
        scope = self.rule.scope
        return "every request" if scope == "global" else f"{scope} {self.value!r}"


@dataclass(slots=True)
class _Hold:
    dep: str
    applied: list[_Applied]
    #: ``None``: the store was down and every budget failed open (nothing is held).
    reservation: Reservation | None


@dataclass(slots=True)
class _State:
    hold: _Hold | None = None


@dataclass(slots=True)
class _Alerts:
    """Which soft alerts this process has logged (once per budget, value and period)."""

    seen: set[str] = field(default_factory=set)

    def first(self, key: str) -> bool:
        if key in self.seen:
            return False
        if len(self.seen) >= 10_000:
            self.seen.clear()
        self.seen.add(key)
        return True


class BudgetFilter(Filter):
    name: ClassVar[str] = "budgets"
    rewrites_request: ClassVar[bool] = False  # only to add default_max_tokens, said then

    def __init__(
        self,
        rules: Sequence[BudgetRule],
        counters: Counters,
        prices: PriceBook,
        limits: Callable[[Deployment], ModelLimits],
        *,
        hold_ttl: float = 600.0,
        health: StoreHealth | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = list(rules)
        self.counters = counters
        self.prices = prices
        self.limits = limits
        self.hold_ttl = hold_ttl
        self.health = health
        self.clock = clock
        self._defaults = any(r.default_max_tokens for r in self.rules)
        self._alerts = _Alerts()
        self._background = Background("budgets")
        #: This process's memory answers without suspending (no task, no shield needed).
        self._inline = isinstance(counters, MemoryCounters)
        self._closing = False

    # ------------------------------------------------------------------ which budgets

    def _applying(
        self, ctx: RequestContext, dep: Deployment | None
    ) -> list[tuple[BudgetRule, str]]:
        key = ctx.principal.key
        named = key.budgets if key is not None else ()
        out = []
        for rule in self.rules:
            value = scope_value(rule.scope, ctx, dep)
            if value is not None and rule.selector.selects(value, dep, rule.name in named):
                out.append((rule, value))
        return out

    async def on_request(self, ctx: RequestContext) -> None:
        req = ctx.request
        if not self._defaults or req is None or req.max_tokens is not None:
            return
        caps = [r.default_max_tokens for r, _ in self._applying(ctx, None) if r.default_max_tokens]
        if caps:
            req.max_tokens = min(caps)
            req.changed()  # sent upstream: the bound the reservation counts on holds

    # ------------------------------------------------------------------ admission

    async def on_upstream_request(
        self, ctx: RequestContext, dep: Deployment, request: UpstreamRequest
    ) -> None:
        state = ctx.state.get(self.name)
        if state is None:
            state = ctx.state[self.name] = _State()
        else:  # a later attempt: the previous one failed over (or this filter refused it)
            ctx.response_headers.pop(_NO_RETRY, None)
            if state.hold is not None:  # nothing was used
                hold, state.hold = state.hold, None
                await self._release_now(hold)
        applying = self._applying(ctx, dep)
        if not applying or ctx.request is None:
            return
        wc = self._worst_case(ctx, dep, request, applying)
        now = self.clock()
        applied = [self._apply(rule, value, wc, dep, now) for rule, value in applying]
        if self._inline:  # nothing suspends: a cancellation cannot fall mid-reservation
            state.hold = await self._reserve(ctx, dep, applied, wc, now)
            return
        # Shielded: a client that leaves while the store answers must not leave a hold
        # behind until its TTL; the reservation, once made, is released.
        task = asyncio.ensure_future(self._reserve(ctx, dep, applied, wc, now))
        try:
            state.hold = await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(self._release_orphan)
            raise

    async def _release_now(self, hold: _Hold) -> None:
        """Release before the next reservation (a tight budget must see the hold gone); a
        store that fails it is retried in the background, not on the request."""
        try:
            await self._finish(hold, None)
        except StoreUnavailable:
            self._background.run(self._end(hold, None))

    def _release_orphan(self, task: asyncio.Future[_Hold]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        self._background.run(self._end(task.result(), None))

    def _worst_case(
        self,
        ctx: RequestContext,
        dep: Deployment,
        request: UpstreamRequest,
        applying: list[tuple[BudgetRule, str]],
    ) -> WorstCase:
        assert ctx.request is not None
        priced = any(rule.nano_usd is not None for rule, _ in applying)
        rates = self.prices.rates(dep.price_provider, dep.price_model) if priced else None
        wc = worst_case(ctx.request, len(request.body), self.limits(dep), rates)
        if wc is None:
            raise InvalidRequest(
                f"A budget applies to this request, and nothing bounds its output: set "
                f"max_tokens (the model {dep.provider}/{dep.model_id} declares no output "
                "limit or context window).",
                code="max_tokens_required",
                param="max_tokens",
            )
        if wc.nano_usd is None and priced:
            for rule, _ in applying:
                if rule.nano_usd is not None and not rule.unpriced_free:
                    raise DeploymentRefused(
                        f"Budget {rule.name!r} is in dollars and no price is known for "
                        f"{dep.provider}/{dep.model_id}, so its cost cannot be reserved "
                        "(set the budget's unpriced: free to count it as free).",
                        code="budget_unpriced_model",
                    )
        return wc

    def _apply(
        self, rule: BudgetRule, value: str, wc: WorstCase, dep: Deployment, now: float
    ) -> _Applied:
        pk = period_key(rule.period, now)
        base = f"b:{rule.name}:{pk}:{key_part(value)}"
        usd_key = f"{base}:usd" if rule.nano_usd is not None and wc.nano_usd is not None else None
        tok_key = f"{base}:tok" if rule.tokens is not None else None
        return _Applied(rule, value, pk, usd_key, tok_key, wc.nano_usd or 0, wc.tokens)

    async def _reserve(
        self,
        ctx: RequestContext,
        dep: Deployment,
        applied: list[_Applied],
        wc: WorstCase,
        now: float,
    ) -> _Hold:
        amounts: dict[str, float] = {}
        hard: dict[str, float] = {}
        soft: dict[str, float] = {}
        for a in applied:
            amounts.update(a.amounts())
            hard.update(a.limits())
            soft.update(a.limits(a.rule.soft or 1.0))
        if not amounts:  # dollar budgets only, on a model counted as free
            return _Hold(dep.key, applied, None)
        try:
            res = await self._try(amounts, soft if soft != hard else hard)
            warned = False
            if res is None and soft != hard:
                res = await self._try(amounts, hard)
                warned = res is not None
            if res is None:
                res = await self._refused(ctx, dep, applied, amounts, hard, wc, now)
            if warned:
                await self._warn(ctx, applied)
        except StoreUnavailable as exc:
            return self._store_down(ctx, dep, applied, exc)
        return _Hold(dep.key, applied, res)

    async def _try(
        self, amounts: Mapping[str, float], limits: Mapping[str, float]
    ) -> Reservation | None:
        res = await self.counters.reserve(amounts, limits, self.hold_ttl)
        if self.health is not None:
            self.health.up()
        return res

    def _store_down(
        self, ctx: RequestContext, dep: Deployment, applied: list[_Applied], exc: StoreUnavailable
    ) -> _Hold:
        if self.health is not None and self.health.down(exc.message):
            log.warning("budgets: the hot store is unavailable (%s)", exc.message)
        closed = [a.rule.name for a in applied if not a.rule.fail_open]
        if closed:
            ctx.decisions.append(
                Decision("budget", "deny", closed[0], "hot store unavailable; failing closed")
            )
            raise StoreUnavailable(
                "Budgets cannot be checked right now (their store is unavailable); the request "
                "was not sent. Retry shortly.",
                code="store_unavailable",
            ) from exc
        names = ", ".join(a.rule.name for a in applied)
        log.warning(
            "budgets %s: store unavailable, request %s sent uncounted", names, ctx.request_id
        )
        ctx.decisions.append(
            Decision("budget", "allow", names, "hot store unavailable; failing open")
        )
        return _Hold(dep.key, applied, None)

    # ------------------------------------------------------------------ refusals, warnings

    async def _refused(
        self,
        ctx: RequestContext,
        dep: Deployment,
        applied: list[_Applied],
        amounts: Mapping[str, float],
        hard: Mapping[str, float],
        wc: WorstCase,
        now: float,
    ) -> Reservation:
        """Find the budget that refused, and raise its 429. Holds may have gone meanwhile:
        when no budget is short any more, the reservation is tried once again."""
        found = await self._short(applied)
        if found is None:
            res = await self._try(amounts, hard)
            if res is not None:
                return res
            found = await self._short(applied) or (applied[0], "usd", 0.0)
        a, unit, spent = found
        err = _exceeded(a, unit, spent, dep, now)
        ctx.decisions.append(Decision("budget", "deny", a.rule.name, err.message))
        ctx.response_headers[_NO_RETRY] = "false"  # the SDKs' retries cannot help now
        raise err

    async def _short(self, applied: list[_Applied]) -> tuple[_Applied, str, float] | None:
        """The first budget whose spent + held + need passes its limit, with the unit and the
        amount spent or held."""
        for a in applied:
            for unit, key, need, limit in (
                ("usd", a.usd_key, a.usd_need, a.rule.nano_usd),
                ("tok", a.tok_key, a.tok_need, a.rule.tokens),
            ):
                if key is None or limit is None:
                    continue
                used, held = await self.counters.get(key)
                if used + held + need > limit:
                    return a, unit, used + held
        return None

    async def _warn(self, ctx: RequestContext, applied: list[_Applied]) -> None:
        parts: list[str] = []
        for a in applied:
            soft = a.rule.soft
            if soft is None:
                continue
            for key, limit, show in (
                (a.usd_key, a.rule.nano_usd, usd),
                (a.tok_key, a.rule.tokens, tokens_text),
            ):
                if key is None or not limit:
                    continue
                used, held = await self.counters.get(key)
                if used + held < soft * limit:
                    continue
                share = min(999, round(100 * (used + held) / limit))
                parts.append(f"{a.rule.name} {share}% of {show(limit)} {a.rule.period}")
                reason = f"{a.who()} at {share}% of {show(limit)} {period_label(a.rule.period)}"
                ctx.decisions.append(Decision("budget", "flag", a.rule.name, reason))
                if self._alerts.first(f"{key}"):
                    log.warning("budget %s: %s (soft limit %d%%)", a.rule.name, reason, soft * 100)
        if parts:
            ctx.response_headers[WARNING_HEADER] = ", ".join(dict.fromkeys(parts))

    # ------------------------------------------------------------------ settlement

    async def on_complete(self, ctx: RequestContext) -> None:
        state = ctx.state.get(self.name)
        if not isinstance(state, _State) or state.hold is None:
            return
        hold, state.hold = state.hold, None
        dep = ctx.deployment
        usage = ctx.usage
        actual: dict[str, float] | None = None
        if usage is not None and dep is not None and dep.key == hold.dep:
            spent = nano_usd(ctx.cost) if ctx.cost is not None else 0
            tokens = usage.input_tokens + usage.output_tokens
            actual = {}
            for a in hold.applied:
                if a.usd_key is not None:
                    actual[a.usd_key] = spent
                if a.tok_key is not None:
                    actual[a.tok_key] = tokens
        self._background.run(self._end(hold, actual))

    async def _end(self, hold: _Hold, actual: dict[str, float] | None) -> None:
        """Settle ``hold`` on ``actual`` (release it when ``None``), retrying a store that is
        down a few times; a hold never settled expires with its TTL."""
        for wait in (*_SETTLE_RETRIES, None):
            try:
                await self._finish(hold, actual)
                return
            except StoreUnavailable as exc:
                if wait is None or self._closing:
                    names = ", ".join(a.rule.name for a in hold.applied)
                    log.error("budgets %s: could not settle a request (%s)", names, exc.message)
                    return
                await asyncio.sleep(wait)

    async def _finish(self, hold: _Hold, actual: dict[str, float] | None) -> None:
        res = hold.reservation
        if res is None:  # failed open: count what was spent, unreserved
            for key, amount in (actual or {}).items():
                if amount:
                    await self.counters.add(key, amount)
        elif actual is None:
            await self.counters.release(res)
        else:
            await self.counters.settle(res, actual)

    async def idle(self) -> None:
        """Until the work queued after answers so far has run (tests, benchmarks)."""
        await self._background.wait()

    async def close(self) -> None:
        """Wait for the settlements under way; one that finds the store down gives up at
        once (its hold expires with its TTL) rather than hold the shutdown."""
        self._closing = True
        await self._background.wait()


def _exceeded(a: _Applied, unit: str, spent: float, dep: Deployment, now: float) -> PlanoError:
    r = a.rule
    show = usd if unit == "usd" else tokens_text
    limit = (r.nano_usd if unit == "usd" else r.tokens) or 0
    need = a.usd_need if unit == "usd" else a.tok_need
    cost = "cost up to" if unit == "usd" else "use up to"
    model = f"{dep.provider}/{dep.model_id}"
    if need > limit:
        text = (
            f"Budget {r.name!r} ({a.who()}) cannot cover this request: it may {cost} "
            f"{show(need)} on {model}, more than the budget's {show(limit)} "
            f"{period_label(r.period)}. Lower max_tokens or shorten the prompt."
        )
    else:
        text = (
            f"Budget {r.name!r} ({a.who()}) cannot cover this request: {show(spent)} of "
            f"{show(limit)} is spent or held {period_label(r.period)}, and the request may "
            f"{cost} {show(need)} on {model}."
        )
    end = period_end(r.period, now)
    if end is not None:
        text += f" It resets at {iso_utc(end)}."
    return BudgetExceeded(
        text, code="budget_exceeded", retry_after=None if end is None else end - now
    )
