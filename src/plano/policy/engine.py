"""The policies of one runtime snapshot, compiled on the thread that evaluates them.

Per phase, one :class:`~plano.rego.Program` holds every policy that runs in that phase, so a
request costs one evaluation per phase however many policies there are. When that
evaluation fails, each policy is evaluated alone to find which one failed: the others still
decide, and the failed one fails open or closed as its entry says. Policies are validated
with the config (:mod:`plano.config.policy_checks`); here they are compiled again, once per
(re)load in each worker, because a regorus engine cannot move between threads (the check
may run in a thread, requests run on the event loop).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from plano.config.policies import LoadedPolicy
from plano.errors import ConfigError
from plano.policy.decisions import DecisionError, Verdict, parse_verdict
from plano.rego import PHASES, Program, RegoError
from plano.rego.schema import Phase

__all__ = ["Outcome", "PolicyEngine"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One policy's result in one evaluation: a verdict, or why there is none."""

    policy: LoadedPolicy
    verdict: Verdict | None
    error: RegoError | DecisionError | None = None


class PolicyEngine:
    def __init__(self, loaded: Sequence[LoadedPolicy]) -> None:
        self.loaded = tuple(loaded)
        self._phases: dict[Phase, tuple[LoadedPolicy, ...]] = {
            phase: tuple(p for p in self.loaded if phase in p.entry.phases) for phase in PHASES
        }
        self._own: dict[int, Program] = {}
        self._combined: dict[Phase, Program] = {}
        self._built = False
        #: Evaluation errors per policy name (bad values included), since the start.
        self.errors: Counter[str] = Counter()
        #: Evaluations per phase.
        self.evaluations: Counter[str] = Counter()

    def active(self, phase: Phase) -> bool:
        return bool(self._phases[phase])

    @property
    def include_text(self) -> bool:
        return any(p.entry.include_text for p in self.loaded)

    @property
    def every_answer(self) -> bool:
        """Whether the response phase must run on answers without tool calls: only a policy
        that refers to ``deployment`` can decide anything there (otherwise such answers skip
        the phase, the common case, at no cost)."""
        return any("deployment" in m.text for p in self._phases["response"] for m in p.modules)

    @property
    def reads_spend(self) -> bool:
        """Whether a policy refers to ``spend`` (only then is it read per request)."""
        return any("spend" in m.text for p in self.loaded for m in p.modules)

    @property
    def session_counters(self) -> bool:
        return any(p.entry.session_counters for p in self.loaded)

    def build(self) -> None:
        """Compile every program on this thread (idempotent)."""
        if self._built:
            return
        try:
            own = {p.index: Program(p.modules) for p in self.loaded}
            combined: dict[Phase, Program] = {}
            for phase, policies in self._phases.items():
                if len(policies) == 1:
                    combined[phase] = own[policies[0].index]
                elif policies:
                    combined[phase] = Program([m for p in policies for m in p.modules])
        except RegoError as err:  # validated before: only a changed regorus gets here
            raise ConfigError(f"policy does not compile: {err}") from None
        self._own, self._combined, self._built = own, combined, True

    def release(self) -> None:
        """Drop the programs now, on this thread (a regorus engine freed on another thread,
        as the garbage collector may do with a retired runtime's cycles, is an error and a
        leak). A later evaluation compiles them again."""
        self._own, self._combined, self._built = {}, {}, False

    def evaluate(self, phase: Phase, document: bytes) -> list[Outcome]:
        """Every policy of ``phase`` over the input document (JSON)."""
        self.build()
        self.evaluations[phase] += 1
        policies = self._phases[phase]
        try:
            tree = self._combined[phase].evaluate(document)
        except RegoError:
            return [self._alone(p, document) for p in policies]
        return [self._outcome(p, tree) for p in policies]

    def _outcome(self, policy: LoadedPolicy, tree: dict[str, object]) -> Outcome:
        try:
            packages = self._own[policy.index].decisions(tree)
            return Outcome(policy, parse_verdict(policy.name, packages))
        except DecisionError as err:
            self.errors[policy.name] += 1
            return Outcome(policy, None, err.with_traceback(None))

    def _alone(self, policy: LoadedPolicy, document: bytes) -> Outcome:
        try:
            tree = self._own[policy.index].evaluate(document)
        except RegoError as err:
            self.errors[policy.name] += 1
            # No traceback: its frames hold this engine's programs (no cycles through them).
            return Outcome(policy, None, err.with_traceback(None))
        return self._outcome(policy, tree)

    def stats(self) -> dict[str, object]:
        return {
            "policies": [p.name for p in self.loaded],
            "evaluations": dict(self.evaluations),
            "errors": dict(self.errors),
        }
