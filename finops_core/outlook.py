"""Forecasts for cost questions: the daily actuals of a ``CostQuery``, horizons, many scopes in
parallel, the month's cumulative outlook and the plan export (teams x months).

The actuals of a scope are exactly ``drilldown.timeseries`` of the same request (so a forecast's
history reconciles with ``drilldown.total``), one billing currency at a time.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import polars as pl

from finops_core import backtest, calibration, drilldown, forecast
from finops_core.events import Events
from finops_core.query import CostQuery, QueryError
from finops_core.schema import C

HORIZONS = {
    "month": "End of month",
    "quarter": "End of quarter",
    "fiscal_year": "End of fiscal year",
    "12m": "12 months",
}
MAX_DAYS = 731  # the next fiscal year ends up to two years after the data
_POOL: Executor | None = None
_POOL_LOCK = threading.Lock()


@dataclass(frozen=True)
class ScopeForecast:
    """One scope: ``actuals`` (day, cost) up to the as-of day and its ``forecast`` after it."""

    actuals: pl.DataFrame
    forecast: forecast.SeriesForecast

    @property
    def as_of(self) -> date:
        last = self.actuals["day"].max()
        assert isinstance(last, date)
        return last

    def period_total(self, start: date, end: date) -> dict[str, float]:
        """Actual to date plus forecast for the rest of [start, end]: yhat and interval bounds."""
        done = float(self.actuals.filter(pl.col("day").is_between(start, end))["cost"].sum())
        rest = self.forecast.total(max(start, self.as_of + timedelta(days=1)), end)
        return {"actual": done} | {k: done + v for k, v in rest.items()}


def currency_of(q: CostQuery) -> str:
    values = q.filter_values(C.BillingCurrency)
    if values is None or len(values) != 1:
        raise QueryError("a forecast needs exactly one billing currency filter (amounts are never mixed)")
    return values[0]


def daily_actuals(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """``q.metric`` per day over [q.start, q.end], days without cost as 0. One row per day: day, cost."""
    currency_of(q)
    ts = drilldown.timeseries(con, replace(q, grain="day", group_by=()))
    days = pl.DataFrame({"day": pl.date_range(q.start, q.end, eager=True)})
    got = ts.select(pl.col(drilldown.PERIOD).alias("day"), pl.col(q.metric).alias("cost"))
    return days.join(got, on="day", how="left").with_columns(pl.col("cost").fill_null(0.0))


def histories(con: duckdb.DuckDBPyConnection, q: CostQuery, dimension: str, keys: list[str]) -> dict[str, pl.DataFrame]:
    """The daily actuals of each value of ``dimension`` in ``keys``, from one grouped query."""
    currency_of(q)
    ts = drilldown.timeseries(con, replace(q, grain="day", group_by=()), dimension)
    days = pl.DataFrame({"day": pl.date_range(q.start, q.end, eager=True)})
    out = {}
    for key in keys:
        got = ts.filter(pl.col(dimension) == key).select(
            pl.col(drilldown.PERIOD).alias("day"), pl.col(q.metric).alias("cost")
        )
        out[key] = days.join(got, on="day", how="left").with_columns(pl.col("cost").fill_null(0.0))
    return out


def horizon_end(as_of: date, kind: str, fiscal_start_month: int = 1) -> date:
    """Last day of the horizon ``kind`` (a key of HORIZONS) seen from ``as_of``: the end of the period
    holding ``as_of``, or of the next one when ``as_of`` is its last day (data through 30 November:
    "end of month" is 31 December), so a horizon is always at least one day after the data."""
    end = _period_end(as_of, kind, fiscal_start_month)
    return end if end > as_of else _period_end(as_of + timedelta(days=1), kind, fiscal_start_month)


def rolls_over(as_of: date, kind: str, fiscal_start_month: int = 1) -> bool:
    """Whether ``horizon_end`` moved on to the next period because ``as_of`` closes its own."""
    return _period_end(as_of, kind, fiscal_start_month) <= as_of


def _period_end(as_of: date, kind: str, fiscal_start_month: int) -> date:
    if kind == "month":
        return (as_of.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if kind == "quarter":  # the fiscal quarter (the calendar one when the fiscal year starts in January)
        q_start = _add_months(as_of.replace(day=1), -((as_of.month - fiscal_start_month) % 3))
        return _add_months(q_start, 3) - timedelta(days=1)
    if kind == "fiscal_year":
        year = as_of.year if as_of.month >= fiscal_start_month else as_of.year - 1
        return _add_months(date(year, fiscal_start_month, 1), 12) - timedelta(days=1)
    if kind == "12m":
        return _add_months(as_of.replace(day=1), 12) - timedelta(days=1)  # this month and the next 11
    raise QueryError(f"horizon {kind!r} is not one of {', '.join(HORIZONS)}")


def horizon_start(as_of: date, kind: str, fiscal_start_month: int = 1) -> date:
    """First day of the period that ``horizon_end`` closes (month, quarter, fiscal year; for 12
    months, the as-of month)."""
    end = horizon_end(as_of, kind, fiscal_start_month)
    months = {"month": 1, "quarter": 3, "fiscal_year": 12, "12m": 12}[kind]
    return _add_months(end.replace(day=1), 1 - months)


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    return date(y, m + 1, 1)


def scope_forecast(con: duckdb.DuckDBPyConnection, q: CostQuery, until: date, events: Events) -> ScopeForecast:
    """Forecast of ``q`` (history q.start..q.end) up to ``until`` (at most MAX_DAYS ahead)."""
    actuals = daily_actuals(con, q)
    return ScopeForecast(actuals, forecast.fit_predict(actuals, _horizon(q.end, until), events))


def calibrated(fc: ScopeForecast, cal: calibration.Calibration | None) -> ScopeForecast:
    """``fc`` with its bands and sample paths widened by ``cal`` (from ``backtest_scope``; None: as is)."""
    return ScopeForecast(fc.actuals, calibration.calibrated(fc.forecast, cal))


def _horizon(as_of: date, until: date) -> int:
    days = (until - as_of).days
    if not 1 <= days <= MAX_DAYS:
        raise QueryError(f"forecast horizon {until} must be 1 to {MAX_DAYS} days after {as_of}")
    return days


def _fit_one(history: pl.DataFrame, until: date, events: Events) -> ScopeForecast | None:
    """A scope's forecast (sample paths as float32: half the memory, ample precision), or None
    when its history is too short."""
    try:
        fc = forecast.fit_predict(history, _horizon(_last(history), until), events)
    except forecast.ForecastError:
        return None
    return ScopeForecast(history, forecast.SeriesForecast(fc.daily, fc.samples.astype(np.float32), fc.notes))


def _prophet(series: pl.DataFrame, events: Events) -> backtest.Forecaster:
    """The forecaster a backtest of ``series`` runs at each origin: this forecast with the live fit's
    choice of yearly seasonality, so the track record is that of the model the page shows."""
    yearly = forecast.wants_yearly(series)
    return lambda h, n: forecast.fit_predict(h, n, events, yearly=yearly).daily


def _backtest_one(history: pl.DataFrame, events: Events) -> backtest.Backtest | None:
    try:
        return backtest.backtest(history, _prophet(history, events))
    except (backtest.BacktestError, forecast.ForecastError):
        return None


@contextlib.contextmanager
def _plain_main() -> Iterator[None]:
    """Spawned workers re-run the parent's ``__main__`` (under Streamlit: the app script, which must
    not run there); they need only finops_core, so a bare ``__main__`` stands in while they start."""
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = saved


def _warm() -> None:
    forecast.quiet()
    import prophet  # noqa: F401  (paid once per worker, not once per forecast)


def _pool(workers: int) -> Executor:
    """One pool of spawned workers per process, started at once and reused: each imports Prophet once."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            with _plain_main():
                for fut in [pool.submit(_warm) for _ in range(workers)]:
                    fut.result()
            _POOL = pool
        return _POOL


