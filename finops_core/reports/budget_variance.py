"""Actual vs budget for one month, decomposed: the gap the previous month already had against this
month's budget, then the month-over-month effects of ``variance`` (docs/variance.md). The parts add
up exactly to actual - budget. Team budget lines only (product and sub account empty): those are
the lines whose spend can be selected and added without nesting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from finops_core.budgets import COLUMNS, SCHEMA, period_range
from finops_core.query import CostQuery
from finops_core.reports import variance
from finops_core.reports.variance import Period, Variance
from finops_core.schema import C

BudgetRows = tuple[tuple[str, str, str, str, str, float], ...]


@dataclass(frozen=True)
class BudgetVariance:
    """One currency's actual vs budget: ``mom`` is the budgeted teams' month-over-month Variance."""

    currency: str
    budget: float  # for the days of ``mom.current`` (a month still open: prorated by days)
    mom: Variance
    teams: pl.DataFrame  # team, budget, actual, variance, change vs previous month

    @property
    def actual(self) -> float:
        return self.mom.current_total

    @property
    def variance(self) -> float:
        return self.actual - self.budget

    def effects(self) -> pl.DataFrame:
        """The gap in the previous month (its actual - this month's budget), then the effects of
        the change since; the amounts add up to ``variance``."""
        gap = pl.DataFrame(
            {
                "effect": ["base_gap"],
                "label": [f"Gap already in {self.mom.base.label}"],
                "amount": [self.mom.base_total - self.budget],
            },
            schema={"effect": pl.String, "label": pl.String, "amount": pl.Float64},
        )
        return pl.concat([gap, self.mom.effects()])


def month_budgets(lines: pl.DataFrame, month: date, current: Period) -> pl.DataFrame:
    """Each team's budget for ``current`` (part of ``month``), per currency: the month's team line,
    else the quarter's prorated by days; prorated again by days when the month is still open.
    One row per (team, currency): budget."""
    month_start, month_end = period_range(f"{month:%Y-%m}")
    quarter = f"{month.year}-Q{(month.month - 1) // 3 + 1}"
    q_start, q_end = period_range(quarter)
    month_share = ((month_end - month_start).days + 1) / ((q_end - q_start).days + 1)
    open_share = current.days / ((month_end - month_start).days + 1)
    team_lines = lines.filter((pl.col("product") == "") & (pl.col("sub_account") == ""))
    monthly = team_lines.filter(pl.col("period") == f"{month:%Y-%m}").select("team", "currency", "amount")
    quarterly = (
        team_lines.filter(pl.col("period") == quarter)
        .select("team", "currency", pl.col("amount") * month_share)
        .join(monthly, on=["team", "currency"], how="anti")
    )
    both = pl.concat([monthly, quarterly])
    return both.select("team", "currency", (pl.col("amount") * open_share).alias("budget"))


def vs_budget(
    con: duckdb.DuckDBPyConnection, q: CostQuery, month: date, last_day: date, rows: BudgetRows
) -> list[BudgetVariance]:
    """Actual vs budget of the budgeted teams in ``q``'s scope and filters for ``month`` (up to
    ``last_day``), one per currency that has a team budget. ``rows``: budget lines as tuples in
    ``budgets.COLUMNS`` order (hashable, so the app can cache the call)."""
    lines = pl.DataFrame(list(rows), schema=SCHEMA, orient="row").select(COLUMNS)
    base, current = variance.month_periods(month, last_day)
    budget = month_budgets(lines, month, current)
    allowed = set(q.filter_values(C.x_Team) or budget["team"]) & set(
        q.scope.teams if q.scope.teams is not None else budget["team"]
    )
    if q.filter_values(C.BillingCurrency):
        budget = budget.filter(pl.col("currency").is_in(list(q.filter_values(C.BillingCurrency) or ())))
    budget = budget.filter(pl.col("team").is_in(sorted(allowed)))
    out = []
    for currency in sorted(budget["currency"].unique().to_list()):
        teams = budget.filter(pl.col("currency") == currency)
        cq = q.with_filter(C.BillingCurrency, (currency,)).with_filter(C.x_Team, tuple(sorted(teams["team"])))
        found = variance.compare(variance.key_costs(con, cq, base, current), base, current)
        if not found:
            continue
        mom = found[0]
        per_team = variance.contributors(mom, C.x_Team, top=len(teams) + 1).rename({C.x_Team: "team"})
        table = (
            teams.join(per_team.select("team", "base", "current", "change"), on="team", how="left")
            .with_columns(pl.col("current").fill_null(0.0).alias("actual"))
            .select("team", "budget", "actual", (pl.col("actual") - pl.col("budget")).alias("variance"), "change")
            .sort("variance", descending=True)
        )
        out.append(BudgetVariance(currency, float(teams["budget"].sum()), mom, table))
    return out


def rows_of(lines: pl.DataFrame) -> BudgetRows:
    """Budget lines as the hashable tuples ``vs_budget`` takes."""
    return tuple(
        (r["team"], r["product"], r["sub_account"], r["period"], r["currency"], float(r["amount"]))
        for r in lines.select(COLUMNS).iter_rows(named=True)
    )
