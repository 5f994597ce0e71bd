"""Forecast plausibility: a forecast month whose cost per day jumps from the month before by more than
the scope's track record supports is flagged, with the reason, before it goes into a plan.

Grain: one row per flagged (scope, month). The change is in cost per day (so February is not a dip).
What is supported: ``allowed`` = max(FLOOR, FACTOR x the worst 30-day total error of the run-rate
baseline in the scope's rolling-origin backtest: how far a month has moved from the month before in
the last ORIGINS months). A forecast month is flagged when its change exceeds ``allowed``, unless the same calendar month
moved the same way (by more than half of ``allowed``) in every earlier year of history, two or more:
that is seasonality the history supports. A move seen in one earlier year only is the typical sign of
yearly seasonality repeating a one-off step (a launch, a migration), and the reason says so. When
yearly seasonality is on and the same calendar month a year earlier moved by more than ``allowed``
too, the reason says the forecast is repeating last year's one-off step as if it were seasonal.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from finops_core import backtest
from finops_core.outlook import ScopeForecast

FLOOR = 0.20
FACTOR = 3.0
SCHEMA = {
    "scope": pl.String,
    "month": pl.String,
    "previous": pl.Float64,
    "expected": pl.Float64,
    "change": pl.Float64,
    "allowed": pl.Float64,
    "reason": pl.String,
}


def _per_day(fc: ScopeForecast) -> pl.DataFrame:
    """Cost per day of each month (actual, then forecast), with whether the month has forecast days;
    days before the scope's first cost are left out (a team that starts mid-month is no jump)."""
    actual = fc.actuals.select("day", "cost", pl.lit(False).alias("ahead"))
    ahead = fc.forecast.daily.select("day", pl.col("yhat").alias("cost"), pl.lit(True).alias("ahead"))
    both = pl.concat([actual, ahead])
    started = both.filter(pl.col("cost").abs() > 1e-9)["day"].min()
    if not isinstance(started, date):
        return pl.DataFrame(schema={"month": pl.String, "per_day": pl.Float64, "ahead": pl.Boolean, "days": pl.UInt32})
    return (
        both.filter(pl.col("day") >= started)
        .group_by(pl.col("day").dt.strftime("%Y-%m").alias("month"))
        .agg((pl.col("cost").sum() / pl.len()).alias("per_day"), pl.col("ahead").any(), pl.len().alias("days"))
        .sort("month")
    )


def _changes(months: pl.DataFrame) -> pl.DataFrame:
    prev = pl.col("per_day").shift(1)
    return months.with_columns(prev.alias("previous"), ((pl.col("per_day") - prev) / prev.abs()).alias("change"))


def _errors(bt: backtest.Backtest, method: str) -> pl.Series:
    own = bt.origins.filter(pl.col("method") == method)
    return ((own["forecast_total"] - own["actual_total"]).abs() / own["actual_total"].abs()).drop_nans()


def _worst_error(bt: backtest.Backtest, method: str) -> float | None:
    errors = _errors(bt, method)
    return float(errors.max()) if errors.len() else None  # type: ignore[arg-type]


def _median_error(bt: backtest.Backtest, method: str) -> float | None:
    errors = _errors(bt, method)
    return float(errors.median()) if errors.len() else None  # type: ignore[arg-type]


def allowed_change(fc: ScopeForecast, bt: backtest.Backtest | None = None) -> tuple[float, str]:
    """The month-over-month change the track record supports, and where that figure comes from: the
    worst 30-day total error of the month-to-date run rate over the backtest's origins (how far a
    month has moved from the month before's rate of spend, lately), times FACTOR, at least FLOOR.
    ``bt``: a backtest already run (with or without Prophet); else a baselines-only one (no fits)."""
    if bt is None:
        try:
            bt = backtest.backtest(fc.actuals, None)
        except backtest.BacktestError:
            return FLOOR * FACTOR, "too little history to backtest"
    typical = _median_error(bt, "run_rate") or 0.0
    basis = (
        f"over the backtest's {bt.origins['origin'].n_unique()} origins a month typically moved {typical:.0%} "
        "from the month before's run rate"
    )
    mine = _worst_error(bt, "prophet")
    if mine is not None:
        basis += f"; this forecast's worst 30-day error was {mine:.0%}"
    return max(FLOOR, FACTOR * typical), basis


def _ahead(table: pl.DataFrame, month: str) -> bool:
    return bool(table.filter(pl.col("month") == month)["ahead"].any())


def flags(scope: str, fc: ScopeForecast, bt: backtest.Backtest | None = None) -> pl.DataFrame:
    """The forecast months of ``fc`` that jump beyond ``allowed_change``, with the reason."""
    allowed, basis = allowed_change(fc, bt)
    table = _changes(_per_day(fc))
    moves = dict(zip(table["month"].to_list(), table["change"].to_list(), strict=True))
    yearly = not any(n.startswith("yearly seasonality off") for n in fc.forecast.notes)
    rows = []
    for row in table.filter(pl.col("ahead") & pl.col("change").is_not_null()).iter_rows(named=True):
        month, change = row["month"], row["change"]
        if abs(change) <= allowed:
            continue
        before = [(m, c) for m, c in moves.items() if m[5:] == month[5:] and m < month and not _ahead(table, m)]
        alike = [(m, c) for m, c in before if c is not None and c * change > 0 and abs(c) > allowed / 2]
        if yearly and len(before) >= 2 and len(alike) == len(before):
            continue  # the same move in every earlier year of history: seasonal, supported
        reason = (
            f"{month}: cost per day {change:+.0%} on the month before, beyond the ±{allowed:.0%} the track "
            f"record supports ({basis})"
        )
        if yearly and alike:
            shown = ", ".join(f"{m} {c:+.0%}" for m, c in alike)
            reason += (
                f"; only {shown} moved like this before ({len(alike)} of {len(before)} earlier years), so yearly "
                "seasonality is likely repeating a one-off step (a launch or migration) as if it recurred"
            )
        rows.append(
            {
                "scope": scope,
                "month": month,
                "previous": row["previous"],
                "expected": row["per_day"],
                "change": row["change"],
                "allowed": allowed,
                "reason": reason,
            }
        )
    return pl.DataFrame(rows, schema=SCHEMA)


def flags_many(
    forecasts: dict[str, ScopeForecast], backtests: dict[str, backtest.Backtest] | None = None
) -> pl.DataFrame:
    """``flags`` of every scope, in one frame."""
    backtests = backtests or {}
    parts = [flags(k, fc, backtests.get(k)) for k, fc in sorted(forecasts.items())]
    return pl.concat([pl.DataFrame(schema=SCHEMA), *parts])