def _run_many(
    fn: Callable[..., Any],
    jobs: dict[str, tuple[Any, ...]],
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """``fn(*args)`` for every job, in ``workers`` processes when there are enough jobs to pay for it
    (``workers=1``: in this process); ``progress(done, total)`` after each. Results in job order."""
    global _POOL
    workers = workers or min(2, os.cpu_count() or 1)
    out: dict[str, Any] = {}
    if workers <= 1 or len(jobs) < 4:
        for i, (key, args) in enumerate(jobs.items()):
            out[key] = fn(*args)
            if progress:
                progress(i + 1, len(jobs))
        return out
    pool = _pool(workers)
    futures = {pool.submit(fn, *args): key for key, args in jobs.items()}
    try:
        for i, fut in enumerate(as_completed(futures)):
            out[futures[fut]] = fut.result()
            if progress:
                progress(i + 1, len(jobs))
    except BrokenProcessPool:
        _POOL = None  # a worker died (e.g. out of memory): the next call starts a fresh pool
        raise
    return {k: out[k] for k in jobs}


def forecast_many(
    series: dict[str, pl.DataFrame],
    until: date,
    events: Events,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, ScopeForecast]:
    """Forecasts of many scopes (daily actuals by key) up to ``until``; scopes with too little
    history are left out. See ``_run_many`` for ``workers`` and ``progress``."""
    jobs = {k: (h, until, events) for k, h in series.items()}
    done = _run_many(_fit_one, jobs, workers, progress)
    return {k: v for k, v in done.items() if v is not None}


def backtest_many(
    series: dict[str, pl.DataFrame],
    events: Events,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, backtest.Backtest]:
    """The rolling-origin backtest of many scopes; scopes too short to backtest are left out."""
    done = _run_many(_backtest_one, {k: (h, events) for k, h in series.items()}, workers, progress)
    return {k: v for k, v in done.items() if v is not None}


def _last(history: pl.DataFrame) -> date:
    last = history["day"].max()
    assert isinstance(last, date)
    return last


def backtest_scope(con: duckdb.DuckDBPyConnection, q: CostQuery, events: Events) -> backtest.Backtest:
    """Rolling-origin backtest of this forecast and the baselines on ``q``'s daily actuals."""
    actuals = daily_actuals(con, q)
    return backtest.backtest(actuals, _prophet(actuals, events))


def month_outlook(fc: ScopeForecast, month_end: date) -> pl.DataFrame:
    """Cumulative cost through the month ending ``month_end`` (the as-of day's, or the next one when
    the data ends on a month's last day): one row per day with ``actual`` (cumulative, to the as-of
    day) and ``yhat``/``lo95``/``lo80``/``hi80``/``hi95`` (cumulative, after it; intervals from summed
    sample paths)."""
    start = month_end.replace(day=1)
    past = fc.actuals.filter(pl.col("day") >= start).with_columns(pl.col("cost").cum_sum().alias("actual"))
    base = float(past["actual"].tail(1).sum()) if past.height else 0.0
    future = fc.forecast.daily.filter(pl.col("day") <= month_end)
    paths = np.cumsum(fc.forecast.samples[: future.height], axis=0) + base
    cum = future.select("day").with_columns(
        pl.Series("yhat", np.cumsum(future["yhat"].to_numpy()) + base),
        *(pl.Series(k, np.percentile(paths, q, axis=1)) for k, q in forecast.QUANTILES.items()),
    )
    return pl.concat([past.select("day", "actual"), cum], how="diagonal_relaxed").sort("day")


def monthly_plan(
    forecasts: dict[str, ScopeForecast], first_month: date, until: date, label: str = C.x_Team
) -> pl.DataFrame:
    """Expected cost per scope and month (actuals where the month has passed, actual + forecast in
    the current month, forecast after): one row per scope, one column per month 'YYYY-MM'."""
    rows = []
    for key, fc in forecasts.items():
        frame = pl.concat(
            [fc.actuals.select("day", pl.col("cost")), fc.forecast.daily.select("day", pl.col("yhat").alias("cost"))]
        ).filter(pl.col("day").is_between(first_month, until))
        monthly = frame.group_by(pl.col("day").dt.strftime("%Y-%m").alias("month")).agg(pl.col("cost").sum())
        rows.append(monthly.with_columns(pl.lit(key).alias(label)))
    if not rows:
        return pl.DataFrame({label: []}, schema={label: pl.String})
    long = pl.concat(rows).sort("month")
    return long.pivot(on="month", index=label, values="cost").sort(label)


def daily_view(fc: ScopeForecast, days_back: int = 90) -> pl.DataFrame:
    """The last ``days_back`` days of actuals then the daily forecast: day, actual, yhat, lo95 ... hi95."""
    past = fc.actuals.tail(days_back).select("day", pl.col("cost").alias("actual"))
    return pl.concat([past, fc.forecast.daily], how="diagonal_relaxed").sort("day")


def top_values(con: duckdb.DuckDBPyConnection, q: CostQuery, dimension: str, limit: int = 50) -> list[str]:
    """The values of ``dimension`` with the most cost over the last 90 days of ``q``, largest first."""
    recent = replace(q, start=max(q.start, q.end - timedelta(days=89)), group_by=(dimension,))
    frame = drilldown.cost_by_dimension(con, recent, limit=limit)
    return [str(v) for v in frame[dimension].to_list()]
