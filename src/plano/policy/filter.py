"""The policy filter: tool rules and Rego policies on every request of a model listener.

``on_request`` (before routing): tool rules on the offered tools, then the ``request`` phase
(deny, route, cap ``max_tokens``, strip offered tools, redact). ``on_response`` and, in a
stream, ``on_stream_event``: tool rules on the calls, then the ``response`` phase (deny,
strip tool calls). In a stream every tool-call piece is held until its choice ends (its
``StreamEnd``, or usage), the calls are decided whole, and only the kept ones are released:
the client never sees a piece of a stripped or blocked call. An answer without tool calls
skips the response phase unless a response-phase policy refers to ``deployment``. Every
decision goes to ``ctx.decisions``; the actions taken (other than allowing) to the
``x-plano-policy`` header.

A deny is a :class:`~plano.policy.errors.PolicyDenied` (403 in the client's API, or the
stream's in-band error). A policy that fails at run time is counted, logged and recorded;
``on_error: closed`` (the default) denies, ``open`` leaves that policy out for the request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import orjson

from plano.config.names import ModelNames
from plano.config.schema import ModelProvider
from plano.core.model import (
    ChatRequest,
    ChatResponse,
    StreamEnd,
    StreamError,
    StreamEvent,
    ToolCall,
    ToolCallDelta,
    UsageEvent,
)
from plano.errors import InvalidRequest
from plano.pipeline.context import Decision, RequestContext
from plano.pipeline.filters import Filter
from plano.policy.counters import SessionToolCalls
from plano.policy.decisions import (
    DecisionError,
    Verdict,
    apply_redactions,
    cap_tokens,
    refused_key,
    strip_offered,
)
from plano.policy.engine import Outcome, PolicyEngine
from plano.policy.errors import PolicyDenied
from plano.policy.input import SpendReader, build_input, request_doc, tool_call_docs
from plano.policy.stream import HeldCalls
from plano.policy.tools import ToolRules, Who
from plano.rego.schema import Phase

__all__ = ["POLICY_HEADER", "AnswerPolicyFilter", "PolicyFilter"]

log = logging.getLogger("plano.policy")

#: Response header listing the actions policies took (``route,cap_max_tokens``).
POLICY_HEADER = "x-plano-policy"
_TOOL_RULES = "tool_rules"


@dataclass(slots=True)
class _State:
    """One request's policy state (``ctx.state["policy"]``)."""

    #: ``input.request``, built once (again only after a policy rewrote the request).
    request: dict[str, Any] | None = None
    gathered: bool = False
    session_calls: int | None = None
    spend: Mapping[str, Any] | None = None
    held: HeldCalls = field(default_factory=HeldCalls)
    decided: set[int] = field(default_factory=set)
    #: Choices whose every tool call was stripped.
    emptied: set[int] = field(default_factory=set)
    acted: dict[str, None] = field(default_factory=dict)


