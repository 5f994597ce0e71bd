"""Realized savings of an implemented optimization, measured from the billing rows.

The saving (docs/savings.md; the demo's savings_truth.csv follows the same definition): over the
28 days after a 7-day settling week, the mean daily difference between what the scope's
resources would have cost without the change and what they cost, in one billing currency.
Every resource billed in that window counts, those deployed after the change included; a
resource counts only on the days it is billed, so one retired for another reason stops counting
on its last day instead of reading as a saving.

Method, for one item whose scope is a set of filters (e.g. sub account + service) and an
implementation date D, per billing currency:
1. Daily cost and usage (ConsumedQuantity) of the scope's resources. After window: 28 days
   starting 7 days after D (a settling week), cut at the last day of data.
2. Resources billed in the week before D: without the change each would cost its mean over its
   days in the 8 weeks before D, grown at the relative trend of the resources present all 16
   weeks before D (Theil-Sen on weekly means) to the middle of the after window, on each day of
   the after window up to its last billed day. One billed no more once the settling week is over
   was removed by the change: its whole expected cost is saved.
3. Resources deployed after D: they cost, without the change, what they cost with it divided
   by the ratio (actual / expected, at most 1) of the resources that were there; when the change
   removed nearly all of that cost, a new resource billed at zero counts at the mean expected cost
   of one of them.
4. With a usage driver (one consumed unit in the scope), the change splits into a rate effect,
   (rate before - rate after) x usage after, and a usage effect, (expected usage - usage after) x
   rate before; usage that grew beyond its trend is reported, not subtracted from the savings.
   Without a driver, realized = expected cost - actual cost.
5. Realized monthly savings = daily savings x 365.25 / 12, never more than the scope's whole
   expected cost. Confidence: one standard error of the before window's daily noise, per month.
6. Flags: too few days after, the scope churned (resources deployed, retired or removed around
   the change), anomalies inside the windows, scope gone to zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl

from finops_core import db, savings_daily
from finops_core.query import CostQuery, QueryError, compile_where
from finops_core.schema import C

MONTH = 365.25 / 12
BEFORE_DAYS, TREND_DAYS, SETTLE_DAYS, AFTER_DAYS, MIN_AFTER = 56, 112, 7, 28, 14
RATIO_FLOOR = 0.05  # below it the change removed the cost: a new resource's ratio says nothing


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
    currency: str = ""

    def realization(self, estimate: float) -> float | None:
        if self.realized_monthly is None or not estimate:
            return None
        return self.realized_monthly / estimate


def resource_daily(con: duckdb.DuckDBPyConnection, q: CostQuery, stored: bool = True) -> pl.DataFrame:
    """Cost and usage of the scope per resource, day and billing currency. One row per
    (day, ResourceId, currency): cost, usage, unit. Read from the table built at publish
    (``savings_daily``) unless ``stored`` is False or it cannot answer ``q``."""
    found = savings_daily.resource_daily(con, q) if stored else None
    if found is not None:
        return found
    _, where, params = compile_where(q, (C.ConsumedUnit, C.ResourceId))
    return db.frame(
        con,
        f"SELECT {C.x_ChargeDate} AS day, {C.ResourceId} AS resource, {C.BillingCurrency} AS currency, "
        f"sum({q.metric}) AS cost, sum(coalesce({C.ConsumedQuantity}, 0)) AS usage, "
        f"any_value({C.ConsumedUnit}) AS unit FROM costs "
        f"WHERE {where} AND {C.ChargeCategory} = 'Usage' AND {C.ResourceId} IS NOT NULL GROUP BY 1, 2, 3",
        params,
    )


def scope_currencies(con: duckdb.DuckDBPyConnection, q: CostQuery, stored: bool = True) -> list[str]:
    """The billing currencies of the scope's rows over ``q``'s period, sorted (from
    ``savings_daily`` unless ``stored`` is False or it cannot answer ``q``)."""
    known = savings_daily.scope_currencies(con, q) if stored else None
    if known is not None:
        return known
    _, where, params = compile_where(q)
    found = db.rows(con, f"SELECT DISTINCT {C.BillingCurrency} FROM costs WHERE {where} ORDER BY 1", params)
    return [str(r[0]) for r in found if r[0] is not None]


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


@dataclass(frozen=True)
class _Window:
    implemented: date
    start: date  # first day of the trend window
    after_start: date
    after_end: date

    @property
    def n_after(self) -> int:
        return (self.after_end - self.after_start).days + 1


def _resources(rows: pl.DataFrame, w: _Window) -> pl.DataFrame:
    """One row per resource of the scope billed in the week before the change or after it: kind
    (present, gone, new), level_cost and level_usage (its mean per day over the 8 weeks before),
    days (after-window days it counts on), cost and usage (its mean per after-window day)."""
    d = w.implemented
    present = rows.filter(pl.col("day").is_between(d - timedelta(days=7), d - timedelta(days=1)) & (pl.col("cost") > 0))
    level = (
        rows.filter(pl.col("day").is_between(d - timedelta(days=BEFORE_DAYS), d - timedelta(days=1)))
        .group_by("resource")
        .agg(pl.col("cost").mean().alias("level_cost"), pl.col("usage").mean().alias("level_usage"))
    )
    after = (
        rows.filter(pl.col("day").is_between(w.after_start, w.after_end))
        .group_by("resource")
        .agg(
            pl.col("day").min().alias("first"),
            pl.col("day").max().alias("last"),
            (pl.col("cost").sum() / w.n_after).alias("cost"),
            (pl.col("usage").sum() / w.n_after).alias("usage"),
        )
    )
    known = pl.DataFrame({"resource": present["resource"].unique()}).with_columns(pl.lit(True).alias("was_there"))
    table = known.join(after, on="resource", how="full", coalesce=True).join(level, on="resource", how="left")
    there = pl.col("was_there").fill_null(False)
    # present: counted from the window's start to its last billed day; gone: the whole window
    span = pl.when(there).then(pl.col("last").fill_null(w.after_end)).otherwise(pl.col("last"))
    begin = pl.when(there).then(pl.lit(w.after_start)).otherwise(pl.col("first"))
    return table.with_columns(
        pl.when(~there)
        .then(pl.lit("new"))
        .when(pl.col("last").is_null())
        .then(pl.lit("gone"))
        .otherwise(pl.lit("present"))
        .alias("kind"),
        ((span - begin).dt.total_days() + 1).alias("days"),
        pl.col("cost", "usage", "level_cost", "level_usage").fill_null(0.0),
    )


def _expected(res: pl.DataFrame, metric: str, growth: float, n_after: int) -> tuple[float, float]:
    """(expected, actual) mean daily ``metric`` ('cost' or 'usage') of the scope without and with
    the change over the after window: the resources that were there along their trend, new ones
    at the ratio of those still billed (step 3 of the method)."""
    old = res.filter(pl.col("kind") != "new")
    scaled = old[f"level_{metric}"] * growth * old["days"] / n_after
    expected_old = float(scaled.sum())
    stayed = old["kind"] == "present"
    stayed_expected = float(scaled.filter(stayed).sum())
    ratio = float(old[metric].filter(stayed).sum()) / stayed_expected if stayed_expected > 0 else 0.0
    new = res.filter(pl.col("kind") == "new")
    actual = float(old[metric].sum()) + float(new[metric].sum())
    if ratio >= RATIO_FLOOR:
        return expected_old + float(new[metric].sum()) / min(ratio, 1.0), actual
    # the change removed the cost: new resources billed at zero count as one of the old ones
    per_day = stayed_expected / max(1, int(stayed.sum())) if stayed.any() else 0.0
    zero = new.filter(pl.col("cost") == 0)
    return expected_old + float(new[metric].sum()) + per_day * float(zero["days"].sum()) / n_after, actual


def _growth(rows: pl.DataFrame, res: pl.DataFrame, w: _Window, metric: str) -> float:
    """Growth factor from the 8 weeks before the change to the middle of the after window, at the
    relative trend of the resources billed all 16 weeks before the change."""
    first_week = rows.filter((pl.col("day") < w.start + timedelta(days=7)) & (pl.col("cost") > 0))
    stable = [
        r
        for r in res.filter(pl.col("kind") != "new")["resource"].to_list()
        if r in set(first_week["resource"].to_list())
    ]
    series = _daily_totals(rows, stable, w.start, w.implemented - timedelta(days=1))[metric].to_numpy()
    level = series[-7:].mean() if series.size else 0.0
    rate = _trend(series) / level if level > 0 else 0.0
    gap = (w.after_start - w.implemented).days + (w.n_after - 1) / 2 + BEFORE_DAYS / 2
    return max(0.0, 1 + rate * gap)


def _effects(rate_b: float, actual_cost: float, expected_use: float, actual_use: float) -> tuple[float, float, float]:
    """(rate effect, usage effect, usage growth) per day: the rate change on the usage run, the
    usage cut at the old rate; usage beyond its trend is growth, not a loss."""
    rate_a = actual_cost / actual_use if actual_use > 0 else rate_b
    return (
        (rate_b - rate_a) * actual_use,
        max(0.0, expected_use - actual_use) * rate_b,
        max(0.0, actual_use - expected_use) * rate_b,
    )


def _noise(rows: pl.DataFrame, resources: list[str], w: _Window) -> float:
    """Standard deviation of the resources' daily cost around its weekly mean, 8 weeks before."""
    first, last = w.implemented - timedelta(days=BEFORE_DAYS), w.implemented - timedelta(days=1)
    series = _daily_totals(rows, resources, first, last)["cost"].to_numpy()
    smooth = np.convolve(series, np.ones(7) / 7, mode="same")
    return float(np.std(series - smooth, ddof=1)) if series.size > 7 else 0.0


