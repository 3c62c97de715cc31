"""Budgets and rate limits: built-in filters over the hot store's counters (reservations for
budgets, sliding windows for rate limits), global across workers and replicas that share the
store. ``docs/budgets.md`` is the user's guide."""

from plano.limits.budgets import BudgetFilter, BudgetRule
from plano.limits.estimate import ModelLimits, WorstCase, worst_case
from plano.limits.ratelimits import PlanoRule, RateLimitFilter, RateRule
from plano.limits.setup import limit_filters

__all__ = [
    "BudgetFilter",
    "BudgetRule",
    "ModelLimits",
    "PlanoRule",
    "RateLimitFilter",
    "RateRule",
    "WorstCase",
    "limit_filters",
    "worst_case",
]
