"""Realized savings of an implemented optimization, measured from the billing rows.

Method, for one item whose scope is a set of filters (e.g. sub account + service) and an
implementation date D:
1. Daily cost and usage (ConsumedQuantity) of the scope's resources. After window: 28 days
   starting 7 days after D (a settling week), cut at the last day of data.
2. Only the resources the scope had in the week before D count, before and after (deployments
   after D are neither saving nor loss). What they would have cost without the change: each one's
   mean over its days in the 8 weeks before D, grown at the relative trend of the resources present all 16 weeks before D
   (Theil-Sen on weekly means, so a resource starting mid-window is not read as growth), to the
   middle of the after window.
3. With a usage driver (one consumed unit in the scope), the change splits into a rate effect,
   (rate before - rate after) x usage after, and a usage effect, (expected usage - usage after) x
   rate before; usage that grew beyond its trend is reported, not subtracted from the savings.
   Without a driver, realized = expected cost - actual cost.
4. Realized monthly savings = daily savings x 365.25 / 12, never more than the scope's whole
   expected cost. Confidence: one standard error of the before window's daily noise, per month.
5. Flags: too few days after, anomalies inside the windows, scope gone to zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl

from finops_core import db
from finops_core.query import CostQuery, compile_where
from finops_core.schema import C

MONTH = 365.25 / 12
BEFORE_DAYS, TREND_DAYS, SETTLE_DAYS, AFTER_DAYS, MIN_AFTER = 56, 112, 7, 28, 14


@dataclass(frozen=True)
class Realization:
    realized_monthly: float | None
    expected_daily: float
    actual_daily: float
    rate_effect_monthly: float
    usage_effect_monthly: float
    usage_growth_monthly: float
    uncertainty_monthly: float
    after_days: int
    flags: tuple[str, ...]
    method: str

    def realization(self, estimate: float) -> float | None:
        if self.realized_monthly is None or not estimate:
            return None
        return self.realized_monthly / estimate


def resource_daily(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """Cost and usage of the scope per resource and day. One row per (day, ResourceId): cost, usage, unit."""
    _, where, params = compile_where(q, (C.ConsumedUnit, C.ResourceId))
    return db.frame(
        con,
        f"SELECT {C.x_ChargeDate} AS day, {C.ResourceId} AS resource, sum({q.metric}) AS cost, "
        f"sum(coalesce({C.ConsumedQuantity}, 0)) AS usage, any_value({C.ConsumedUnit}) AS unit FROM costs "
        f"WHERE {where} AND {C.ChargeCategory} = 'Usage' AND {C.ResourceId} IS NOT NULL GROUP BY 1, 2",
        params,
    )


def _daily_totals(rows: pl.DataFrame, resources: list[str], first: date, last: date) -> pl.DataFrame:
    """Daily cost and usage of the given resources over [first, last], missing days as 0."""
    days = pl.DataFrame({"day": pl.date_range(first, last, eager=True)})
    sums = (
        rows.filter(pl.col("resource").is_in(resources))
        .group_by("day")
        .agg(pl.col("cost").sum(), pl.col("usage").sum())
    )
    return days.join(sums, on="day", how="left").fill_null(0.0).sort("day")


def _trend(values: np.ndarray) -> float:
    """Slope per day of the weekly means (Theil-Sen: the median of pairwise slopes, so one step
    such as a resource starting mid-window does not tilt it)."""
    weeks = values[values.size % 7 :].reshape(-1, 7).mean(axis=1) if values.size >= 14 else np.zeros(0)
    if weeks.size < 2:
        return 0.0
    slopes = [(weeks[j] - weeks[i]) / (j - i) for i in range(weeks.size) for j in range(i + 1, weeks.size)]
    return float(np.median(slopes)) / 7


def measure(con: duckdb.DuckDBPyConnection, scope: CostQuery, implemented_on: date, data_end: date) -> Realization:
    """Realized savings of a change to ``scope`` (its filters and scope; its dates are ignored)."""
    start = implemented_on - timedelta(days=TREND_DAYS)
    after_start = implemented_on + timedelta(days=SETTLE_DAYS)
    after_end = min(after_start + timedelta(days=AFTER_DAYS - 1), data_end)
    if after_end < after_start:
        return _too_early(0)
    rows = resource_daily(con, replace(scope, start=start, end=after_end))
    last_week = rows.filter(
        pl.col("day").is_between(implemented_on - timedelta(days=7), implemented_on - timedelta(days=1))
        & (pl.col("cost") > 0)
    )
    # the scope's resources at the change: deployments after it are neither saving nor loss
    present = last_week["resource"].unique().to_list()
    first_week = rows.filter((pl.col("day") < start + timedelta(days=7)) & (pl.col("cost") > 0))
    stable = [r for r in present if r in set(first_week["resource"].to_list())]
    before = _daily_totals(rows, present, implemented_on - timedelta(days=7), implemented_on - timedelta(days=1))
    after = _daily_totals(rows, present, after_start, after_end)
    trend_rows = _daily_totals(rows, stable, start, implemented_on - timedelta(days=1))
    n_after = after.height
    if n_after < MIN_AFTER:
        return _too_early(n_after)
    # level: each resource's mean over its days in the 8 weeks before the change (one resource
    # starting mid-window is counted at its own level), grown along the stable resources' trend
    gap = (after_start - implemented_on).days + (n_after - 1) / 2 + BEFORE_DAYS / 2
    level = (
        rows.filter(
            pl.col("resource").is_in(present)
            & (pl.col("day") >= implemented_on - timedelta(days=BEFORE_DAYS))
            & (pl.col("day") < implemented_on)
        )
        .group_by("resource")
        .agg(pl.col("cost").mean(), pl.col("usage").mean())
    )
    use_b = before["usage"].to_numpy()
    stable_cost, stable_use = trend_rows["cost"].to_numpy(), trend_rows["usage"].to_numpy()
    growth = _trend(stable_cost) / stable_cost[-7:].mean() if stable_cost[-7:].mean() > 0 else 0.0
    use_growth = _trend(stable_use) / stable_use[-7:].mean() if stable_use[-7:].mean() > 0 else 0.0
    expected_cost = max(0.0, float(level["cost"].sum()) * (1 + growth * gap))
    expected_use = max(0.0, float(level["usage"].sum()) * (1 + use_growth * gap))
    actual_cost, actual_use = float(after["cost"].to_numpy().mean()), float(after["usage"].to_numpy().mean())
    units = rows.filter(pl.col("resource").is_in(present))["unit"].drop_nulls().n_unique()
    noise_source = _daily_totals(
        rows, present, implemented_on - timedelta(days=BEFORE_DAYS), implemented_on - timedelta(days=1)
    )["cost"].to_numpy()
    driver = units == 1 and use_b.sum() > 0
    if driver:
        rate_b = float(level["cost"].to_numpy().sum() / level["usage"].to_numpy().sum())
        rate_a = actual_cost / actual_use if actual_use > 0 else rate_b
        rate_effect = (rate_b - rate_a) * actual_use
        usage_effect = max(0.0, expected_use - actual_use) * rate_b
        growth = max(0.0, actual_use - expected_use) * rate_b
        daily_saving = rate_effect + usage_effect
        method = "rate and usage effects against the trend (usage driver: ConsumedQuantity)"
    else:
        rate_effect, usage_effect, growth = 0.0, expected_cost - actual_cost, 0.0
        daily_saving = expected_cost - actual_cost
        method = "cost against the trend (no single usage unit in the scope)"
    daily_saving = min(daily_saving, expected_cost)  # never more than the scope's whole cost
    smooth = np.convolve(noise_source, np.ones(7) / 7, mode="same")
    noise = float(np.std(noise_source - smooth, ddof=1)) if noise_source.size > 7 else 0.0
    flags = []
    if n_after < AFTER_DAYS:
        flags.append(f"only {n_after} days measured after the settling week")
    if actual_cost == 0:
        flags.append("the scope costs nothing afterwards: the saving is its whole cost")
    return Realization(
        realized_monthly=daily_saving * MONTH,
        expected_daily=expected_cost,
        actual_daily=actual_cost,
        rate_effect_monthly=rate_effect * MONTH,
        usage_effect_monthly=usage_effect * MONTH,
        usage_growth_monthly=growth * MONTH,
        uncertainty_monthly=noise * float(np.sqrt(1 / BEFORE_DAYS + 1 / n_after)) * MONTH,
        after_days=n_after,
        flags=tuple(flags),
        method=method,
    )


def _too_early(n_after: int) -> Realization:
    return Realization(
        None,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        n_after,
        (f"too early: {n_after} of {MIN_AFTER} days after the settling week",),
        "not measured yet",
    )


def scope_query(item: dict[str, object], end: date) -> CostQuery:
    """The cost query of a backlog item's scope (sub account, service, resource ids)."""
    filters: list[tuple[str, tuple[str, ...]]] = []
    if item.get("sub_account_name"):
        filters.append((C.SubAccountName, (str(item["sub_account_name"]),)))
    if item.get("service_name"):
        filters.append((C.ServiceName, (str(item["service_name"]),)))
    ids = tuple(i.strip() for i in str(item.get("resource_ids") or "").split(",") if i.strip())
    if ids:
        filters.append((C.ResourceId, ids))
    return CostQuery(end, end, filters=tuple(filters))


