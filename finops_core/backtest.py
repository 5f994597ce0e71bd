"""Rolling-origin backtests: how well each forecasting method would have done on this scope, and
how wide its bands must be.

For each of ``origins`` origins, 30 days apart and ending ``horizon`` days before the last day
of data, every method sees only the days up to the origin and forecasts the next ``horizon`` days.

Definitions (all over the origins, each origin weighted equally):
- ``total_error``: mean absolute percentage error of the ``horizon``-day *total*
  (|forecast total - actual total| / |actual total|). The headline figure: budgets are totals.
- ``daily_mape``: mean absolute percentage error of the daily values (days with zero cost skipped).
- ``bias``: (sum of forecasts - sum of actuals) / sum of actuals; positive = over-forecast.
- ``coverage80`` / ``coverage95`` (Prophet only): share of days inside the *calibrated* bands,
  out of sample: origin i's bands are calibrated on the residuals of origins before i only (whose
  horizons ended by origin i), after the first ``CAL_MIN`` origins. ``raw80`` / ``raw95``: Prophet's
  own bands on the same days.
- ``total80`` / ``total95``: share of origins whose ``horizon``-day actual total fell inside the
  calibrated band of the total (daily bands with the learned correlation between days), same origins.
- ``calibration``: the widths and the correlation learned from every origin, for the live forecast.

Baselines see the 1st of a month as a billing day, not a usage day: month-start fees (support,
commitment fees, tax) land there and would otherwise be repeated every week by the naive forecast
or averaged into the run rate. ``seasonal_naive`` repeats the last observed week (same weekday last
week; a 1st in it is replaced by the same weekday a week earlier); ``run_rate`` holds the average
daily cost of the month's days after the 1st, up to the origin (at an origin on the 1st: the
previous month's). Each 1st in the horizon gets the baseline's value plus the last observed 1st's
excess over what that baseline would have said for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from finops_core import calibration

ORIGINS = 8  # enough residuals to calibrate the bands on (fewer left the 95 % band short)
HORIZON = 30
STEP = 30  # >= HORIZON: an origin's residuals are all known at the next origin (no look-ahead)
CAL_MIN = 3  # origins of residuals before the first out-of-sample coverage score
SCORED = ("in80", "in95", "cal80", "cal95", "tot80", "tot95")  # per origin: share of days (tot: of totals) in band
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
    "sum of actuals, positive = too high. In band: share of days inside the 80 % / 95 % band calibrated on the "
    f"earlier origins only (from origin {CAL_MIN + 1} on), beside Prophet's own band. Seasonal naive repeats last "
    "week; the run rate holds the month-to-date daily average. Both leave the 1st of the month (month-start fees) "
    "out of what they learn and add the last month-start fee back on each 1st ahead; every method is scored on "
    "the full cost."
)
Forecaster = Callable[[pl.DataFrame, int], pl.DataFrame]  # (history, horizon) -> day, yhat[, lo80 ...]


class BacktestError(ValueError):
    """A series too short to backtest; the message says how much is needed."""


@dataclass(frozen=True)
class Backtest:
    """``metrics``: one row per method (method, total_error, daily_mape, bias, coverage80, coverage95,
    raw80, raw95); ``origins``: one row per (method, origin) with the horizon totals; ``calibration``:
    the band widths learned from all origins (None without Prophet)."""

    metrics: pl.DataFrame
    origins: pl.DataFrame
    horizon: int
    calibration: calibration.Calibration | None = None

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

    def band_summary(self) -> str:
        """One sentence for the page: how many days the calibrated bands held, out of sample."""
        c80, c95 = self.figure("prophet", "coverage80"), self.figure("prophet", "coverage95")
        if c80 is None or c95 is None:
            return "Too few origins to score the bands out of sample; they are Prophet's own or calibrated on less."
        scored = self.origins.filter(pl.col("cal80").is_not_null())["origin"].n_unique()
        t80, t95 = self.figure("prophet", "total80"), self.figure("prophet", "total95")
        return (
            f"Bands are widened from the backtest's residuals. Out of sample (the last {scored} origins, each "
            f"calibrated on the ones before it) they held {_pct(c80)} of days in the 80 % band and {_pct(c95)} in "
            f"the 95 % band (Prophet's own bands: {_pct(self.figure('prophet', 'raw80'))} and "
            f"{_pct(self.figure('prophet', 'raw95'))}); the {self.horizon}-day total fell inside its 80 % band at "
            f"{_pct(t80)} and its 95 % band at {_pct(t95)} of those origins."
        )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def seasonal_naive(history: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """The last observed week repeated (day t+k gets the last value of t+k's weekday), a 1st of the
    month in that week read from the week before, plus the month-start fee on each 1st ahead."""
    return _with_month_start(history, horizon, _naive_level)


def run_rate(history: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Average daily cost of the month's days after the 1st up to the last day of ``history`` (on a
    1st: the previous month's), held flat, plus the month-start fee on each 1st ahead."""
    return _with_month_start(history, horizon, _run_level)


def _naive_level(history: pl.DataFrame, horizon: int) -> np.ndarray:
    tail = history.tail(14)
    cost, dom = tail["cost"].to_numpy().astype(float), tail["day"].dt.day().to_numpy()
    for i in range(max(len(cost) - 7, 7), len(cost)):
        if dom[i] == 1:
            cost[i] = cost[i - 7]
    week = cost[-7:]
    return np.resize(week, horizon) if len(week) == 7 else np.full(horizon, week.mean())


def _run_level(history: pl.DataFrame, horizon: int) -> np.ndarray:
    last = history["day"].max()
    assert isinstance(last, date)
    start = last.replace(day=1) if last.day > 1 else (last - timedelta(days=1)).replace(day=1)
    usage = history.filter((pl.col("day") >= start) & (pl.col("day").dt.day() != 1))["cost"]
    return np.full(horizon, float(usage.mean()) if usage.len() else 0.0)  # type: ignore[arg-type]


def _with_month_start(
    history: pl.DataFrame, horizon: int, level: Callable[[pl.DataFrame, int], np.ndarray]
) -> pl.DataFrame:
    """``level``'s forecast, each 1st ahead raised by the last observed 1st's excess over what
    ``level`` would have said for that day from the days before it (the month-start fee)."""
    days = _future_days(history, horizon)
    yhat = level(history, horizon)
    firsts = history.filter(pl.col("day").dt.day() == 1)
    if firsts.height:
        before = history.filter(pl.col("day") < firsts["day"].max())
        if before.height:
            fee = float(firsts["cost"][-1]) - float(level(before, 1)[0])
            yhat = yhat + np.array([fee if d.day == 1 else 0.0 for d in days])
    return pl.DataFrame({"day": days, "yhat": yhat})


def _future_days(history: pl.DataFrame, horizon: int) -> list[date]:
    last = history["day"].max()
    assert isinstance(last, date)
    return [last + timedelta(days=k + 1) for k in range(horizon)]


def _in_bands(actual: np.ndarray, fc: pl.DataFrame, prefix: str) -> dict[str, float]:
    return {
        f"{prefix}{w}": float(np.mean((fc[f"lo{w}"].to_numpy() <= actual) & (actual <= fc[f"hi{w}"].to_numpy())))
        for w in (80, 95)
    }


def _score(actual: np.ndarray, fc: pl.DataFrame) -> dict[str, float | None]:
    yhat = fc["yhat"].to_numpy()
    nonzero = np.abs(actual) > 1e-9
    out: dict[str, float | None] = {
        "forecast_total": float(yhat.sum()),
        "actual_total": float(actual.sum()),
        "daily_ape": float(np.mean(np.abs(yhat - actual)[nonzero] / np.abs(actual[nonzero])))
        if nonzero.any()
        else None,
        **dict.fromkeys(SCORED),
    }
    if "lo80" in fc.columns:
        out |= _in_bands(actual, fc, "in")
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
    rows: list[dict[str, Any]] = []
    bands = _Bands()
    for cut in sorted(cuts):
        history, actual = series.head(cut), series["cost"].slice(cut, horizon).to_numpy()
        origin = history["day"].max()
        for name, fn in methods.items():
            fc = fn(history, horizon)
            row = {"method": name, "origin": origin, **_score(actual, fc)}
            if "lo80" in fc.columns:
                row |= bands.score(fc, actual)
            rows.append(row)
    per_origin = pl.DataFrame(rows, schema_overrides={k: pl.Float64 for k in SCORED})
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
            pl.col("cal80").mean().alias("coverage80"),
            pl.col("cal95").mean().alias("coverage95"),
            # Prophet's own bands on the same (scored) days, so the two shares compare like with like
            pl.col("in80").filter(pl.col("cal80").is_not_null()).mean().alias("raw80"),
            pl.col("in95").filter(pl.col("cal95").is_not_null()).mean().alias("raw95"),
            pl.col("tot80").mean().alias("total80"),
            pl.col("tot95").mean().alias("total95"),
        )
        .with_columns(pl.col("method").replace_strict(LABELS).alias("label"))
    )
    return Backtest(metrics, per_origin, horizon, bands.learned())


