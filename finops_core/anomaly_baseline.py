"""The series anomaly detection judges and what it expects of them (see ``anomalies.py``).

``daily_series`` builds the usage-based cost per day of every series of a scope type, with the
cost of young resources at each lag so a deployment is growth, not an anomaly; ``expected`` adds
the settled cost and the expected cost of each day; ``level_medians`` the levels leaks compare.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import duckdb
import numpy as np
import polars as pl

from finops_core import db
from finops_core.query import CostQuery, compile_where
from finops_core.schema import C

YOUNG_DAYS = 35  # a resource's first five weeks are a deployment ramping up, not an anomaly
EDGE_MONTHS = 6  # month-edge days are judged against the same position in up to six months before
SCOPES: dict[str, tuple[str, ...]] = {
    "service": (C.ServiceName, C.SubAccountId),
    "team": (C.x_Team,),
    "total": (),
}
ALL_DIMS = (C.ServiceName, C.SubAccountId, C.x_Team)


def daily_series(
    con: duckdb.DuckDBPyConnection, q: CostQuery, scope: str, young: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Usage-based cost per day for every series of a scope type, missing days as 0; ``young`` is
    ``young_resources(con, q)`` when the caller already has it.

    One row per (series key, BillingCurrency, day); ``key`` is a readable label of the series.
    """
    dims = SCOPES[scope]
    # the view must hold the columns the series is cut by (a resource filter has no daily rollup)
    view, where, params = compile_where(replace(q, group_by=dims), (C.ChargeFrequency, C.CommitmentDiscountStatus))
    cols = ", ".join((C.x_ChargeDate, C.BillingCurrency, *dims))
    raw = db.frame(
        con,
        f"SELECT {cols}, sum({q.metric}) AS cost FROM {view} WHERE {where} "
        f"AND {C.ChargeFrequency} = 'Usage-Based' AND {C.ChargeCategory} = 'Usage' "
        f"AND {C.CommitmentDiscountStatus} IS DISTINCT FROM 'Unused' GROUP BY ALL",
        params,
    ).rename({C.x_ChargeDate: "day"})
    keys = [C.BillingCurrency, *dims]
    if raw.is_empty():
        return raw.with_columns(pl.lit("").alias("key"))
    spans = raw.group_by(keys).agg(pl.col("day").min().alias("first"))
    days = pl.DataFrame({"day": pl.date_range(q.start, q.end, eager=True)})
    grid = spans.join(days, how="cross").filter(pl.col("day") >= pl.col("first")).drop("first")
    lags = _young_lags(young_resources(con, q) if young is None else young, dims)
    full = (
        grid.join(raw, on=[*keys, "day"], how="left")
        .join(lags, on=[*keys, "day"], how="left")
        .with_columns(pl.col("cost").fill_null(0.0), *[pl.col(f"y{j}").fill_null(0.0) for j in range(YOUNG_DAYS)])
        .with_columns(pl.col("y0").alias("young_cost"))
    )
    label = pl.concat_str([pl.col(d).cast(pl.String) for d in dims], separator=" / ") if dims else pl.lit("Total")
    return full.with_columns(label.alias("key")).sort([*keys, "day"])


