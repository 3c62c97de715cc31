"""Rate limits: requests and tokens per window, counted in the hot store's sliding windows
(:meth:`~plano.store.protocols.Counters.window`), so one limit holds across every worker and
replica that shares the store.

Two sources, one filter:

* ours (``rate_limits:``): requests and/or tokens per second, minute, hour or day per key,
  user, team, tenant, session, model or globally. A request counts once per limit, whatever
  the number of attempts; a ``model`` limit counts each model an attempt calls. Tokens: the
  input at admission, the output added when the answer ends;
* Plano's (``ratelimits:``), as Plano documents them: only when the client sends
  ``x-arch-ratelimit-selector: <header name>``, for the entries keyed on that header whose
  ``value`` equals the header's value, or is ``*`` (a bucket per distinct value); input
  tokens per unit; the model as ``provider/model`` or its bare id.

Input tokens are estimated from the prompt's size, and counted with tiktoken (in a thread)
only for OpenAI's models when the prompt is small and its upper bound is close to the smallest
token limit that applies (:func:`plano.limits.estimate.request_tokens`). Checked per attempt,
before the call (``on_upstream_request``): a refusal is a 429 in the client's shape with
``Retry-After`` and OpenAI's ``x-ratelimit-*`` headers, which every admitted answer carries too.
Every limit of an attempt is checked in one operation (``Counters.windows``: one round trip,
one transaction), each on its own: a request refused by one limit still counts against the
others it passed. A store that is down: admitted (``on_store_error: open``, the default,
logged at most every 10 s) or 503 (``closed``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from plano.accounting.tokens import TokenCounter
from plano.config.limits import RateLimitRule, rate_limit_name
from plano.config.sections import RateLimit
from plano.errors import RateLimited
from plano.limits.background import Background
from plano.limits.estimate import request_tokens
from plano.limits.render import WindowShown, duration, ratelimit_headers, window_reset
from plano.limits.scopes import Selector, key_part, model_names, scope_value
from plano.pipeline.context import Decision, RequestContext
from plano.pipeline.filters import Filter
from plano.providers.deployment import shown_name
from plano.store.health import StoreHealth
from plano.store.protocols import Counters, StoreUnavailable, WindowDecision

if TYPE_CHECKING:
    from plano.providers.codec import UpstreamRequest
    from plano.providers.deployment import Deployment

__all__ = ["SELECTOR_HEADER", "WINDOWS", "PlanoRule", "RateLimitFilter", "RateRule"]

log = logging.getLogger("plano.ratelimits")

SELECTOR_HEADER = "x-arch-ratelimit-selector"
WINDOWS: dict[str, float] = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
#: The limit of an unconditional add (output tokens after the answer).
_UNLIMITED = 1e18
_WARN_EVERY = 10.0
#: A token check's amount until the input is counted (amounts are never negative).
_TOKENS = -1.0

Kind = Literal["requests", "tokens"]


@dataclass(frozen=True, slots=True)
class RateRule:
    """One of our ``rate_limits`` entries."""

    name: str
    scope: str
    selector: Selector
    requests: int | None
    tokens: int | None
    per: str
    fail_open: bool = True

    @classmethod
    def of(cls, rule: RateLimitRule, index: int) -> RateRule:
        return cls(
            rate_limit_name(rule, index),
            rule.scope,
            Selector.of(rule.match, rule.models, rule.applies),
            rule.requests,
            rule.tokens,
            rule.per,
            rule.on_store_error == "open",
        )


@dataclass(frozen=True, slots=True)
class PlanoRule:
    """One of Plano's ``ratelimits`` entries."""

    index: int
    model: str
    header: str
    value: str
    tokens: int
    unit: str

    @classmethod
    def of(cls, rule: RateLimit, index: int) -> PlanoRule:
        s = rule.selector
        return cls(index, rule.model, s.key.lower(), s.value, rule.limit.tokens, rule.limit.unit)


