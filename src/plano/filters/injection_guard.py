"""``injection_guard``: requests scored for prompt injection and jailbreaks, then blocked,
flagged or logged.

The scoring is :class:`~plano.guard.injection.InjectionGuard` (rules, then a small linear
model, within fixed budgets); this module chooses what it reads (the entry's ``scope``) and
what happens from the ``threshold`` on:

* ``block``: the request is refused with a 400 in the client's API
  (:class:`~plano.filters.errors.FilterRejected`); the message gives the score and the rules
  that matched, never the prompt;
* ``flag``: the request passes; the answer carries ``x-plano-injection: score=0.97``;
* ``log``: the request passes; nothing reaches the client.

Every action records the score in ``ctx.labels`` (``injection``, and ``injection_rules``
when rules matched) for the audit trail, and logs one line with the request id, the score
and the rules (never the text). It runs on requests only and never edits them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import ClassVar

from plano.config.filters import InjectionGuardSpec, InjectionScope
from plano.core.model import ChatRequest
from plano.errors import ConfigError
from plano.filters.errors import FilterRejected
from plano.guard.injection import InjectionGuard, InjectionModel, Verdict, default_model
from plano.pipeline.context import RequestContext
from plano.pipeline.registry import Built, ConfiguredFilter, FilterRole

__all__ = [
    "INJECTION_HEADER",
    "INJECTION_LABEL",
    "INJECTION_RULES_LABEL",
    "InjectionGuardFilter",
    "injection_guard",
    "scoped_texts",
]

log = logging.getLogger("plano.guard")

#: ``ctx.labels`` keys: the score (``0.97``), and the rules that matched (``a,b``).
INJECTION_LABEL = "injection"
INJECTION_RULES_LABEL = "injection_rules"
#: The answer's header under ``action: flag``.
INJECTION_HEADER = "x-plano-injection"


def scoped_texts(req: ChatRequest, scope: Sequence[InjectionScope]) -> list[str]:
    """The texts ``scope`` names, in the order the guard's budgets are spent on them: the
    last user message, the tool results since the model's last turn (the newest first),
    then the earlier user messages (the newest first)."""
    messages = req.messages
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    out: list[str] = []
    if users and ("last_user" in scope or "user" in scope):
        out.append(messages[users[-1]].text())
    if "tool_results" in scope:
        for m in reversed(messages):
            if m.role == "assistant":
                break
            if m.role == "tool":
                out.append(m.text())
    if "user" in scope:
        out += (messages[i].text() for i in reversed(users[:-1]))
    return out


class InjectionGuardFilter(ConfiguredFilter):
    """Input role: scores the request's scoped texts; blocks, flags or logs."""

    #: It reads the request, never edits it.
    rewrites_request: ClassVar[bool] = False

    def __init__(self, spec: InjectionGuardSpec, guard: InjectionGuard) -> None:
        super().__init__(spec, "input")
        self.options = spec.options
        self.guard = guard
        self._act: dict[str, Callable[[RequestContext, Verdict], None]] = {
            "block": self._block,
            "flag": self._flag,
            "log": _ignore,
        }

    async def on_request(self, ctx: RequestContext) -> None:
        req = ctx.request
        if req is None:
            return
        texts = scoped_texts(req, self.options.scope)
        if not texts:
            return
        verdict = self.guard.check(texts)
        if verdict.score < self.options.threshold:
            return
        ctx.labels[INJECTION_LABEL] = f"{verdict.score:.2f}"
        if verdict.rules:
            ctx.labels[INJECTION_RULES_LABEL] = ",".join(verdict.rules)
        log.warning(
            "injection guard %s: request %s scored %.2f (rules: %s); action: %s",
            self.name,
            ctx.request_id,
            verdict.score,
            ",".join(verdict.rules) or "none",
            self.options.action,
        )
        self._act[self.options.action](ctx, verdict)

    def _block(self, ctx: RequestContext, verdict: Verdict) -> None:
        why = f"rules: {', '.join(verdict.rules)}" if verdict.rules else "model"
        detail = f"the request looks like a prompt injection (score {verdict.score:.2f}, {why})"
        raise FilterRejected(self.name, 400, detail)

    def _flag(self, ctx: RequestContext, verdict: Verdict) -> None:
        ctx.response_headers[INJECTION_HEADER] = verdict.header()


def _ignore(ctx: RequestContext, verdict: Verdict) -> None:
    """``action: log``: the log line is all."""


def injection_guard(
    spec: InjectionGuardSpec, role: FilterRole, model: InjectionModel | None = None
) -> Built:
    """The factory of ``type: injection_guard`` entries (``model``: the shipped one unless
    given; none at all with ``rules_only``)."""
    if role != "input":  # validation reports it with the path; a hand-built config may not
        raise ConfigError(f"filter {spec.id!r} runs on requests only; list it in input_filters")
    if spec.options.rules_only:
        return Built(InjectionGuardFilter(spec, InjectionGuard(None)))
    return Built(InjectionGuardFilter(spec, InjectionGuard(model or default_model())))
