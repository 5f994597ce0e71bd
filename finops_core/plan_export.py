"""The plan export for FP&A: expected cost per team and month with its bands, the team's budget for
the month, and totals.

Grain: one row per (team, month), then one "Total" row per team (all months) and one "All teams" row
per month and overall. Bands come from the team's own simulated paths summed over the month (with the
team's calibration from its backtest where one exists, else Prophet's own, flagged in ``bands``).
Bands of a total are not the sum of the parts' bands (quantiles do not add), so the total rows carry
the expected cost and the budget only.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from finops_core import budget_periods, calibration, outlook

TOTAL = "Total"
ALL_TEAMS = "All teams"
SCHEMA = {
    "team": pl.String,
    "month": pl.String,
    "basis": pl.String,
    "expected": pl.Float64,
    "low 80 %": pl.Float64,
    "high 80 %": pl.Float64,
    "low 95 %": pl.Float64,
    "high 95 %": pl.Float64,
    "bands": pl.String,
    "budget": pl.Float64,
    "expected - budget": pl.Float64,
}


def _months(first: date, until: date) -> list[tuple[str, date, date]]:
    out, m = [], first.replace(day=1)
    while m <= until:
        nxt = (m + timedelta(days=32)).replace(day=1)
        out.append((f"{m:%Y-%m}", m, min(nxt - timedelta(days=1), until)))
        m = nxt
    return out


def _team_budgets(lines: pl.DataFrame, month: str) -> dict[str, float]:
    """Team-level budget (no product or sub account) per team for one month."""
    rolled = budget_periods.rollup(lines, month)
    team = rolled.filter((pl.col("product") == "") & (pl.col("sub_account") == ""))
    return dict(zip(team["team"].to_list(), team["amount"].to_list(), strict=True))


def plan_table(
    forecasts: dict[str, outlook.ScopeForecast],
    first_month: date,
    until: date,
    lines: pl.DataFrame,
    calibrations: dict[str, calibration.Calibration | None] | None = None,
) -> pl.DataFrame:
    """The plan (see the module docstring) for each team of ``forecasts`` over the months from
    ``first_month`` to ``until``; ``lines`` are budget lines in the plan's one currency, already
    limited to the caller's scope; ``calibrations`` by team (missing: Prophet's own bands)."""
    calibrations = calibrations or {}
    months = _months(first_month, until)
    budgets = {m: _team_budgets(lines, m) for m, _, _ in months}
    rows = []
    for team, raw in sorted(forecasts.items()):
        cal = calibrations.get(team)
        fc = outlook.calibrated(raw, cal)
        for month, start, end in months:
            total = fc.period_total(start, end)
            basis = "actual" if end <= fc.as_of else ("forecast" if start > fc.as_of else "actual + forecast")
            budget = budgets[month].get(team)
            rows.append(
                {
                    "team": team,
                    "month": month,
                    "basis": basis,
                    "expected": total["yhat"],
                    "low 80 %": total["lo80"],
                    "high 80 %": total["hi80"],
                    "low 95 %": total["lo95"],
                    "high 95 %": total["hi95"],
                    "bands": "none (actual)" if basis == "actual" else ("calibrated" if cal else "Prophet's own"),
                    "budget": budget,
                    "expected - budget": None if budget is None else total["yhat"] - budget,
                }
            )
    body = pl.DataFrame(rows, schema=SCHEMA)
    if body.is_empty():
        return body
    return pl.concat([body, _totals(body)], how="vertical")


def _totals(body: pl.DataFrame) -> pl.DataFrame:
    """Per team over all months, per month over all teams, and the grand total: expected and budget
    (a budget total only where every part has a budget, so a gap never reads as an underspend)."""

    def agg(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
        return frame.group_by(keys, maintain_order=True).agg(
            pl.col("expected").sum(),
            pl.when(pl.col("budget").null_count() == 0).then(pl.col("budget").sum()).alias("budget"),
        )

    per_team = agg(body, ["team"]).with_columns(pl.lit(TOTAL).alias("month"))
    per_month = agg(body, ["month"]).with_columns(pl.lit(ALL_TEAMS).alias("team"))
    grand = agg(body.with_columns(pl.lit(ALL_TEAMS).alias("team")), ["team"]).with_columns(pl.lit(TOTAL).alias("month"))
    out = pl.concat([per_team, per_month, grand], how="diagonal_relaxed").with_columns(
        pl.lit("total").alias("basis"),
        pl.lit("not additive: see each row").alias("bands"),
        (pl.col("expected") - pl.col("budget")).alias("expected - budget"),
    )
    return pl.concat([pl.DataFrame(schema=SCHEMA), out], how="diagonal_relaxed").select(list(SCHEMA)).cast(SCHEMA)  # type: ignore[arg-type]


def wide(plan: pl.DataFrame) -> pl.DataFrame:
    """The plan's expected cost as teams x months (one column per 'YYYY-MM', then Total), with the
    "All teams" row last: the layout pasted into a plan."""
    if plan.is_empty():
        return pl.DataFrame({"Team": []}, schema={"Team": pl.String})
    out = plan.pivot(on="month", index="team", values="expected", maintain_order=True).rename({"team": "Team"})
    body = out.filter(pl.col("Team") != ALL_TEAMS).sort("Team")
    return pl.concat([body, out.filter(pl.col("Team") == ALL_TEAMS)])


def with_flags(plan: pl.DataFrame, flags: pl.DataFrame) -> pl.DataFrame:
    """``plan`` with a ``plausibility`` column: the reason a (team, month) was flagged by
    ``plausibility.flags_many``, empty otherwise."""
    reasons = flags.select(pl.col("scope").alias("team"), "month", pl.col("reason").alias("plausibility"))
    return plan.join(reasons, on=["team", "month"], how="left").with_columns(pl.col("plausibility").fill_null(""))
