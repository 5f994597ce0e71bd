"""Spend drilldown answers: totals, time series, breakdowns, movers and line items.

Every function takes a DuckDB connection from ``store.connect`` and a ``CostQuery`` and returns a
Polars frame. Results always carry ``BillingCurrency``: amounts in different billing currencies
are never summed together.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import duckdb
import polars as pl

from finops_core import db
from finops_core.query import NOT_SET, OTHER, CostQuery, QueryError, compile_where, dimension_sql, grain_sql
from finops_core.schema import FOCUS_NAMES, TAG_PREFIX, C

PERIOD = "period"
HALF_CENT = 0.005  # below this a change is float noise, not a mover
LINE_ITEM_COLUMNS: tuple[str, ...] = (
    C.ChargePeriodStart,
    C.ProviderName,
    C.SubAccountName,
    C.ServiceName,
    C.ResourceId,
    C.ResourceName,
    C.RegionId,
    C.SkuId,
    C.ChargeCategory,
    C.PricingCategory,
    C.CommitmentDiscountStatus,
    C.x_Team,
    C.x_AllocationRule,
    C.x_Environment,
    C.ConsumedQuantity,
    C.ConsumedUnit,
    C.ListCost,
    C.ContractedCost,
    C.BilledCost,
    C.EffectiveCost,
    C.BillingCurrency,
    C.Tags,
)


def _group_select(dims: tuple[str, ...], params: list[object]) -> list[str]:
    """Group columns (nulls shown as NOT_SET); BillingCurrency is always added separately."""
    return [
        f"coalesce(CAST({dimension_sql(d, params)} AS VARCHAR), '{NOT_SET}') AS \"{d}\""
        for d in dims
        if d != C.BillingCurrency
    ]


def cost_by_dimension(con: duckdb.DuckDBPyConnection, q: CostQuery, limit: int | None = None) -> pl.DataFrame:
    """Metric per group. One row per (group-by values, BillingCurrency), largest first.

    ``limit`` keeps only the largest groups (e.g. top 20 resources).
    """
    params: list[object] = []
    cols = _group_select(q.group_by, params)
    view, where, wparams = compile_where(q)
    select = ", ".join(cols + [C.BillingCurrency, f"sum({q.metric}) AS {q.metric}"])
    # Ties (identical resources, whose sums differ only in the last bits with the order of addition)
    # in a stable order, so a limit keeps the same groups on every run.
    order = ", ".join(str(i) for i in range(1, len(cols) + 2))
    sql = f"SELECT {select} FROM {view} WHERE {where} GROUP BY ALL ORDER BY round(sum({q.metric}), 6) DESC, {order}"
    extra: list[object] = []
    if limit is not None:
        sql += " LIMIT ?"
        extra = [limit]
    return db.frame(con, sql, params + wparams + extra)


def total(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """Metric for the whole request. One row per BillingCurrency that has rows."""
    view, where, params = compile_where(q)
    sql = f"SELECT {C.BillingCurrency}, sum({q.metric}) AS {q.metric} FROM {view} WHERE {where} GROUP BY ALL ORDER BY 2 DESC"
    return db.frame(con, sql, params)


def _top_n(frame: pl.DataFrame, dim: str, metric: str, top_n: int | None) -> pl.DataFrame:
    """Keep the ``top_n`` largest groups of ``dim`` per currency; fold the rest into ``Other``."""
    if top_n is None or frame.is_empty():
        return frame
    ranks = (
        frame.group_by(C.BillingCurrency, dim)
        .agg(pl.col(metric).sum().abs().round(6).alias("_size"))
        .sort(["_size", dim], descending=[True, False], nulls_last=True)  # equal sizes: the first name stays
        .with_columns((pl.int_range(pl.len()).over(C.BillingCurrency) + 1).alias("_rank"))
    )
    keys = [c for c in frame.columns if c != metric]
    return (
        frame.join(ranks.select(C.BillingCurrency, dim, "_rank"), on=[C.BillingCurrency, dim], how="left")
        .with_columns(pl.when(pl.col("_rank") <= top_n).then(pl.col(dim)).otherwise(pl.lit(OTHER)).alias(dim))
        .group_by(keys)
        .agg(pl.col(metric).sum())
    )


def timeseries(
    con: duckdb.DuckDBPyConnection, q: CostQuery, dimension: str | None = None, top_n: int | None = None
) -> pl.DataFrame:
    """Metric per time bucket of ``q.grain``, optionally split by ``dimension`` (top N + Other).

    One row per (period, [dimension], BillingCurrency), ordered by period.
    """
    params: list[object] = []
    cols = [f"{grain_sql(q.grain)} AS {PERIOD}"] + _group_select((dimension,) if dimension else (), params)
    view, where, wparams = compile_where(q, (dimension,) if dimension else ())
    select = ", ".join(cols + [C.BillingCurrency, f"sum({q.metric}) AS {q.metric}"])
    out = db.frame(con, f"SELECT {select} FROM {view} WHERE {where} GROUP BY ALL", params + wparams)
    if dimension:
        out = _top_n(out, dimension, q.metric, top_n)
    order = [PERIOD] + ([dimension] if dimension else []) + [C.BillingCurrency]
    return out.sort(order)


def breakdown(con: duckdb.DuckDBPyConnection, q: CostQuery, dimension: str, top_n: int | None = 10) -> pl.DataFrame:
    """Metric per value of ``dimension`` (top N + Other) with its share of the currency total.

    One row per (dimension value, BillingCurrency), largest first; ``Other`` last.
    """
    grouped = cost_by_dimension(con, _grouped(q, dimension))
    out = _top_n(grouped, dimension, q.metric, top_n)
    totals = pl.col(q.metric).sum().over(C.BillingCurrency)
    return out.with_columns((pl.col(q.metric) / totals).alias("share")).sort(
        [C.BillingCurrency, pl.col(dimension) == OTHER, q.metric], descending=[False, False, True]
    )


def _grouped(q: CostQuery, dimension: str) -> CostQuery:
    return replace(q, group_by=(dimension,))


def movers(
    con: duckdb.DuckDBPyConnection,
    q: CostQuery,
    dimension: str,
    limit: int | None = None,
    before: CostQuery | None = None,
) -> pl.DataFrame:
    """Current vs the comparison period (``before``, default ``q.previous()``: calendar-aligned)
    per value of ``dimension``, by absolute change.

    One row per (dimension value, BillingCurrency): current, previous, delta, delta_pct
    (null when there was nothing before).
    """
    before = before or q.previous()
    cur = cost_by_dimension(con, _grouped(q, dimension)).rename({q.metric: "current"})
    prev = cost_by_dimension(con, _grouped(before, dimension)).rename({q.metric: "previous"})
    keys = [dimension, C.BillingCurrency]
    out = (
        cur.join(prev, on=keys, how="full", coalesce=True)
        .with_columns(pl.col("current").fill_null(0.0), pl.col("previous").fill_null(0.0))
        .with_columns((pl.col("current") - pl.col("previous")).alias("delta"))
        .with_columns(pl.when(pl.col("delta").abs() < HALF_CENT).then(0.0).otherwise(pl.col("delta")).alias("delta"))
        .with_columns(
            pl.when(pl.col("previous").abs() > 1e-9)
            .then(pl.col("delta") / pl.col("previous").abs())
            .otherwise(None)
            .alias("delta_pct")
        )
        .sort([pl.col("delta").abs().round(6), dimension, C.BillingCurrency], descending=[True, False, False])
    )
    return out.head(limit) if limit else out


def line_items(
    con: duckdb.DuckDBPyConnection, q: CostQuery, page: int = 0, page_size: int = 100
) -> tuple[pl.DataFrame, int]:
    """One page of the FOCUS rows matching ``q`` (largest cost first) and the number of rows in all."""
    _, where, params = compile_where(q, (C.Tags,))
    count = db.rows(con, f"SELECT count(*) FROM costs WHERE {where}", params)[0][0]
    cols = ", ".join(LINE_ITEM_COLUMNS)
    page_rows = db.frame(
        con,
        f"SELECT {cols} FROM costs WHERE {where} ORDER BY abs({q.metric}) DESC, {C.ChargePeriodStart}, {C.ResourceId} "
        "LIMIT ? OFFSET ?",
        params + [page_size, page * page_size],
    )
    return page_rows, int(count)


def export_rows(con: duckdb.DuckDBPyConnection, q: CostQuery) -> duckdb.DuckDBPyRelation:
    """Every FOCUS column (plus x_ allocation columns) of the rows matching ``q`` as billed (a
    shared charge stays one row, with its direct attribution), as a relation."""
    _, where, params = compile_where(q, (C.Tags,))
    cols = ", ".join(FOCUS_NAMES + (C.x_Team, C.x_Product, C.x_Environment, C.x_CostCenter, C.x_Owner))
    return con.sql(f"SELECT {cols} FROM focus_rows WHERE {where}", params=params)


def month_run_rate(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """Month-to-date cost up to ``q.end`` and its projection to month end.

    Usage-based charges are extrapolated by days elapsed; recurring and one-time charges (monthly
    fees, purchases) are counted once, not multiplied. One row per BillingCurrency: mtd,
    projected, days_elapsed, days_in_month.
    """
    month_start = q.end.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    days_in_month = (next_month - month_start).days
    mtd_q = replace(q, start=month_start, group_by=(C.ChargeFrequency,))
    frame = cost_by_dimension(con, mtd_q)
    usage = pl.col(C.ChargeFrequency) == "Usage-Based"
    elapsed = q.end.day
    return (
        frame.group_by(C.BillingCurrency)
        .agg(
            pl.col(q.metric).sum().alias("mtd"),
            pl.col(q.metric).filter(usage).sum().alias("_usage"),
            pl.col(q.metric).filter(~usage).sum().alias("_fixed"),
        )
        .with_columns(
            (pl.col("_fixed") + pl.col("_usage") / elapsed * days_in_month).alias("projected"),
            pl.lit(elapsed).alias("days_elapsed"),
            pl.lit(days_in_month).alias("days_in_month"),
        )
        .drop("_usage", "_fixed")
        .sort(C.BillingCurrency)
    )


def dimension_values(con: duckdb.DuckDBPyConnection, q: CostQuery, dims: tuple[str, ...]) -> dict[str, list[str]]:
    """The values of each dimension in ``dims`` (rollup dimensions) within ``q``, largest ``q.metric`` first,
    in one scan (GROUPING SETS). Used to fill filter pickers."""
    view, where, params = compile_where(q, dims)
    sets = ", ".join(f'("{d}")' for d in dims)
    cols = ", ".join(f'"{d}"' for d in dims)
    frame = db.frame(
        con,
        f"SELECT {cols}, sum(abs({q.metric})) AS size FROM {view} WHERE {where} GROUP BY GROUPING SETS ({sets})",
        params,
    )
    # equal sizes (often 0 within a scope) by name, and sizes compared at a micro-unit: sums of the
    # same rows differ in the last bits with the order of addition, which must not reorder the list
    size = pl.col("size").round(6)
    return {
        d: frame.filter(pl.col(d).is_not_null())
        .sort([size, pl.col(d).cast(pl.String)], descending=[True, False])[d]
        .cast(pl.String)
        .to_list()
        for d in dims
    }


def breakdown2(
    con: duckdb.DuckDBPyConnection, q: CostQuery, first: str, second: str, top_n: int | None = 10
) -> pl.DataFrame:
    """Metric per (``first``, ``second``) value pair; each dimension keeps its ``top_n`` largest
    values per currency and folds the rest into ``Other``, so the parts still sum to the total.

    One row per (first, second, BillingCurrency), largest first, with ``share`` of the currency total.
    """
    if first == second:
        raise QueryError(f"group by two different dimensions, not {first!r} twice")
    grouped = cost_by_dimension(con, replace(q, group_by=(first, second)))
    out = _top_n(_top_n(grouped, first, q.metric, top_n), second, q.metric, top_n)
    totals = pl.col(q.metric).sum().over(C.BillingCurrency)
    return out.with_columns((pl.col(q.metric) / totals).alias("share")).sort(
        [C.BillingCurrency, q.metric], descending=[False, True]
    )


def tag_keys(con: duckdb.DuckDBPyConnection, q: CostQuery, limit: int = 50) -> list[str]:
    """Tag keys present on billing rows (from the rollup's ``tag_map`` of distinct Tags values:
    no scan of the rows), most frequent first, as ``tag:<key>`` dimensions. Keys only: no values
    or amounts, so the caller's scope (``q.scope``) has nothing to narrow."""
    rows = db.rows(
        con,
        "SELECT k, count(*) AS n FROM (SELECT unnest(json_keys(tag_key)) AS k FROM tag_map "
        "WHERE tag_key LIKE '{%') GROUP BY k ORDER BY n DESC, k LIMIT ?",
        [limit],
    )
    return [f"{TAG_PREFIX}{k}" for k, _ in rows]


def cost_by_period(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """Metric per time bucket of ``q.grain`` and ``q.group_by`` values (no folding into Other).

    One row per (period, group-by values, BillingCurrency), ordered by period then largest first.
    """
    params: list[object] = []
    cols = [f"{grain_sql(q.grain)} AS {PERIOD}"] + _group_select(q.group_by, params)
    view, where, wparams = compile_where(q)
    select = ", ".join(cols + [C.BillingCurrency, f"sum({q.metric}) AS {q.metric}"])
    out = db.frame(con, f"SELECT {select} FROM {view} WHERE {where} GROUP BY ALL", params + wparams)
    return out.sort([PERIOD, q.metric], descending=[False, True])
