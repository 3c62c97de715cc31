"""``GET /plano/v1/budgets[?value=<scope value>]``: every budget with its limits, and what is
spent and held this period for the global ones and for ``value`` (a key id, user, team,
tenant, session or agent), read from the hot store (the same answer on every worker and
replica that shares it)."""

from __future__ import annotations

from aiohttp import web

from plano.config import PlanoConfig
from plano.limits.budgets import BudgetRule
from plano.limits.report import budget_report
from plano.server.admin import json_response
from plano.server.edge import error_response
from plano.store.protocols import Counters, StoreUnavailable

__all__ = ["budget_routes"]


def budget_routes(config: PlanoConfig, counters: Counters) -> list[web.RouteDef]:
    rules = [BudgetRule.of(b) for b in config.budgets]

    async def budgets(request: web.Request) -> web.Response:
        try:
            rows = await budget_report(rules, counters, request.query.get("value"))
        except StoreUnavailable as err:
            return error_response(request.path, err)
        return json_response({"budgets": rows})

    return [web.get("/plano/v1/budgets", budgets)]