def young_resources(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """Usage cost of resources in their first five weeks, for every scope type at once (one pass over
    the resource rows serves all scopes). One row per (BillingCurrency, service, sub account, team,
    day, age in days since the resource was first seen)."""
    view, where, params = compile_where(replace(q, group_by=()), (C.ResourceId, *ALL_DIMS))
    cols = ", ".join((C.BillingCurrency, *ALL_DIMS))
    usage = f"{C.ResourceId} IS NOT NULL AND {C.ChargeCategory} = 'Usage' AND {where}"
    # each resource's first day (a hash aggregate, not a window over every row); resources already
    # there on the first day of data are not deployments, so only later arrivals are joined back
    firsts = f"SELECT {C.ResourceId}, min({C.x_ChargeDate}) AS first_seen FROM {view} WHERE {usage} GROUP BY 1"
    arrivals = "SELECT * FROM firsts WHERE first_seen > (SELECT min(first_seen) FROM firsts)"
    return db.frame(
        con,
        f"WITH firsts AS ({firsts}), arrivals AS ({arrivals}) "
        f"SELECT day, {cols}, age, sum(cost) AS cost FROM ("
        f"SELECT v.{C.x_ChargeDate} AS day, {', '.join(f'v.{c}' for c in (C.BillingCurrency, *ALL_DIMS))}, "
        f"v.{q.metric} AS cost, v.{C.x_ChargeDate} - a.first_seen AS age "
        f"FROM (SELECT * FROM {view} WHERE {usage}) v JOIN arrivals a ON a.{C.ResourceId} = v.{C.ResourceId}"
        f") WHERE age < {YOUNG_DAYS} GROUP BY ALL",
        params + params,
    )


def _young_lags(young: pl.DataFrame, dims: tuple[str, ...]) -> pl.DataFrame:
    """Per series and day t, the cost that resources still young at t (first seen less than five weeks
    before t) had on day t - j, for j = 0..34, as columns y0..y34.

    Subtracting it from the series at lag j gives the cost of resources settled at t, so a
    deployment neither spikes on arrival nor steps up when it stops being young.
    """
    keys = [C.BillingCurrency, *dims, "day"]
    lags = pl.DataFrame({"j": list(range(YOUNG_DAYS))})
    # only rows of young resources meet the 35 lags (not every row of history)
    long = (
        young.group_by([*keys, "age"])
        .agg(pl.col("cost").sum())
        .join(lags, how="cross")
        .filter(pl.col("age") < YOUNG_DAYS - pl.col("j"))
        .with_columns((pl.col("day") + pl.duration(days=pl.col("j"))).alias("day"))
        .group_by([*keys, "j"])
        .agg(pl.col("cost").sum().alias("young"))
    )
    if long.is_empty():
        key_types = {k: pl.Date if k == "day" else pl.String for k in keys}
        return pl.DataFrame(schema={**key_types, **{f"y{j}": pl.Float64 for j in range(YOUNG_DAYS)}})
    wide = long.pivot(on="j", index=keys, values="young")
    wide = wide.rename({str(j): f"y{j}" for j in range(YOUNG_DAYS) if str(j) in wide.columns})
    return wide.with_columns([pl.lit(0.0).alias(f"y{j}") for j in range(YOUNG_DAYS) if f"y{j}" not in wide.columns])


def expected(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Expected settled cost per day: the cost of the resources settled on that day (see _young_lags).

    Any day: the median of the same weekday over the previous four weeks (``_weekly``). A day at a
    month's edge (the last three or first calendar day, the last two or first business day) is
    expected at ``_weekly`` x the median ratio of cost to ``_weekly`` at the same position in up to
    six earlier months, the highest of its calendar position on the same kind of day (weekday or
    weekend), its calendar position on any day and its business-day position. It is judged once the
    first and the last are known: month-end batch runs are judged against several month-ends, each
    against its own weekday, so neither one odd month (a past anomaly) nor a month whose last days
    fell on a weekend sets the bar.
    """
    lagged = [(pl.col("cost").shift(j).over(keys) - pl.col(f"y{j}")).alias(f"s{j}") for j in range(YOUNG_DAYS)]
    frame = frame.with_columns(lagged).with_columns(pl.col("s0").alias("settled"))
    weekly = pl.concat_list([f"s{k}" for k in (7, 14, 21, 28)]).list.median()
    frame = frame.with_columns(weekly.alias("_weekly"), *_edge_positions())
    ratio = pl.when(pl.col("_weekly") > 0).then(pl.col("settled") / pl.col("_weekly"))
    # one row per (series, position, month), in month order: the previous months' ratios at that position
    prior = [
        pl.when(pl.col(pos).is_not_null())
        .then(ratio.shift(1).rolling_median(EDGE_MONTHS, min_samples=1).over([*keys, pos]))
        .alias(f"{pos}_ratio")
        for pos in ("_cal", "_pos", "_biz")
    ]
    frame = frame.with_columns(prior)
    edge = pl.col("_cal").is_not_null() | pl.col("_biz").is_not_null()
    known = (pl.col("_cal").is_null() | pl.col("_cal_ratio").is_not_null()) & (
        pl.col("_biz").is_null() | pl.col("_biz_ratio").is_not_null()
    )
    month_factor = pl.max_horizontal(pl.lit(1.0), "_cal_ratio", "_pos_ratio", "_biz_ratio")
    return frame.with_columns(
        pl.when(edge).then(pl.col("_weekly") * month_factor).otherwise("_weekly").alias("expected"),
        edge.alias("_edge"),
        # a month-edge day is judged once its positions (weekend or weekday) in earlier months are known
        (~edge | known).alias("_judged"),
    )


def _edge_positions() -> list[pl.Expr]:
    """``_pos``: 0-2 days before the month's last day, or 10 on its first; ``_cal``: the same, +100
    on a weekend; ``_biz`` (weekdays only): 20-21 business days before its last business day, or 30
    on its first business day; else null."""
    day = pl.col("day")
    to_end = (day.dt.month_end() - day).dt.total_days()
    # a weekend position is its own position: a team's batch and interactive parts drop differently
    # at weekends, so a weekend month-end's ratio says little about a weekday one
    weekend = pl.when(day.dt.weekday() >= 6).then(100).otherwise(0)
    pos = pl.when(to_end <= 2).then(to_end).when(day.dt.day() == 1).then(10)
    one = pl.duration(days=1)
    biz_to_end = pl.business_day_count(day + one, day.dt.month_end() + one)
    biz_from_start = pl.business_day_count(day.dt.month_start(), day)
    weekday = day.dt.weekday() <= 5
    biz = (
        pl.when(weekday & (biz_to_end <= 1))
        .then(20 + biz_to_end.cast(pl.Int64))
        .when(weekday & (biz_from_start == 0))
        .then(pl.lit(30, dtype=pl.Int64))
    )
    return [(pos + weekend).alias("_cal"), pos.alias("_pos"), biz.alias("_biz")]


def level_medians(frame: pl.DataFrame) -> pl.DataFrame:
    """Median settled cost of the last 7 days (``_recent``), of the 28 days before them (``_before``,
    when at least 14 are known) and of the week four weeks before the last 7 days (``_old``), from
    the lag columns s0..s34."""
    recent = frame.select([f"s{j}" for j in range(7)]).to_numpy().astype(float)
    window = frame.select([f"s{j}" for j in range(7, YOUNG_DAYS)]).to_numpy().astype(float)
    old = frame.select([f"s{j}" for j in range(YOUNG_DAYS - 7, YOUNG_DAYS)]).to_numpy().astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows at the start of a series
        rec = np.nanmedian(recent, axis=1)
        bef = np.where((~np.isnan(window)).sum(axis=1) >= 14, np.nanmedian(window, axis=1), np.nan)
        old_level = np.where((~np.isnan(old)).sum(axis=1) == 7, np.nanmedian(old, axis=1), np.nan)
    return frame.with_columns(
        pl.Series("_recent", rec).fill_nan(None),
        pl.Series("_before", bef).fill_nan(None),
        pl.Series("_old", old_level).fill_nan(None),
    )
