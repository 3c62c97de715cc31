"""``plano cost`` without a gateway: spans, groups, sorting by exact cost, CSV."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

import pytest

from plano import cost_cli
from plano.admin_cli import AdminError
from plano.cli import main


def test_since_takes_spans_back_from_now_or_passes_times_through() -> None:
    assert cost_cli.parse_since("90m", now=10_000.0) == "4600.000"
    assert cost_cli.parse_since("7d", now=1_000_000.0) == "395200.000"
    assert cost_cli.parse_since("2026-12-01T00:00Z") == "2026-12-01T00:00Z"
    assert cost_cli.parse_since(None) is None


def test_groups_map_to_the_usage_api_and_unknown_ones_are_refused() -> None:
    assert cost_cli._groups([]) == ["provider", "model"]
    assert cost_cli._groups(["key,day", "team", "key"]) == ["key", "day", "team"]
    with pytest.raises(AdminError, match="cannot group by 'colour'"):
        cost_cli._groups(["colour"])


REPORT: dict[str, Any] = {
    "totals": {"requests": 3, "errors": 0, "input_tokens": 30, "output_tokens": 3,
               "cost_usd": "0.300000000000000000001"},
    "groups": [
        {"team": "a", "requests": 1, "errors": 0, "input_tokens": 10, "output_tokens": 1,
         "cost_usd": "0.1"},
        {"team": "b", "requests": 1, "errors": 0, "input_tokens": 10, "output_tokens": 1,
         "cost_usd": "0.200000000000000000001"},
        {"team": None, "requests": 1, "errors": 0, "input_tokens": 10, "output_tokens": 1,
         "cost_usd": "0"},
    ],
}  # fmt: skip


def test_rows_sort_by_exact_cost_and_csv_keeps_every_digit() -> None:
    rows = cost_cli.cost_rows(REPORT, ["team"])
    assert [r["team"] for r in rows] == ["b", "a", None]
    back = list(csv.DictReader(io.StringIO(cost_cli._csv(rows, ["team"]))))
    assert back[0]["cost_usd"] == "0.200000000000000000001" and back[2]["team"] == ""
    assert sum(Decimal(r["cost_usd"]) for r in back) == Decimal(REPORT["totals"]["cost_usd"])


def test_the_command_asks_the_usage_api_and_prints_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: dict[str, Any] = {}

    def call(self: Any, method: str, path: str, **kw: Any) -> dict[str, Any]:
        asked.update(method=method, path=path, **kw)
        return REPORT

    monkeypatch.setattr("plano.admin_cli.AdminClient.call", call)
    code = main(["cost", "--url", "http://127.0.0.1:1", "--by", "team", "--team", "b",
                 "--since", "1h", "--format", "json"])  # fmt: skip
    assert code == 0
    q = asked["query"]
    assert (asked["path"], q["group_by"], q["team"], q["limit"]) == (
        "/plano/v1/usage", "team", "b", "0",
    )  # fmt: skip
    assert float(q["since"]) > 0
    out = json.loads(capsys.readouterr().out)
    assert out["by"] == ["team"] and out["groups"][0]["team"] == "b"
