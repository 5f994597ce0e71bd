"""Unit cost: allocated cost (direct plus shared splits, the ``daily`` rollup) per business unit.

Which metric lines a breakdown uses: by ``x_Product`` the lines with a product and no team, by
``x_Team`` the lines with a team, without a breakdown the company-wide lines (no team, no product).
Cost and volume are joined per day, so a bucket (week, month) counts only days that have both: a
metrics file that starts late or stops early never divides a month's cost by a week's volume.
Within a scope the cost is that of the teams in scope and the volume is the whole product's (or
company's): a viewer sees their teams' contribution to the cost per unit, which adds up across teams.
Amounts stay per billing currency: a product billed in USD and EUR has a unit cost in each.

The change between two periods, u = C / U (cost over units), splits exactly (a two-factor Shapley
split, the average of both orders of change):
    cost effect   = (C1 - C0) / 2 * (1 / U0 + 1 / U1)
    volume effect = (C0 + C1) / 2 * (1 / U1 - 1 / U0)
    cost effect + volume effect = C1 / U1 - C0 / U0 = u1 - u0
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
import polars as pl

from finops_core import drilldown
from finops_core.query import CostQuery, QueryError
from finops_core.schema import C
from finops_core.unit import metrics

DIMENSIONS = (C.x_Product, C.x_Team)
PERIOD = drilldown.PERIOD
TRUNCATE = {"day": "1d", "week": "1w", "month": "1mo"}  # polars weeks start on Monday, as DuckDB's do


@dataclass(frozen=True)
class Change:
    """u1 - u0 of one group and its two parts (see the module docstring)."""

    cost0: float
    units0: float
    cost1: float
    units1: float

    @property
    def unit0(self) -> float:
        return self.cost0 / self.units0

    @property
    def unit1(self) -> float:
        return self.cost1 / self.units1

    @property
    def cost_effect(self) -> float:
        return (self.cost1 - self.cost0) / 2 * (1 / self.units0 + 1 / self.units1)

    @property
    def volume_effect(self) -> float:
        return (self.cost0 + self.cost1) / 2 * (1 / self.units1 - 1 / self.units0)


def _check(dimension: str | None) -> None:
    if dimension is not None and dimension not in DIMENSIONS:
        raise QueryError(f"unit costs break down by {' or '.join(DIMENSIONS)}, not {dimension!r}")


def metric_lines(lines: pl.DataFrame, metric: str, dimension: str | None) -> pl.DataFrame:
    """Units per day of ``metric`` at the grain of ``dimension``: one row per (day, [dimension]), ``units``."""
    _check(dimension)
    mine = lines.filter(pl.col("metric") == metric)
    if dimension == C.x_Team:
        mine = mine.filter(pl.col("team") != "").rename({"team": C.x_Team})
    elif dimension == C.x_Product:
        mine = mine.filter((pl.col("team") == "") & (pl.col("product") != "")).rename({"product": C.x_Product})
    else:
        mine = mine.filter((pl.col("team") == "") & (pl.col("product") == ""))
    keys = ["date"] + ([dimension] if dimension else [])
    return mine.group_by(keys).agg(pl.col("value").sum().alias("units")).rename({"date": "day"})


def _daily(
    con: duckdb.DuckDBPyConnection, q: CostQuery, lines: pl.DataFrame, metric: str, dim: str | None
) -> pl.DataFrame:
    """Cost and units per (day, [dimension], BillingCurrency), days with both only."""
    cost = drilldown.timeseries(con, replace(q, grain="day", group_by=()), dim).rename(
        {PERIOD: "day", q.metric: "cost"}
    )
    units = metric_lines(lines, metric, dim).filter(pl.col("day").is_between(q.start, q.end))
    keys = ["day"] + ([dim] if dim else [])
    return cost.join(units, on=keys, how="inner")


def unit_costs(
    con: duckdb.DuckDBPyConnection, q: CostQuery, lines: pl.DataFrame, metric: str, dimension: str | None
) -> pl.DataFrame:
    """Cost per unit of ``metric`` per ``q.grain`` bucket. One row per (period, [dimension],
    BillingCurrency): cost, units, days (with both), unit_cost (null when no units)."""
    daily = _daily(con, q, lines, metric, dimension)
    keys = [PERIOD] + ([dimension] if dimension else []) + [C.BillingCurrency]
    return (
        daily.with_columns(pl.col("day").dt.truncate(TRUNCATE[q.grain]).alias(PERIOD))
        .group_by(keys)
        .agg(pl.col("cost").sum(), pl.col("units").sum(), pl.len().alias("days"))
        .with_columns(_ratio("cost", "units").alias("unit_cost"))
        .sort(keys)
    )


def _ratio(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def unit_cost_change(
    con: duckdb.DuckDBPyConnection,
    q: CostQuery,
    lines: pl.DataFrame,
    metric: str,
    dimension: str | None,
    before: CostQuery | None = None,
) -> pl.DataFrame:
    """Unit cost in ``q``'s period against ``before`` (default: the equally long period just before),
    with the change split into cost and volume effects. One row per ([dimension], BillingCurrency)
    with units in both periods: cost0, units0, unit_cost0, cost1, units1, unit_cost1, change,
    cost_effect, volume_effect (the last two sum to change), largest change first."""
    before = before or q.previous()
    keys = ([dimension] if dimension else []) + [C.BillingCurrency]

    def totals(query: CostQuery, suffix: str) -> pl.DataFrame:
        daily = _daily(con, query, lines, metric, dimension)
        return daily.group_by(keys).agg(
            pl.col("cost").sum().alias(f"cost{suffix}"), pl.col("units").sum().alias(f"units{suffix}")
        )

    both = totals(before, "0").join(totals(q, "1"), on=keys, how="inner")
    both = both.filter((pl.col("units0") > 0) & (pl.col("units1") > 0))
    c0, u0, c1, u1 = (pl.col(n) for n in ("cost0", "units0", "cost1", "units1"))
    return (
        both.with_columns(
            (c0 / u0).alias("unit_cost0"),
            (c1 / u1).alias("unit_cost1"),
            (c1 / u1 - c0 / u0).alias("change"),
            ((c1 - c0) / 2 * (1 / u0 + 1 / u1)).alias("cost_effect"),
            ((c0 + c1) / 2 * (1 / u1 - 1 / u0)).alias("volume_effect"),
        )
        .with_columns(_ratio("change", "unit_cost0").alias("change_pct"))
        .select(
            *keys,
            "cost0",
            "units0",
            "unit_cost0",
            "cost1",
            "units1",
            "unit_cost1",
            "change",
            "change_pct",
            "cost_effect",
            "volume_effect",
        )
        .sort(pl.col("change").abs(), descending=True)
    )


def unit_costs_at(
    con: duckdb.DuckDBPyConnection, q: CostQuery, version: int | None, metric: str, dimension: str | None
) -> pl.DataFrame:
    """``unit_costs`` over the saved metrics ``version`` (None: the latest), for callers that cache by it."""
    return unit_costs(con, q, metrics.current(version=version), metric, dimension)


def unit_cost_change_at(
    con: duckdb.DuckDBPyConnection, q: CostQuery, version: int | None, metric: str, dimension: str | None
) -> pl.DataFrame:
    """``unit_cost_change`` of ``q`` against the period just before it, over the saved metrics ``version``."""
    return unit_cost_change(con, q, metrics.current(version=version), metric, dimension)


def breakdowns(lines: pl.DataFrame) -> dict[str, list[str | None]]:
    """Per metric, the breakdowns its lines support (``x_Product``, ``x_Team``, None = company-wide)."""
    out: dict[str, list[str | None]] = {}
    for name in metrics.metric_names(lines):
        out[name] = [d for d in (C.x_Product, C.x_Team, None) if not metric_lines(lines, name, d).is_empty()]
    return out
