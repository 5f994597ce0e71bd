"""Variance analysis: why one calendar month differs from the previous one, or from its budget.

The change in cost is split into effects that add up exactly to it (docs/variance.md defines each):
day count, usage, mix, rate, commitment coverage, new and retired resources, credits and refunds,
other charges (purchases, tax), and a currency effect when a rates table is given. The split is
made per key (one resource of one service, account, region, team, product and environment, and one
charge category) on the ``resource_daily`` rollup, which holds cost metrics but no quantities:
usage is measured by ListCost (quantity at list price), the rate by cost / ListCost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from urllib.parse import urlencode

import duckdb
import polars as pl

from finops_core import db
from finops_core.query import CostQuery, compile_where
from finops_core.schema import C

KEY_DIMS = (
    C.ResourceId,
    C.ResourceType,
    C.ProviderName,
    C.BillingAccountId,
    C.SubAccountId,
    C.ServiceName,
    C.RegionId,
    C.ChargeCategory,
    C.x_Team,
    C.x_Product,
    C.x_Environment,
)
CREDIT_CATEGORIES = ("Credit", "Adjustment")
OTHER_CATEGORIES = ("Purchase", "Tax")
# (effect column, label) in the order the sequential decomposition applies them
EFFECTS = (
    ("day_count", "Day count"),
    ("usage", "Usage (quantity at list price)"),
    ("mix", "Mix (usage moved between differently priced resources)"),
    ("rate", "Rate (negotiated price vs list)"),
    ("coverage", "Commitment coverage"),
    ("new", "New resources and services"),
    ("retired", "Retired resources and services"),
    ("credits", "Credits and refunds"),
    ("other", "Other charges (purchases, tax)"),
)
CONTRIBUTOR_DIMS = {
    "team": C.x_Team,
    "service": C.ServiceName,
    "account": C.SubAccountId,
    "region": C.RegionId,
    "resource": C.ResourceId,
}
# sidebar URL keys (ui/filters.DIMENSION_FILTERS) of the dimensions a drill link may carry
URL_KEYS = {
    C.ProviderName: "provider",
    C.BillingAccountId: "billing",
    C.SubAccountId: "sub",
    C.ServiceCategory: "category",
    C.ServiceName: "service",
    C.RegionId: "region",
    C.ChargeCategory: "charge",
    C.x_Team: "team",
    C.x_Product: "product",
    C.x_Environment: "env",
    C.x_CostCenter: "costcenter",
}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        return f"{self.start:%b %Y}" + (f" (to {self.end:%d %b})" if self.end < month_end(self.start) else "")


@dataclass(frozen=True)
class Variance:
    """One currency's change from ``base`` to ``current``: per-key effects and their totals."""

    currency: str
    base: Period
    current: Period
    keys: pl.DataFrame  # one row per key: KEY_DIMS, e0, e1, change and every EFFECTS column
    base_total: float
    current_total: float

    @property
    def change(self) -> float:
        return self.current_total - self.base_total

    def effects(self) -> pl.DataFrame:
        """One row per effect (effect, label, amount); amounts add up to ``change``."""
        sums = {name: float(self.keys[name].sum()) if self.keys.height else 0.0 for name, _ in EFFECTS}
        return pl.DataFrame(
            {"effect": [n for n, _ in EFFECTS], "label": [lbl for _, lbl in EFFECTS], "amount": list(sums.values())},
            schema={"effect": pl.String, "label": pl.String, "amount": pl.Float64},
        )