class _Bands:
    """Prophet's bands at successive origins; each origin is scored with the calibration learned
    from the origins before it only (out of sample), and ``learned()`` is what they all teach."""

    def __init__(self) -> None:
        self.seen: list[tuple[pl.DataFrame, np.ndarray]] = []

    def score(self, fc: pl.DataFrame, actual: np.ndarray) -> dict[str, float]:
        cal = self.learned() if len(self.seen) >= CAL_MIN else None
        self.seen.append((fc, actual))
        if cal is None:
            return {}
        bands = calibration.calibrated_bands(fc, cal)
        return _in_bands(actual, bands, "cal") | calibration.total_in_bands(bands, actual, cal.rho)

    def learned(self) -> calibration.Calibration | None:
        if not self.seen:
            return None
        cal = calibration.Calibration.from_origins(self.seen)
        if cal is None:
            return None
        spread = calibration.predictive_spread(len(self.seen))
        rho = calibration.path_correlation([(calibration.calibrated_bands(f, cal), a) for f, a in self.seen], spread)
        return replace(cal, rho=rho)


def track_records(backtests: dict[str, Backtest]) -> pl.DataFrame:
    """One row per scope: this forecast's, seasonal naive's and the run rate's 30-day total error,
    the share of days in the calibrated 80 % and 95 % bands (out of sample), and whether this
    forecast beats seasonal naive."""
    rows = [
        {
            "scope": key,
            "this forecast": bt.figure("prophet"),
            "seasonal naive": bt.figure("seasonal_naive"),
            "run rate": bt.figure("run_rate"),
            "in 80 % band": bt.figure("prophet", "coverage80"),
            "in 95 % band": bt.figure("prophet", "coverage95"),
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
        "in 95 % band": pl.Float64,
        "beats naive": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema)