class PolicyFilter(Filter):
    """Requests only (no policy runs on answers, no tool rule on calls)."""

    name: ClassVar[str] = "policy"
    #: A bug here must not let a request through unchecked.
    fail_closed: ClassVar[bool] = True
    #: It says itself when it rewrote the request (``ChatRequest.changed``).
    rewrites_request: ClassVar[bool] = False

    def __init__(
        self,
        engine: PolicyEngine,
        tools: ToolRules,
        names: ModelNames[ModelProvider] | None = None,
        pools: Container[str] = (),
        sessions: SessionToolCalls | None = None,
        spend: SpendReader | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.tools = tools
        self.names = names
        self.pools = pools
        self.sessions = sessions
        self.spend = spend
        self.clock = clock
        self.every_answer = engine.every_answer
        self._names_seen: dict[str, dict[str, str] | None] = {}

    async def start(self) -> None:
        self.engine.build()  # on the event loop's thread, which evaluates

    async def close(self) -> None:
        self.engine.release()  # on that thread too: never left to the garbage collector

    def stats(self) -> dict[str, Any]:
        return self.engine.stats()

    # ------------------------------------------------------------------ request

    async def on_request(self, ctx: RequestContext) -> None:
        req = ctx.request
        if req is None:
            return
        st = self._state(ctx)
        if req.tools and self.tools.covers("offered"):
            self._offered(ctx, req)
        if self.engine.active("request"):
            document = await self._document(ctx, st, "request")
            verdicts = self._settle(ctx, "request", self.engine.evaluate("request", document))
            self._apply(ctx, req, verdicts)

    def _offered(self, ctx: RequestContext, req: ChatRequest) -> None:
        rules = self.tools.for_request(Who.of(ctx), "offered")
        if not rules:
            return
        strip: list[str] = []
        for tool in req.tools:
            refusal = ToolRules.refusal(rules, tool.name)
            if refusal is None:
                continue
            if refusal.action == "block":
                reason = f"tool {tool.name!r} may not be offered"
                ctx.decisions.append(Decision(_TOOL_RULES, "deny", refusal.rule, reason))
                raise PolicyDenied(f"Denied by policy: the tool {tool.name!r} may not be used.")
            strip.append(tool.name)
            reason = f"tool {tool.name!r} removed from the request"
            ctx.decisions.append(Decision(_TOOL_RULES, "strip", refusal.rule, reason))
        if strip:
            self._rewrite(ctx, req, "strip_tools", lambda: strip_offered(req, strip))

    def _apply(self, ctx: RequestContext, req: ChatRequest, verdicts: Sequence[Verdict]) -> None:
        route = next(((v.policy, *v.route) for v in verdicts if v.route), None)
        if route is not None and route[2] != req.model:
            policy, rule, model = route
            before = req.model
            req.model = model
            req.raw_body = None  # the encoders put the new deployment's model in ``raw``
            self._state(ctx).request = None
            self._decided(ctx, policy, "route", rule, f"model {before!r} -> {model!r}")
            self._acted(ctx, "route")
        caps = sorted((v.cap[1], v.policy, v.cap[0]) for v in verdicts if v.cap)
        if caps and (req.max_tokens is None or req.max_tokens > caps[0][0]):
            cap, policy, rule = caps[0]
            before = self._rewrite(ctx, req, "cap_max_tokens", lambda: cap_tokens(req, cap))
            self._decided(ctx, policy, "cap", rule, f"max_tokens {before or 'unset'} -> {cap}")
        offered = {t.name for t in req.tools}
        strips = {
            name: (v.policy, rule)
            for v in reversed(verdicts)
            for name, rule in v.strip_tools.items()
            if name in offered
        }
        if strips:
            self._rewrite(ctx, req, "strip_tools", lambda: strip_offered(req, strips))
            for name, (policy, rule) in strips.items():
                self._decided(ctx, policy, "strip", rule, f"tool {name!r} removed from the request")
        for v in verdicts:
            if v.redactions:
                edit = partial(apply_redactions, req, v.redactions)
                count, messages = self._rewrite(ctx, req, "redact", edit)
                rule = v.redactions[0].rule
                reason = f"{count} replacement(s) in {messages} message(s)"
                self._decided(ctx, v.policy, "redact", rule, reason)

    def _rewrite(
        self, ctx: RequestContext, req: ChatRequest, action: str, edit: Callable[[], Any]
    ) -> Any:
        """Run ``edit`` on the canonical request, which is then encoded anew upstream."""
        if req.opaque:
            raise InvalidRequest(
                f"A policy rewrites this request ({action}), but it carries content Plano "
                f"cannot encode again ({req.opaque[0]})."
            )
        result = edit()
        req.changed()
        st = self._state(ctx)
        st.request = None
        self._acted(ctx, action)
        return result

    # ------------------------------------------------------------------ shared

    def _state(self, ctx: RequestContext) -> _State:
        st = ctx.state.get(self.name)
        if st is None:
            st = ctx.state[self.name] = _State()
        assert isinstance(st, _State)
        return st

    def _resolved(self, model: str) -> dict[str, str] | None:
        """What ``model`` names in the config (cached per name; the config never changes)."""
        if model in self._names_seen:
            return self._names_seen[model]
        found = self._resolve(model)
        if len(self._names_seen) >= 1024:
            self._names_seen.clear()
        self._names_seen[model] = found
        return found

    def _resolve(self, model: str) -> dict[str, str] | None:
        if self.names is None:
            return None
        try:
            match = self.names.resolve(model)
        except InvalidRequest:
            return None
        if match is None:
            return None
        entry = match.value
        name = match.wildcard_model or entry.model_id
        return {"name": entry.effective_name, "provider": entry.provider, "model": name}

    async def _document(
        self,
        ctx: RequestContext,
        st: _State,
        phase: Phase,
        tool_calls: Sequence[Mapping[str, Any]] = (),
    ) -> bytes:
        req = ctx.request
        assert req is not None
        if not st.gathered:
            st.gathered = True
            if self.sessions is not None and ctx.session_id:
                st.session_calls = await self.sessions.get(ctx.principal.tenant, ctx.session_id)
            if self.spend is not None:
                st.spend = await self._spend(ctx)
        if st.request is None:
            st.request = request_doc(
                req, include_text=self.engine.include_text, resolved=self._resolved(req.model)
            )
        doc = build_input(
            ctx,
            phase,
            now=self.clock(),
            request=st.request,
            session_tool_calls=st.session_calls,
            spend=st.spend,
            tool_calls=tool_calls,
        )
        return orjson.dumps(doc)

    async def _spend(self, ctx: RequestContext) -> Mapping[str, Any] | None:
        assert self.spend is not None
        try:
            return await self.spend(ctx.principal)
        except Exception as exc:  # spend unknown: the policy sees null
            log.warning("spend of %s unavailable: %r", ctx.principal.id, exc)
            return None

    def _settle(
        self, ctx: RequestContext, phase: Phase, outcomes: Sequence[Outcome]
    ) -> list[Verdict]:
        """Record every outcome; raise :class:`PolicyDenied` if any denies (a failed policy
        with ``on_error: closed`` denies). Returns the verdicts of the policies that ran."""
        verdicts: list[Verdict] = []
        denied: list[str] = []
        for o in outcomes:
            source = f"policy:{o.policy.name}"
            verdict, error = o.verdict, o.error
            if verdict is not None and phase == "request" and error is None:
                error = self._check_route(verdict)
                if error is not None:
                    self.engine.errors[o.policy.name] += 1
            if error is not None or verdict is None:
                self._failed(ctx, o.policy.name, source, phase, error)
                if o.policy.entry.on_error == "closed":
                    denied.append(f"policy '{o.policy.name}' could not be evaluated")
                    reason = "evaluation failed (on_error: closed)"
                    ctx.decisions.append(Decision(source, "deny", None, reason))
                continue
            for rule, message in verdict.denies:
                ctx.decisions.append(Decision(source, "deny", rule, message))
                denied.append(message)
            if not verdict.denies:
                ctx.decisions.append(Decision(source, "allow", None, f"{phase} phase"))
            verdicts.append(verdict)
        if denied:
            self._acted(ctx, "deny")
            raise PolicyDenied("Denied by policy: " + "; ".join(dict.fromkeys(denied)))
        return verdicts

    def _check_route(self, verdict: Verdict) -> DecisionError | None:
        if verdict.route is None or self.names is None:
            return None
        rule, model = verdict.route
        if model in self.pools or self.names.resolves(model):
            return None
        return DecisionError(f"{rule}: {model!r} is not a model the config declares")

    def _failed(
        self,
        ctx: RequestContext,
        policy: str,
        source: str,
        phase: Phase,
        error: Exception | None,
    ) -> None:
        log.warning(
            "policy %s failed in the %s phase of request %s: %s",
            policy,
            phase,
            ctx.request_id,
            error,
        )
        where = getattr(error, "where", "") or ""
        reason = f"evaluation failed{' at ' + where if where else ''}"
        ctx.decisions.append(Decision(source, "error", None, reason))

    def _decided(
        self, ctx: RequestContext, policy: str, action: str, rule: str, reason: str
    ) -> None:
        ctx.decisions.append(Decision(f"policy:{policy}", action, rule, reason))

    def _acted(self, ctx: RequestContext, action: str) -> None:
        acted = self._state(ctx).acted
        if action not in acted:
            acted[action] = None
            ctx.response_headers[POLICY_HEADER] = ",".join(acted)


class AnswerPolicyFilter(PolicyFilter):
    """Requests and answers: the response phase and tool rules on calls, streams included
    (a stream through this filter is rendered by Plano, not relayed byte for byte)."""

    async def on_response(self, ctx: RequestContext, resp: ChatResponse) -> None:
        calls = [(ch.index, c) for ch in resp.choices for c in ch.message.tool_calls]
        removed = await self._answer(ctx, calls)
        if not removed:
            return
        gone = {id(calls[i][1]) for i in removed}
        for ch in resp.choices:
            kept = [c for c in ch.message.tool_calls if id(c) not in gone]
            if len(kept) != len(ch.message.tool_calls):
                ch.message.tool_calls = kept
                if not kept and ch.finish_reason == "tool_calls":
                    ch.finish_reason = "stop"
        resp.changed()

    async def on_stream_event(self, ctx: RequestContext, ev: StreamEvent) -> Sequence[StreamEvent]:
        kind = type(ev)
        if kind is ToolCallDelta:
            self._state(ctx).held.hold(ev)  # type: ignore[arg-type]
            return ()
        if kind is StreamEnd:
            assert isinstance(ev, StreamEnd)
            st = self._state(ctx)
            out = await self._release(ctx, ev.index)
            if ev.index in st.emptied and ev.finish_reason == "tool_calls":
                ev.finish_reason = "stop"
            return (*out, ev)
        if kind is UsageEvent:
            return (*(await self._release_all(ctx)), ev)
        if kind is StreamError:
            self._state(ctx).held = HeldCalls()  # the answer failed: nothing of it is released
        return (ev,)

    async def on_stream_end(self, ctx: RequestContext) -> Sequence[StreamEvent]:
        return await self._release_all(ctx)

    async def _release_all(self, ctx: RequestContext) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for choice in self._state(ctx).held.choices():
            out += await self._release(ctx, choice)
        return out

    async def _release(self, ctx: RequestContext, choice: int) -> list[StreamEvent]:
        st = self._state(ctx)
        if choice in st.decided:
            return list(st.held.release(choice))
        st.decided.add(choice)
        held = st.held.calls(choice)
        removed = await self._answer(ctx, [(choice, call) for _, call in held])
        drop = {held[i][0] for i in removed}
        if held and len(drop) == len(held):
            st.emptied.add(choice)
        return list(st.held.release(choice, drop))

    async def _answer(self, ctx: RequestContext, calls: Sequence[tuple[int, ToolCall]]) -> set[int]:
        """Decide on an answer's tool calls; returns the positions (in ``calls``) stripped.
        Raises :class:`PolicyDenied` when one is blocked or a policy denies."""
        removed: set[int] = set()
        if calls and self.tools.covers("called"):
            removed |= self._called(ctx, calls)
        if self.engine.active("response") and (calls or self.every_answer):
            kept = [c for i, c in enumerate(calls) if i not in removed]
            st = self._state(ctx)
            document = await self._document(ctx, st, "response", tool_call_docs(kept))
            verdicts = self._settle(ctx, "response", self.engine.evaluate("response", document))
            refused: dict[str, tuple[str, str]] = {}
            for v in reversed(verdicts):
                refused.update((k, (v.policy, rule)) for k, rule in v.strip_tool_calls.items())
            for i, (_, call) in enumerate(calls):
                hit = None if i in removed else refused_key(call, refused)
                if hit is not None:
                    removed.add(i)
                    policy, rule = refused[hit]
                    reason = f"tool call {call.name!r} removed from the answer"
                    self._decided(ctx, policy, "strip", rule, reason)
        if removed:
            self._acted(ctx, "strip_tool_calls")
        delivered = len(calls) - len(removed)
        if self.sessions is not None and ctx.session_id and delivered:
            await self.sessions.add(ctx.principal.tenant, ctx.session_id, delivered)
        return removed

    def _called(self, ctx: RequestContext, calls: Sequence[tuple[int, ToolCall]]) -> set[int]:
        rules = self.tools.for_request(Who.of(ctx), "called")
        removed: set[int] = set()
        for i, (_, call) in enumerate(calls):
            refusal = ToolRules.refusal(rules, call.name) if rules else None
            if refusal is None:
                continue
            if refusal.action == "block":
                reason = f"tool call {call.name!r} blocked"
                ctx.decisions.append(Decision(_TOOL_RULES, "deny", refusal.rule, reason))
                self._acted(ctx, "deny")
                raise PolicyDenied(f"Denied by policy: the tool {call.name!r} may not be called.")
            removed.add(i)
            reason = f"tool call {call.name!r} removed from the answer"
            ctx.decisions.append(Decision(_TOOL_RULES, "strip", refusal.rule, reason))
        return removed