def month_end(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def month_periods(month: date, last_day: date) -> tuple[Period, Period]:
    """(previous calendar month, ``month`` up to ``last_day``): a month still open is compared as
    far as it has data, and the day-count effect carries the difference in days."""
    current = Period(month.replace(day=1), min(month_end(month), last_day))
    prev_end = current.start - timedelta(days=1)
    return Period(prev_end.replace(day=1), prev_end), current


def key_costs(con: duckdb.DuckDBPyConnection, q: CostQuery, base: Period, current: Period) -> pl.DataFrame:
    """Cost metrics per (currency, key) in each period within ``q``'s scope and filters.
    One row per (BillingCurrency, KEY_DIMS): n0/n1 rows, e0/e1 (``q.metric``), l0/l1 (ListCost),
    c0/c1 (ContractedCost)."""
    span = replace(q, start=min(base.start, current.start), end=max(base.end, current.end), group_by=())
    view, where, where_params = compile_where(span, KEY_DIMS)
    cols: list[str] = []
    select_params: list[object] = []
    for i, p in enumerate((base, current)):
        for alias, agg in (
            ("n", "count(*)"),
            ("e", f"sum({q.metric})"),
            ("l", f"sum({C.ListCost})"),
            ("c", f"sum({C.ContractedCost})"),
        ):
            cols.append(f"coalesce({agg} FILTER (WHERE {C.x_ChargeDate} BETWEEN ? AND ?), 0) AS {alias}{i}")
            select_params += [p.start, p.end]
    sql = f"SELECT {C.BillingCurrency}, {', '.join(KEY_DIMS)}, {', '.join(cols)} FROM {view} WHERE {where} GROUP BY ALL"
    return db.frame(con, sql, select_params + where_params)


def decompose(keys: pl.DataFrame, base_days: int, current_days: int) -> pl.DataFrame:
    """Every key's change split into EFFECTS (docs/variance.md). ``keys`` holds one currency's
    n0, n1, e0, e1, l0, l1, c0, c1 and the key columns; the effects of each row add up to e1 - e0."""
    ratio = current_days / base_days
    zero = pl.lit(0.0)
    category = pl.col(C.ChargeCategory)
    credit, other = category.is_in(CREDIT_CATEGORIES), category.is_in(OTHER_CATEGORIES)
    usage_row = ~credit & ~other
    new = usage_row & (pl.col("n0") == 0)
    retired = usage_row & (pl.col("n0") > 0) & (pl.col("n1") == 0)
    going = usage_row & (pl.col("n0") > 0) & (pl.col("n1") > 0)
    priced = going & (pl.col("l0") > 0) & (pl.col("l1") > 0)
    split = priced & (pl.col("c0") > 0) & (pl.col("c1") > 0)
    r0 = pl.col("e0") / pl.col("l0")
    b0 = pl.col("e0") / pl.col("c0")
    day = pl.col("e0") * (ratio - 1)
    own_usage = (pl.col("l1") - pl.col("l0") * ratio) * r0
    rate_all = pl.col("e1") - pl.col("l1") * r0
    rate = pl.col("c1") * b0 - pl.col("l1") * r0
    out = keys.with_columns(
        change=pl.col("e1") - pl.col("e0"),
        day_count=pl.when(going).then(day).otherwise(zero),
        own_usage=pl.when(priced).then(own_usage).when(going).then(pl.col("e1") - pl.col("e0") - day).otherwise(zero),
        rate=pl.when(split).then(rate).when(priced).then(rate_all).otherwise(zero),
        coverage=pl.when(split).then(pl.col("e1") - pl.col("c1") * b0).otherwise(zero),
        new=pl.when(new).then(pl.col("e1")).otherwise(zero),
        retired=pl.when(retired).then(-pl.col("e0")).otherwise(zero),
        credits=pl.when(credit).then(pl.col("e1") - pl.col("e0")).otherwise(zero),
        other=pl.when(other).then(pl.col("e1") - pl.col("e0")).otherwise(zero),
        priced=priced,
    )
    return _mix(out, ratio)


def _mix(keys: pl.DataFrame, ratio: float) -> pl.DataFrame:
    """Split the priced keys' usage at their own rates into usage at the average rate (``usage``)
    and the rest (``mix``): the part that comes from usage moving between keys of different rates."""
    priced = keys.filter(pl.col("priced"))
    l0, l1 = float(priced["l0"].sum()), float(priced["l1"].sum())
    avg_rate = float(priced["e0"].sum()) / l0 if l0 > 0 else 0.0
    # each priced key's share of the aggregate usage effect, by its list cost this month
    weight = pl.col("l1") / l1 if l1 > 0 else pl.lit(0.0)
    usage_total = (l1 - l0 * ratio) * avg_rate
    usage = pl.when(pl.col("priced")).then(weight * usage_total).otherwise(pl.col("own_usage"))
    return keys.with_columns(usage=usage).with_columns(mix=pl.col("own_usage") - pl.col("usage"))


def month_over_month(con: duckdb.DuckDBPyConnection, q: CostQuery, month: date, last_day: date) -> list[Variance]:
    """``month`` (up to ``last_day``) vs the previous calendar month, one Variance per currency."""
    base, current = month_periods(month, last_day)
    return compare(key_costs(con, q, base, current), base, current)


def compare(frame: pl.DataFrame, base: Period, current: Period) -> list[Variance]:
    out = []
    for currency in sorted(frame[C.BillingCurrency].unique().to_list()) if frame.height else []:
        part = frame.filter(pl.col(C.BillingCurrency) == currency)
        keys = decompose(part, base.days, current.days)
        out.append(Variance(currency, base, current, keys, float(part["e0"].sum()), float(part["e1"].sum())))
    return out


def contributors(v: Variance, dimension: str, top: int = 10) -> pl.DataFrame:
    """The values of ``dimension`` that moved most, each with its own split (usage here is at the
    value's own rates, so mix folds into it). One row per value: base, current, change, effects."""
    effects = [n for n, _ in EFFECTS if n not in ("usage", "mix")]
    grouped = v.keys.group_by(dimension).agg(
        pl.col("e0").sum().alias("base"),
        pl.col("e1").sum().alias("current"),
        pl.col("change").sum(),
        (pl.col("usage") + pl.col("mix")).sum().alias("usage"),
        *(pl.col(n).sum() for n in effects),
    )
    order = ["base", "current", "change", "day_count", "usage", *(n for n in effects if n != "day_count")]
    # equal changes (sums of the same rows, equal to a micro-unit) by name: the top stays the same
    ranked = grouped.select(dimension, *order).sort(
        [pl.col("change").abs().round(6), dimension], descending=[True, False], nulls_last=True
    )
    return ranked.head(top)


def with_rates(variances: list[Variance], rates: pl.DataFrame, to: str) -> tuple[pl.DataFrame, float, float]:
    """All currencies in ``to`` with a rates table (currency, month 'YYYY-MM', rate: units of ``to``
    per unit): (effects with a ``currency`` effect row, base total, current total). Each currency's
    effects are valued at the base month's rate; the currency effect is the current cost times the
    change in rate, so the parts still add up to the converted change."""
    amounts: dict[str, float] = {}
    base_total = current_total = 0.0
    for v in variances:
        x0, x1 = _rate(rates, v.currency, v.base.start, to), _rate(rates, v.currency, v.current.start, to)
        for row in v.effects().iter_rows(named=True):
            amounts[row["effect"]] = amounts.get(row["effect"], 0.0) + row["amount"] * x0
        amounts["currency"] = amounts.get("currency", 0.0) + v.current_total * (x1 - x0)
        base_total += v.base_total * x0
        current_total += v.current_total * x1
    labels = dict(EFFECTS) | {"currency": f"Currency (rates to {to})"}
    frame = pl.DataFrame(
        {"effect": list(amounts), "label": [labels[k] for k in amounts], "amount": list(amounts.values())},
        schema={"effect": pl.String, "label": pl.String, "amount": pl.Float64},
    )
    return frame, base_total, current_total


def _rate(rates: pl.DataFrame, currency: str, month: date, to: str) -> float:
    if currency == to:
        return 1.0
    hit = rates.filter((pl.col("currency") == currency) & (pl.col("month") == f"{month:%Y-%m}"))
    if hit.is_empty():
        raise ValueError(f"rates table: no rate for {currency} in {month:%Y-%m} (to {to})")
    return float(hit["rate"][0])


def parse_rates(text: str) -> pl.DataFrame:
    """A rates table from CSV text with the columns currency, month (YYYY-MM), rate (> 0)."""
    import io

    frame = pl.read_csv(io.StringIO(text), schema_overrides={"month": pl.String, "currency": pl.String})
    missing = {"currency", "month", "rate"} - set(frame.columns)
    if missing:
        raise ValueError(f"rates table: missing column(s) {', '.join(sorted(missing))}")
    frame = frame.with_columns(pl.col("rate").cast(pl.Float64, strict=False))
    bad = frame.filter(
        pl.col("rate").is_null() | (pl.col("rate") <= 0) | ~pl.col("month").str.contains(r"^\d{4}-\d\d$")
    )
    if bad.height:
        raise ValueError(
            f"rates table: line {frame.with_row_index().join(bad, on=frame.columns)['index'][0] + 2}: "
            "month must be YYYY-MM and rate a positive number"
        )
    return frame.select("currency", "month", "rate")


def spend_link(q: CostQuery, period: Period, currency: str, extra: dict[str, str] | None = None) -> str:
    """The Spend page (``./spend?``) over ``period`` with ``q``'s filters and ``extra``
    (dimension -> value; a ResourceId becomes the page's drill path)."""
    params: list[tuple[str, str]] = [
        ("period", "custom"),
        ("from", period.start.isoformat()),
        ("to", period.end.isoformat()),
        ("cur", currency),
        ("metric", q.metric),
    ]
    chosen = {d: list(v) for d, v in q.filters if d in URL_KEYS}
    for dim, value in (extra or {}).items():
        if dim in URL_KEYS:
            chosen[dim] = [value]
    for dim, values in chosen.items():
        params.extend((URL_KEYS[dim], v) for v in values)
    if extra and C.ResourceId in extra:
        params += [("p_path", f"{C.ResourceId}={extra[C.ResourceId]}"), ("p_by", C.ResourceId)]
    return "./spend?" + urlencode(params)


def effects_table(v: Variance, q: CostQuery) -> pl.DataFrame:
    """``v.effects()`` with a Spend link per effect: the current month with ``q``'s filters (the
    charge categories behind credits and other charges); the base month's and the current month's
    totals come first."""
    links = {
        "credits": spend_link(q, v.current, v.currency, {C.ChargeCategory: CREDIT_CATEGORIES[0]}),
        "other": spend_link(q, v.current, v.currency, {C.ChargeCategory: OTHER_CATEGORIES[0]}),
    }
    here = spend_link(q, v.current, v.currency)
    effects = v.effects().with_columns(
        pl.col("effect").replace_strict(links, default=here, return_dtype=pl.String).alias("spend")
    )
    totals = pl.DataFrame(
        {
            "effect": ["base", "current"],
            "label": [f"{v.base.label} total", f"{v.current.label} total"],
            "amount": [v.base_total, v.current_total],
            "spend": [spend_link(q, v.base, v.currency), here],
        }
    )
    return pl.concat([totals, effects])


def contributors_table(v: Variance, q: CostQuery, dimension: str, top: int = 10) -> pl.DataFrame:
    """``contributors`` with a Spend link per value (the current month, filtered on the value)."""
    frame = contributors(v, dimension, top)
    links = [
        spend_link(q, v.current, v.currency, {dimension: value})
        if value is not None
        else spend_link(q, v.current, v.currency)
        for value in frame[dimension].to_list()
    ]
    return frame.with_columns(pl.Series("spend", links, dtype=pl.String))