def _anomalies_in_window(con: duckdb.DuckDBPyConnection, scope: CostQuery, implemented: date) -> tuple[str, ...]:
    """Anomalies in the scope's cost during the measurement windows: something else changed it."""
    from finops_core.anomalies import DetectionSettings, detect

    first, last = implemented - timedelta(days=BEFORE_DAYS), implemented + timedelta(days=SETTLE_DAYS + AFTER_DAYS)
    found = detect(con, scope, DetectionSettings(per_scope=()), scopes=("total",))
    if found.is_empty():
        return ()
    hits = found.filter((pl.col("start") <= last) & (pl.col("end") >= first))
    return tuple(
        f"{k} anomaly in the window ({s} to {e}): the scope changed for another reason too"
        for k, s, e in hits.select("kind", "start", "end").iter_rows()
    )


def realized_for_items(con: duckdb.DuckDBPyConnection, q: CostQuery, items: pl.DataFrame) -> pl.DataFrame:
    """Realized savings of every implemented or validated item, measured up to ``q.end`` within
    ``q``'s scope. One row per item: item_id, realized_monthly, uncertainty_monthly, realization,
    rate/usage effects, after_days, flags, method."""
    rows = []
    for item in items.filter(pl.col("status").is_in(["Implemented", "Validated"])).iter_rows(named=True):
        scope = replace(scope_query(item, q.end), scope=q.scope)
        implemented = date.fromisoformat(str(item["implemented_on"]))
        r = measure(con, scope, implemented, q.end)
        r = replace(r, flags=r.flags + _anomalies_in_window(con, replace(scope, start=q.start), implemented))
        rows.append(
            {
                "item_id": item["item_id"],
                "realized_monthly": r.realized_monthly,
                "uncertainty_monthly": r.uncertainty_monthly,
                "realization": r.realization(item["estimated_monthly_saving"]),
                "rate_effect_monthly": r.rate_effect_monthly,
                "usage_effect_monthly": r.usage_effect_monthly,
                "usage_growth_monthly": r.usage_growth_monthly,  # reported, not held against the item
                "expected_daily": r.expected_daily,
                "actual_daily": r.actual_daily,
                "after_days": r.after_days,
                "flags": "; ".join(r.flags),
                "method": r.method,
            }
        )
    schema = {
        "item_id": pl.String,
        "realized_monthly": pl.Float64,
        "uncertainty_monthly": pl.Float64,
        "realization": pl.Float64,
        "rate_effect_monthly": pl.Float64,
        "usage_effect_monthly": pl.Float64,
        "usage_growth_monthly": pl.Float64,
        "expected_daily": pl.Float64,
        "actual_daily": pl.Float64,
        "after_days": pl.Int64,
        "flags": pl.String,
        "method": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def realized_from_csv(con: duckdb.DuckDBPyConnection, q: CostQuery, items_csv: str) -> pl.DataFrame:
    """``realized_for_items`` for items given as CSV text (a cache-friendly argument)."""
    import io

    items = pl.read_csv(
        io.StringIO(items_csv), schema_overrides={"implemented_on": pl.String, "resource_ids": pl.String}
    )
    return realized_for_items(con, q, items.with_columns(pl.col("resource_ids").fill_null("")))


def scope_cost(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """Daily cost of a scope's resources. One row per day: day, cost."""
    return resource_daily(con, q).group_by("day").agg(pl.col("cost").sum()).sort("day")
