"""Rego through regorus: modules compiled into an engine, evaluated over Plano's input
document (:mod:`plano.rego.engine`), the decision rules and the input document's schema
(:mod:`plano.rego.schema`). Pure: no request, no config; :mod:`plano.policy` applies it."""

from plano.rego.engine import Module, Program, RegoError, RuleInfo, check_program
from plano.rego.schema import DECISION_ROOT, DECISION_RULES, PHASES, sample_input

__all__ = [
    "DECISION_ROOT",
    "DECISION_RULES",
    "PHASES",
    "Module",
    "Program",
    "RegoError",
    "RuleInfo",
    "check_program",
    "sample_input",
]