def _churn_flags(res: pl.DataFrame, w: _Window) -> list[str]:
    """Say when the scope's resources changed around the change, and how each kind is counted."""
    flags = []
    new = res.filter(pl.col("kind") == "new")
    retired = res.filter((pl.col("kind") == "present") & (pl.col("last") < w.after_end))
    gone = res.filter(pl.col("kind") == "gone")
    if new.height:
        flags.append(
            f"scope churned: {new.height} resource(s) deployed after the change "
            f"({float(new['cost'].sum()):,.2f}/day), counted with the relative saving of those that were there"
        )
    if retired.height:
        flags.append(
            f"scope churned: {retired.height} resource(s) retired inside the after window "
            f"(last billed {retired['last'].min()!s}), not counted after their last day"
        )
    if gone.height:
        flags.append(
            f"scope churned: {gone.height} resource(s) not billed after the settling week, "
            "counted as removed by the change"
        )
    return flags


def measure(
    con: duckdb.DuckDBPyConnection,
    scope: CostQuery,
    implemented_on: date,
    data_end: date,
    currency: str | None = None,
    stored: bool = True,
) -> Realization:
    """Realized savings of a change to ``scope`` (its filters and scope; its dates are ignored) in
    ``currency``; without one the scope must bill in a single currency. ``stored``: see
    ``resource_daily``."""
    w = _Window(
        implemented_on,
        implemented_on - timedelta(days=TREND_DAYS),
        implemented_on + timedelta(days=SETTLE_DAYS),
        min(implemented_on + timedelta(days=SETTLE_DAYS + AFTER_DAYS - 1), data_end),
    )
    if w.after_end < w.after_start:
        return _unmeasured(0, currency or "", f"too early: 0 of {MIN_AFTER} days after the settling week")
    rows = resource_daily(con, replace(scope, start=w.start, end=w.after_end), stored)
    found = sorted(rows["currency"].drop_nulls().unique().to_list())
    if currency is None and len(found) > 1:
        raise QueryError(f"the scope bills in {', '.join(found)}: measure each currency on its own")
    currency = currency or (found[0] if found else "")
    rows = rows.filter(pl.col("currency") == currency)
    if w.n_after < MIN_AFTER:
        return _unmeasured(w.n_after, currency, f"too early: {w.n_after} of {MIN_AFTER} days after the settling week")
    res = _resources(rows, w)
    if res.is_empty():
        return _unmeasured(w.n_after, currency, "no billing rows of the scope around the change (within your access)")
    expected_cost, actual_cost = _expected(res, "cost", _growth(rows, res, w, "cost"), w.n_after)
    expected_use, actual_use = _expected(res, "usage", _growth(rows, res, w, "usage"), w.n_after)
    old = res.filter(pl.col("kind") != "new")
    units = rows.filter(pl.col("resource").is_in(old["resource"].to_list()))["unit"].drop_nulls().n_unique()
    if units == 1 and old["level_usage"].sum() > 0:
        rate_b = float(old["level_cost"].sum()) / float(old["level_usage"].sum())
        rate_effect, usage_effect, growth = _effects(rate_b, actual_cost, expected_use, actual_use)
        method = "rate and usage effects against the trend (usage driver: ConsumedQuantity)"
    else:
        rate_effect, usage_effect, growth = 0.0, expected_cost - actual_cost, 0.0
        method = "cost against the trend (no single usage unit in the scope)"
    daily_saving = min(rate_effect + usage_effect, expected_cost)  # never more than the scope's whole cost
    noise = _noise(rows, old["resource"].to_list(), w)
    flags = _churn_flags(res, w)
    if w.n_after < AFTER_DAYS:
        flags.insert(0, f"only {w.n_after} days measured after the settling week")
    if actual_cost == 0:
        flags.append("the scope costs nothing afterwards: the saving is its whole cost")
    return Realization(
        realized_monthly=daily_saving * MONTH,
        expected_daily=expected_cost,
        actual_daily=actual_cost,
        rate_effect_monthly=rate_effect * MONTH,
        usage_effect_monthly=usage_effect * MONTH,
        usage_growth_monthly=growth * MONTH,
        uncertainty_monthly=noise * float(np.sqrt(1 / BEFORE_DAYS + 1 / w.n_after)) * MONTH,
        after_days=w.n_after,
        flags=tuple(flags),
        method=method,
        currency=currency,
    )


def _unmeasured(n_after: int, currency: str, why: str) -> Realization:
    return Realization(None, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, n_after, (why,), "not measured", currency)
