"""Forecast plausibility: a one-off step learned as yearly seasonality is flagged; smooth history is not."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from finops_core import forecast, plausibility
from finops_core.outlook import ScopeForecast

END = date(2026, 11, 30)


def _history(step_on: date | None, seed: int = 3) -> pl.DataFrame:
    """Two years and a month of daily cost: a gentle trend, a weekend dip, noise; times 2.5 from
    ``step_on`` on (a launch), when given."""
    rng = np.random.default_rng(seed)
    days = [END - timedelta(days=i) for i in range(760, -1, -1)]
    cost = []
    for i, d in enumerate(days):
        level = 1000 * (1 + 0.0002 * i) * (0.8 if d.weekday() >= 5 else 1.0)
        if step_on and d >= step_on:
            level *= 2.5
        cost.append(level * (1 + rng.normal(0, 0.03)))
    return pl.DataFrame({"day": days, "cost": cost})


def _fc(history: pl.DataFrame, yearly: bool | None = None) -> ScopeForecast:
    return ScopeForecast(history, forecast.fit_predict(history, 365, yearly=yearly))


def _max_forecast_move(fc: ScopeForecast) -> float:
    """The largest month-over-month change of cost per day among the forecast months."""
    moves = plausibility._changes(plausibility._per_day(fc)).filter(pl.col("ahead"))["change"].drop_nulls()
    return float(moves.abs().max())  # type: ignore[arg-type]


def test_a_one_off_step_a_year_ago_is_not_repeated_with_under_two_years_at_every_backtest_origin() -> None:
    # 761 days: more than Prophet's two years, fewer than two years at the backtest's earliest origin
    history = _history(date(2026, 1, 1))
    assert forecast.PROPHET_YEARLY_SPAN < 760 < forecast.yearly_min_span() == 971
    fc = _fc(history)
    assert any(n.startswith("yearly seasonality off") for n in fc.forecast.notes)
    assert _max_forecast_move(fc) < 0.15
    assert plausibility.flags("ml", fc).is_empty()


def test_yearly_seasonality_is_fitted_from_two_years_at_every_backtest_origin() -> None:
    long = pl.DataFrame({"day": [END - timedelta(days=i) for i in range(971, -1, -1)]}).with_columns(
        pl.lit(1000.0).alias("cost")
    )
    assert forecast.wants_yearly(long) and not forecast.wants_yearly(long.tail(971))
    # days before the scope's first cost do not count
    assert not forecast.wants_yearly(
        long.with_columns(pl.when(pl.int_range(pl.len()) < 5).then(0.0).otherwise(pl.col("cost")).alias("cost"))
    )


def test_a_launch_step_repeated_as_yearly_seasonality_is_flagged_with_the_reason() -> None:
    fc = _fc(_history(date(2026, 1, 1)), yearly=True)
    flagged = plausibility.flags("ml", fc)
    assert flagged.height >= 1, plausibility._changes(plausibility._per_day(fc)).filter(pl.col("ahead"))
    jan = flagged.filter(pl.col("month") == "2027-01").row(0, named=True)
    assert jan["change"] > jan["allowed"] >= plausibility.FLOOR
    assert "2026-01" in jan["reason"] and "one-off step" in jan["reason"]


def test_smooth_history_is_not_flagged() -> None:
    for seed in (1, 2, 3):
        fc = _fc(_history(None, seed))
        assert plausibility.flags("web", fc).is_empty()


def test_allowed_change_comes_from_the_backtest() -> None:
    allowed, basis = plausibility.allowed_change(_fc(_history(None)))
    assert allowed == plausibility.FLOOR and "backtest's 8 origins" in basis
