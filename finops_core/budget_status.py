"""Budgets against actuals and forecasts: which lines a request sees, the budget comparable with its
forecast, each line's actuals and forecast at period end, variance, projected overrun date, and the
share of spend under a budget. Budget lines come from ``budgets`` (files, versions).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import polars as pl

from finops_core import budget_periods, outlook
from finops_core.budgets import KEY
from finops_core.outlook import ScopeForecast
from finops_core.query import CostQuery
from finops_core.schema import C


def line_label(row: dict[str, Any]) -> str:
    return " / ".join(v for v in (row["team"], row["product"], row["sub_account"]) if v)


def line_query(base: CostQuery, row: dict[str, Any], start: date, end: date) -> CostQuery:
    """``base`` (its scope and metric kept) narrowed to one budget line's rows over [start, end]."""
    q = CostQuery(start, end, metric=base.metric, scope=base.scope).with_filter(C.BillingCurrency, (row["currency"],))
    q = q.with_filter(C.x_Team, (row["team"],))
    if row["product"]:
        q = q.with_filter(C.x_Product, (row["product"],))
    if row["sub_account"]:
        q = q.with_filter(C.SubAccountName, (row["sub_account"],))
    return q


def overrun_date(fc: ScopeForecast, start: date, end: date, budget: float) -> date | None:
    """First day in [start, end] on which cumulative cost (actual, then forecast) exceeds ``budget``."""
    past = fc.actuals.filter(pl.col("day").is_between(start, end)).select("day", pl.col("cost").cast(pl.Float64))
    ahead = fc.forecast.daily.filter(pl.col("day").is_between(start, end) & (pl.col("day") > fc.as_of))
    path = pl.concat([past, ahead.select("day", pl.col("yhat").alias("cost"))]).sort("day")
    over = path.filter(pl.col("cost").cum_sum() > budget + 1e-9)
    first = over["day"].min() if over.height else None
    return first if isinstance(first, date) else None


def status(lines: pl.DataFrame, forecasts: dict[str, ScopeForecast], start: date, end: date) -> pl.DataFrame:
    """Budget vs actual vs forecast for the lines of one period [start, end]. One row per budget line
    (keyed by ``line_label``): budget, how many of the period's months it budgets, actual to date, forecast at period end with its 80 % range,
    variance (forecast - budget), variance %, the projected overrun date (null: none)."""
    rows = []
    months = budget_periods.months_in(start, end)
    for row in lines.iter_rows(named=True):
        label = line_label(row)
        fc = forecasts.get(label)
        budget = float(row["amount"])
        head = {
            "budget line": label,
            "currency": row["currency"],
            "budget": budget,
            "months budgeted": f"{row.get('months') or months} of {months}",
        }
        if fc is None:  # too little history to forecast: the line is listed, its figures left empty
            rows.append(head)
            continue
        total = fc.period_total(start, end)
        rows.append(
            head
            | {
                "actual to date": total["actual"],
                "forecast at period end": total["yhat"],
                "forecast low (80 %)": total["lo80"],
                "forecast high (80 %)": total["hi80"],
                "variance": total["yhat"] - budget,
                "variance %": (total["yhat"] - budget) / budget if budget else None,
                "overrun on": overrun_date(fc, start, end, budget),
            }
        )
    schema = {
        "budget line": pl.String,
        "currency": pl.String,
        "budget": pl.Float64,
        "months budgeted": pl.String,
        "actual to date": pl.Float64,
        "forecast at period end": pl.Float64,
        "forecast low (80 %)": pl.Float64,
        "forecast high (80 %)": pl.Float64,
        "variance": pl.Float64,
        "variance %": pl.Float64,
        "overrun on": pl.Date,
    }
    return pl.DataFrame(rows, schema=schema).sort("variance", descending=True, nulls_last=True)


def outermost(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines not nested inside another line of the same period and currency (a team's product line
    inside the team's own line), so that their spend can be added up without counting twice."""
    teams = lines.filter((pl.col("product") == "") & (pl.col("sub_account") == "")).select("team", "period", "currency")
    nested = lines.join(teams, on=["team", "period", "currency"], how="semi").filter(
        (pl.col("product") != "") | (pl.col("sub_account") != "")
    )
    return lines.join(nested, on=list(KEY), how="anti")


def line_histories(con: duckdb.DuckDBPyConnection, q: CostQuery, lines: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Daily actuals (day, cost) of every budget line over [q.start, q.end] within ``q``'s scope,
    keyed by ``line_label``; team lines come from one grouped query."""
    team_only = lines.filter((pl.col("product") == "") & (pl.col("sub_account") == ""))
    out: dict[str, pl.DataFrame] = {}
    for currency in team_only["currency"].unique().to_list():
        cq = q.with_filter(C.BillingCurrency, (currency,))
        teams = team_only.filter(pl.col("currency") == currency)["team"].to_list()
        out |= outlook.histories(con, cq, C.x_Team, teams)
    for row in lines.join(team_only, on=list(KEY), how="anti").iter_rows(named=True):
        out[line_label(row)] = outlook.daily_actuals(con, line_query(q, row, q.start, q.end))
    return out


def covered_spend(lines: pl.DataFrame, table: pl.DataFrame) -> float:
    """Actual spend to date under a budget: the ``status`` rows of the outermost lines, added up."""
    labels = [line_label(r) for r in outermost(lines).iter_rows(named=True)]
    return float(table.filter(pl.col("budget line").is_in(labels))["actual to date"].sum())


def scoped_lines(lines: pl.DataFrame, q: CostQuery) -> pl.DataFrame:
    """The lines in ``q``'s currency that ``q``'s caller may see and asked for: a scoped caller sees
    their teams' lines only; a team filter keeps those teams. Every period."""
    out = lines.filter(pl.col("currency").is_in(list(q.filter_values(C.BillingCurrency) or ())))
    if not q.scope.is_all:
        out = out.filter(pl.col("team").is_in(list(q.scope.teams or ())))
    teams = q.filter_values(C.x_Team)
    return out.filter(pl.col("team").is_in(list(teams))) if teams else out


def visible_lines(lines: pl.DataFrame, period: str, q: CostQuery, fiscal_start: int = 1) -> pl.DataFrame:
    """The ``scoped_lines`` of ``period`` (a month, quarter or fiscal year: month and quarter lines
    rolled up, see ``budget_periods.rollup``)."""
    return budget_periods.rollup(scoped_lines(lines, q), period, fiscal_start)


def selection_budget(lines: pl.DataFrame, q: CostQuery) -> float | None:
    """The budget comparable with ``q``'s forecast, from one period's ``visible_lines``: the team lines
    of exactly its teams (team filter, or a caller scoped to teams), each of them budgeted, and no
    filter but team and currency. Otherwise None: unbudgeted spend (e.g. Unallocated) would show a
    false overrun."""
    if any(d not in (C.BillingCurrency, C.x_Team) for d, _ in q.filters) or q.scope.sub_accounts is not None:
        return None
    teams = q.filter_values(C.x_Team) or q.scope.teams
    team_lines = lines.filter((pl.col("product") == "") & (pl.col("sub_account") == ""))
    if not teams or not set(teams) <= set(team_lines["team"]):
        return None
    return float(team_lines.filter(pl.col("team").is_in(list(teams)))["amount"].sum())
