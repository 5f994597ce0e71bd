"""Rolling-origin backtests: how well each forecasting method would have done on this scope.

For each of ``origins`` origins, 30 days apart and ending ``horizon`` days before the last day
of data, every method sees only the days up to the origin and forecasts the next ``horizon`` days.

Definitions (all over the origins, each origin weighted equally):
- ``total_error``: mean absolute percentage error of the ``horizon``-day *total*
  (|forecast total - actual total| / |actual total|). The headline figure: budgets are totals.
- ``daily_mape``: mean absolute percentage error of the daily values (days with zero cost skipped).
- ``bias``: (sum of forecasts - sum of actuals) / sum of actuals; positive = over-forecast.
- ``coverage80`` / ``coverage95``: share of days whose actual fell inside the interval (Prophet only).

Baselines: ``seasonal_naive`` repeats the last observed week (same weekday last week);
``run_rate`` holds the month-to-date average daily cost at the origin flat (the origin's month,
from the 1st to the origin day inclusive).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

ORIGINS = 6
HORIZON = 30
STEP = 30
METHODS = ("prophet", "seasonal_naive", "run_rate")
LABELS = {
    "prophet": "This forecast",
    "seasonal_naive": "Seasonal naive (same weekday last week)",
    "run_rate": "Month-to-date run rate",
}
DEFINITIONS = (
    f"{ORIGINS} origins {STEP} days apart; at each, every method sees only the days before it and forecasts "
    f"the next {HORIZON}. 30-day total error: mean of |forecast total - actual total| / actual total. "
    "Daily MAPE: mean of |forecast - actual| / actual per day. Bias: (sum of forecasts - sum of actuals) / "
    "sum of actuals, positive = too high. In band: share of days inside the 80 % / 95 % interval. "
    "Seasonal naive repeats last week; the run rate holds the month-to-date daily average."
)
Forecaster = Callable[[pl.DataFrame, int], pl.DataFrame]  # (history, horizon) -> day, yhat[, lo80 ...]


class BacktestError(ValueError):
    """A series too short to backtest; the message says how much is needed."""


@dataclass(frozen=True)
class Backtest:
    """``metrics``: one row per method (method, total_error, daily_mape, bias, coverage80, coverage95);
    ``origins``: one row per (method, origin) with the horizon totals."""

    metrics: pl.DataFrame
    origins: pl.DataFrame
    horizon: int

    def figure(self, method: str, column: str = "total_error") -> float | None:
        row = self.metrics.filter(pl.col("method") == method)
        value = row[column][0] if row.height else None
        return None if value is None else float(value)

    @property
    def beats_naive(self) -> bool:
        mine, naive = self.figure("prophet"), self.figure("seasonal_naive")
        return mine is not None and naive is not None and mine < naive

    def summary(self) -> str:
        """One sentence for the page: the forecast's track record beside the baselines'."""
        mine, naive, rr = (self.figure(m) for m in METHODS)
        n = self.origins["origin"].n_unique()
        text = (
            f"Over the last {n} origins ({n * STEP // 30} months) this forecast's {self.horizon}-day error was "
            f"{_pct(mine)}, the seasonal-naive one {_pct(naive)} and the month-to-date run rate {_pct(rr)}."
        )
        if not self.beats_naive:
            text += " This forecast does not beat the seasonal-naive baseline for this scope: prefer the baseline."
        return text


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def seasonal_naive(history: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """The last observed week repeated: day t+k gets the value of the last day with t+k's weekday."""
    last_week = history["cost"].tail(7).to_numpy()
    reps = np.resize(last_week, horizon) if len(last_week) == 7 else np.full(horizon, last_week.mean())
    return pl.DataFrame({"day": _future_days(history, horizon), "yhat": reps})