@dataclass(frozen=True, slots=True)
class _Check:
    """One window one attempt is checked against."""

    key: str
    kind: Kind
    limit: float
    seconds: float
    per: str
    fail_open: bool
    #: Who, for a refusal's message (built only then): the limit's name, and the scope (or
    #: header) and its value unless global.
    name: str
    scope: str | None = None
    value: str = ""
    #: Output tokens are added here when the answer ends (our token limits).
    add_output: bool = False

    @property
    def label(self) -> str:
        return (
            self.name
            if self.scope is None
            else f"{self.name} ({self.scope} {shown_name(self.value)})"
        )


@dataclass(slots=True)
class _State:
    counted: set[str] = field(default_factory=set)
    #: Token windows that admitted the request: (key, seconds).
    output_to: list[tuple[str, float]] = field(default_factory=list)
    #: What each window said, for the headers (a later attempt skips those counted).
    shown: dict[str, WindowShown] = field(default_factory=dict)


class RateLimitFilter(Filter):
    name: ClassVar[str] = "rate_limits"
    rewrites_request: ClassVar[bool] = False

    def __init__(
        self,
        rules: Sequence[RateRule],
        plano_rules: Sequence[PlanoRule],
        counters: Counters,
        counter: TokenCounter,
        *,
        health: StoreHealth | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = list(rules)
        self.plano_rules = list(plano_rules)
        self.counters = counters
        self.counter = counter
        self.health = health
        self.clock = clock
        self._warned_at = -_WARN_EVERY
        self._background = Background("rate limits")

    # ------------------------------------------------------------------ which windows

    def _checks(self, ctx: RequestContext, dep: Deployment) -> list[tuple[_Check, float]]:
        """Every window the attempt falls in; token checks carry :data:`_TOKENS` until the
        input is counted (once, for all of them)."""
        key = ctx.principal.key
        named = key.rate_limits if key is not None else ()
        out: list[tuple[_Check, float]] = []
        for r in self.rules:
            value = scope_value(r.scope, ctx, dep)
            if value is None or not r.selector.selects(value, dep, r.name in named):
                continue
            base = f"r:{r.name}:{key_part(value)}"
            who = (repr(r.name), None if r.scope == "global" else r.scope, value)
            s = WINDOWS[r.per]
            if r.requests is not None:
                out.append(
                    (_Check(base + ":req", "requests", r.requests, s, r.per, r.fail_open, *who), 1)
                )
            if r.tokens is not None:
                check = _Check(base + ":tok", "tokens", r.tokens, s, r.per, r.fail_open, *who, True)
                out.append((check, _TOKENS))
        return out + self._plano_checks(ctx, dep)

    def _plano_checks(self, ctx: RequestContext, dep: Deployment) -> list[tuple[_Check, float]]:
        if not self.plano_rules:
            return []
        header = (ctx.headers.get(SELECTOR_HEADER) or "").strip().lower()
        if not header:
            return []
        value = ctx.headers.get(header)
        if value is None:
            return []
        names = model_names(dep)
        out: list[tuple[_Check, float]] = []
        for r in self.plano_rules:
            if r.header != header or r.model not in names or r.value not in ("*", value):
                continue
            key = f"p:{r.index}:{key_part(header)}:{key_part(value)}"
            seconds = WINDOWS[r.unit]
            check = _Check(
                key,
                "tokens",
                r.tokens,
                seconds,
                r.unit,
                True,
                f"ratelimits[{r.index}]",
                header,
                value,
            )
            out.append((check, _TOKENS))
        return out

    # ------------------------------------------------------------------ admission

    async def on_upstream_request(
        self, ctx: RequestContext, dep: Deployment, request: UpstreamRequest
    ) -> None:
        state = ctx.state.get(self.name)
        if state is None:
            state = ctx.state[self.name] = _State()
        checks = [(c, n) for c, n in self._checks(ctx, dep) if c.key not in state.counted]
        if not checks:
            return
        limits = [c.limit for c, a in checks if a < 0]
        if limits:
            req = ctx.request
            n = (
                0
                if req is None
                else await request_tokens(self.counter, req, dep.model_id, min(limits))
            )
            checks = [(c, n if a < 0 else a) for c, a in checks]
        answers = await self._decide(checks)
        now = self.clock()
        shown = state.shown
        refused: list[tuple[_Check, float, WindowDecision]] = []
        for (check, amount), decision in zip(checks, answers, strict=True):
            if decision is None:  # the store is down and the limit fails open
                continue
            reset = (
                decision.retry_after if not decision.allowed else window_reset(now, check.seconds)
            )
            shown[check.key] = WindowShown(check.kind, check.limit, decision, reset)
            if not decision.allowed:
                refused.append((check, amount, decision))
                continue
            state.counted.add(check.key)
            if check.add_output:
                state.output_to.append((check.key, check.seconds))
        ctx.response_headers.update(ratelimit_headers(list(shown.values())))
        if refused:
            raise _refusal(ctx, refused)

    async def _decide(self, checks: list[tuple[_Check, float]]) -> list[WindowDecision | None]:
        """Every window at once (one round trip); ``None`` each when the store is down and
        every limit fails open."""
        try:
            if len(checks) == 1:
                c, n = checks[0]
                answers = [await self.counters.window(c.key, n, c.limit, c.seconds)]
            else:
                batch = [(c.key, n, c.limit, c.seconds) for c, n in checks]
                answers = await self.counters.windows(batch)
        except StoreUnavailable as exc:
            if self.health is not None:
                self.health.down(exc.message)
            if not all(c.fail_open for c, _ in checks):
                raise StoreUnavailable(
                    "Rate limits cannot be checked right now (their store is unavailable); "
                    "the request was not sent. Retry shortly.",
                    code="store_unavailable",
                ) from exc
            now = time.monotonic()
            if now - self._warned_at >= _WARN_EVERY:
                self._warned_at = now
                log.warning("rate limits: store unavailable (%s); admitting", exc.message)
            return [None] * len(checks)
        if self.health is not None:
            self.health.up()
        return list(answers)

    # ------------------------------------------------------------------ after the answer

    async def on_complete(self, ctx: RequestContext) -> None:
        state = ctx.state.get(self.name)
        usage = ctx.usage
        if not isinstance(state, _State) or not state.output_to or usage is None:
            return
        if usage.output_tokens <= 0:
            return
        self._background.run(self._add_output(state.output_to, usage.output_tokens))

    async def _add_output(self, windows: list[tuple[str, float]], amount: int) -> None:
        try:
            await self.counters.windows([(k, amount, _UNLIMITED, s) for k, s in windows])
        except StoreUnavailable:
            return  # fails open, like admission (logged there)

    async def idle(self) -> None:
        """Until the work queued after answers so far has run (tests, benchmarks)."""
        await self._background.wait()

    async def close(self) -> None:
        await self._background.wait()


def _refusal(
    ctx: RequestContext, refused: list[tuple[_Check, float, WindowDecision]]
) -> RateLimited:
    check, amount, decision = max(refused, key=lambda r: r[2].retry_after)
    unit = (
        "requests"
        if check.kind == "requests"
        else ("input tokens" if check.key.startswith("p:") else "tokens")
    )
    wait = decision.retry_after
    if amount > check.limit:
        text = (
            f"Rate limit {check.label} allows {int(check.limit):,} {unit} per {check.per}; "
            f"this request alone needs {int(amount):,}."
        )
    else:
        text = (
            f"Rate limit {check.label} reached: {int(check.limit):,} {unit} per {check.per} "
            f"(used {int(decision.count):,}, requested {int(amount):,}). "
            f"Try again in {duration(wait)}."
        )
    ctx.decisions.append(Decision("rate_limit", "deny", check.label, text))
    return RateLimited(text, code="rate_limit_exceeded", retry_after=max(wait, 0.001))
