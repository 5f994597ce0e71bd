"""Forecast of a unit cost: the existing daily forecast (``forecast.fit_predict``) of the cost and,
separately, of the metric's volume, divided per calendar month.

Month m's unit cost = sum of the cost forecast over m's future days / sum of the volume forecast
over them. Its 80 % interval comes from the sample paths: path i's cost sum over path i's volume
sum, whose 10th and 90th percentiles are taken (each fit is seeded, so the pairs are repeatable;
they are drawn independently, so the interval ignores any correlation of cost with volume).
History: the trailing run of consecutive days with both cost and units of one group in one
billing currency (a gap ends it: the forecast needs a series without holes).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl

from finops_core import forecast
from finops_core.events import Events
from finops_core.query import CostQuery, QueryError
from finops_core.schema import C
from finops_core.unit import cost, metrics

MONTHS_AHEAD = 3


def group_daily(
    con: duckdb.DuckDBPyConnection,
    q: CostQuery,
    lines: pl.DataFrame,
    metric: str,
    dimension: str | None,
    value: str | None,
) -> pl.DataFrame:
    """Cost and units per day of one group (``value`` of ``dimension``; None for company-wide) in
    ``q``'s one billing currency: one row per day (day, cost, units), oldest first, no gaps."""
    currency = q.filter_values(C.BillingCurrency)
    if not currency or len(currency) != 1:
        raise QueryError("a unit-cost forecast needs one billing currency in the request's filters")
    daily = cost.unit_costs(con, replace(q, grain="day"), lines, metric, dimension)
    if dimension:
        daily = daily.filter(pl.col(dimension) == value)
    daily = daily.rename({cost.PERIOD: "day"}).select("day", "cost", "units").sort("day")
    if daily.is_empty():
        return daily
    gaps = daily["day"].diff().dt.total_days().fill_null(1) != 1
    start = int(np.flatnonzero(gaps.to_numpy())[-1]) if gaps.any() else 0
    return daily.slice(start)


def _month_end(d: date) -> date:
    return (d.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def forecast_unit_cost(daily: pl.DataFrame, until: date, events: Events | None = None) -> pl.DataFrame:
    """Monthly forecast of cost / units from a daily (day, cost, units) series, to ``until``.
    One row per month with future days: month, days, cost, units, unit_cost, lo80, hi80."""
    last = daily["day"].max()
    if not isinstance(last, date) or until <= last:
        raise forecast.ForecastError("nothing to forecast: the horizon ends before the history does")
    horizon = (until - last).days
    fc_cost = forecast.fit_predict(daily.select("day", "cost"), horizon, events)
    fc_units = forecast.fit_predict(daily.select("day", pl.col("units").alias("cost")), horizon, events)
    days = fc_cost.daily["day"]
    rows = []
    for month in sorted({d.replace(day=1) for d in days}):
        idx = [i for i, d in enumerate(days) if d.replace(day=1) == month]
        c, u = fc_cost.samples[idx].sum(axis=0), fc_units.samples[idx].sum(axis=0)
        n = min(len(c), len(u))
        ratio = c[:n] / np.where(u[:n] > 0, u[:n], np.nan)
        yc, yu = float(fc_cost.daily["yhat"].gather(idx).sum()), float(fc_units.daily["yhat"].gather(idx).sum())
        rows.append(
            {
                "month": month,
                "days": len(idx),
                "cost": yc,
                "units": yu,
                "unit_cost": yc / yu if yu > 0 else None,
                "lo80": float(np.nanpercentile(ratio, 10)) if np.isfinite(ratio).any() else None,
                "hi80": float(np.nanpercentile(ratio, 90)) if np.isfinite(ratio).any() else None,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "month": pl.Date,
            "days": pl.Int64,
            **{k: pl.Float64 for k in ("cost", "units", "unit_cost", "lo80", "hi80")},
        },
    )


def unit_cost_outlook_at(
    con: duckdb.DuckDBPyConnection,
    q: CostQuery,
    version: int | None,
    metric: str,
    dimension: str | None,
    value: str | None,
) -> pl.DataFrame:
    """``forecast_unit_cost`` of one group over ``q``'s history, to the end of the third month after
    ``q.end``, with the metrics ``version`` (None: the latest) and the events file in force."""
    from finops_core import events

    daily = group_daily(con, q, metrics.current(version=version), metric, dimension, value)
    if daily.is_empty():
        raise forecast.ForecastError("no day has both cost and units for this group")
    until = _month_end(q.end)
    for _ in range(MONTHS_AHEAD):
        until = _month_end(until + timedelta(days=1))
    return forecast_unit_cost(daily, until, events.load())