def run_rate(history: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Month-to-date average daily cost at the last day of ``history``, held flat."""
    last = history["day"].max()
    mtd = history.filter(pl.col("day") >= pl.lit(last).dt.truncate("1mo"))
    level = float(mtd["cost"].to_numpy().mean()) if mtd.height else 0.0
    return pl.DataFrame({"day": _future_days(history, horizon), "yhat": np.full(horizon, level)})


def _future_days(history: pl.DataFrame, horizon: int) -> list[date]:
    last = history["day"].max()
    assert isinstance(last, date)
    return [last + timedelta(days=k + 1) for k in range(horizon)]


def _score(actual: np.ndarray, fc: pl.DataFrame) -> dict[str, float | None]:
    yhat = fc["yhat"].to_numpy()
    nonzero = np.abs(actual) > 1e-9
    out: dict[str, float | None] = {
        "forecast_total": float(yhat.sum()),
        "actual_total": float(actual.sum()),
        "daily_ape": float(np.mean(np.abs(yhat - actual)[nonzero] / np.abs(actual[nonzero])))
        if nonzero.any()
        else None,
        "in80": None,
        "in95": None,
    }
    if "lo80" in fc.columns:
        out["in80"] = float(np.mean((fc["lo80"].to_numpy() <= actual) & (actual <= fc["hi80"].to_numpy())))
        out["in95"] = float(np.mean((fc["lo95"].to_numpy() <= actual) & (actual <= fc["hi95"].to_numpy())))
    return out


def backtest(
    series: pl.DataFrame,
    prophet: Forecaster | None,
    origins: int = ORIGINS,
    horizon: int = HORIZON,
    step: int = STEP,
    min_history: int = 56,
) -> Backtest:
    """Backtest ``prophet`` (None: baselines only) and the baselines on ``series`` (day, cost; no gaps)."""
    n = series.height
    cuts = [n - horizon - k * step for k in range(origins)]
    cuts = [c for c in cuts if c >= min_history]
    if not cuts:
        raise BacktestError(f"{n} days of data; a backtest needs at least {min_history + horizon}")
    methods: dict[str, Forecaster] = {"seasonal_naive": seasonal_naive, "run_rate": run_rate}
    if prophet is not None:
        methods = {"prophet": prophet} | methods
    rows = []
    for cut in sorted(cuts):
        history, actual = series.head(cut), series["cost"].slice(cut, horizon).to_numpy()
        origin = history["day"].max()
        for name, fn in methods.items():
            rows.append({"method": name, "origin": origin, **_score(actual, fn(history, horizon))})
    per_origin = pl.DataFrame(rows)
    metrics = (
        per_origin.group_by("method", maintain_order=True)
        .agg(
            ((pl.col("forecast_total") - pl.col("actual_total")).abs() / pl.col("actual_total").abs())
            .mean()
            .alias("total_error"),
            pl.col("daily_ape").mean().alias("daily_mape"),
            (
                (pl.col("forecast_total").sum() - pl.col("actual_total").sum()) / pl.col("actual_total").sum().abs()
            ).alias("bias"),
            pl.col("in80").mean().alias("coverage80"),
            pl.col("in95").mean().alias("coverage95"),
        )
        .with_columns(pl.col("method").replace_strict(LABELS).alias("label"))
    )
    return Backtest(metrics, per_origin, horizon)


def track_records(backtests: dict[str, Backtest]) -> pl.DataFrame:
    """One row per scope: this forecast's, seasonal naive's and the run rate's 30-day total error,
    the share of days in the 80 % band, and whether this forecast beats seasonal naive."""
    rows = [
        {
            "scope": key,
            "this forecast": bt.figure("prophet"),
            "seasonal naive": bt.figure("seasonal_naive"),
            "run rate": bt.figure("run_rate"),
            "in 80 % band": bt.figure("prophet", "coverage80"),
            "beats naive": bt.beats_naive,
        }
        for key, bt in backtests.items()
    ]
    schema = {
        "scope": pl.String,
        "this forecast": pl.Float64,
        "seasonal naive": pl.Float64,
        "run rate": pl.Float64,
        "in 80 % band": pl.Float64,
        "beats naive": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema)
