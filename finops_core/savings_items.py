"""Realized savings of backlog items, per billing currency, and the figures the Savings page shows.

Every function that returns data for a page takes the caller's request, whose ``scope`` limits the
billing rows measured (and ``backlog.items`` limits the items). Amounts are never summed across
currencies: an item's estimate is in the item's currency, its realized saving is measured per
billing currency of its scope, and totals are one row per currency.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import duckdb
import polars as pl

from finops_core import db, savings_daily
from finops_core.backlog import BacklogError
from finops_core.query import CostQuery, compile_where
from finops_core.savings import (
    AFTER_DAYS,
    BEFORE_DAYS,
    SETTLE_DAYS,
    TREND_DAYS,
    measure,
    resource_daily,
    scope_currencies,
)
from finops_core.schema import C

DONE = ("Implemented", "Validated")
REALIZED_SCHEMA = {
    "item_id": pl.String,
    "currency": pl.String,
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


def scope_query(item: dict[str, Any], end: date) -> CostQuery:
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


def scope_row_count(con: duckdb.DuckDBPyConnection, item: dict[str, Any], whole: CostQuery) -> int:
    """Billing rows over ``whole``'s period and within its caller's scope that a backlog item's scope
    (sub account, service, resource ids) matches."""
    q = replace(scope_query(item, whole.end), start=whole.start, scope=whole.scope)
    _, where, params = compile_where(q)
    found = db.rows(con, f"SELECT count(*) FROM costs WHERE {where}", params)
    return int(found[0][0]) if found else 0


def require_billing_rows(con: duckdb.DuckDBPyConnection, item: dict[str, Any], whole: CostQuery, where: str) -> None:
    """Refuse a backlog item whose scope matches no billing rows (it could only ever "realize" 0)."""
    if scope_row_count(con, item, whole):
        return
    parts = [
        f"{label} {item.get(field)!r}"
        for label, field in (
            ("sub account", "sub_account_name"),
            ("service", "service_name"),
            ("resources", "resource_ids"),
        )
        if item.get(field)
    ]
    raise BacklogError(
        f"{where}: scope {' / '.join(parts) or '(none)'} matches no billing rows from {whole.start} to {whole.end} "
        "in your scope: check the names (exact, case-sensitive), or no saving can be measured"
    )


def _anomalies_in_window(
    con: duckdb.DuckDBPyConnection, scope: CostQuery, implemented: date, currency: str, stored: bool = True
) -> tuple[str, ...]:
    """Anomalies in the scope's cost during the measurement windows: something else changed it.
    The published detection answers when it judged exactly this scope's series
    (``savings_daily.stored_anomalies``); otherwise detection runs over the scope."""
    from finops_core.anomalies import DetectionSettings, detect

    first, last = implemented - timedelta(days=BEFORE_DAYS), implemented + timedelta(days=SETTLE_DAYS + AFTER_DAYS)
    found = savings_daily.stored_anomalies(con, scope) if stored else None
    if found is None:
        found = detect(con, scope, DetectionSettings(per_scope=()), scopes=("total",))
    if found.is_empty():
        return ()
    hits = found.filter((pl.col("start") <= last) & (pl.col("end") >= first))
    if C.BillingCurrency in hits.columns:
        hits = hits.filter(pl.col(C.BillingCurrency) == currency)
    return tuple(
        f"{k} anomaly in the window ({s} to {e}): the scope changed for another reason too"
        for k, s, e in hits.select("kind", "start", "end").iter_rows()
    )


def _item_rows(
    con: duckdb.DuckDBPyConnection, q: CostQuery, item: dict[str, Any], stored: bool = True
) -> list[dict[str, Any]]:
    """One row per billing currency of the item's scope (within ``q.scope``)."""
    scope = replace(scope_query(item, q.end), scope=q.scope)
    implemented = date.fromisoformat(str(item["implemented_on"]))
    own = str(item.get("currency") or "")
    window = replace(scope, start=min(implemented - timedelta(days=TREND_DAYS), q.end), end=q.end)
    currencies = scope_currencies(con, window, stored) or [own]
    note: tuple[str, ...] = ()
    if not own and len(currencies) == 1:  # an item from before items carried a currency
        own = currencies[0]
        note = (f"the item has no currency: its estimate is read in {own}, the currency its scope bills in",)
    spans = (
        f"the scope bills in {', '.join(currencies)}: realized per currency; the estimate ({own}) compares with "
        f"the {own} part only"
        if len(currencies) > 1
        else ""
    )
    out = []
    for cur in currencies:
        r = measure(con, scope, implemented, q.end, cur, stored)
        flags = note + (spans,) * bool(spans) + r.flags
        if cur != own:
            flags += (f"billed in {cur}, the item's estimate is in {own}: no realization ratio",)
        flags += _anomalies_in_window(con, replace(scope, start=q.start), implemented, cur, stored)
        out.append(
            {
                "item_id": item["item_id"],
                "currency": cur,
                "realized_monthly": r.realized_monthly,
                "uncertainty_monthly": r.uncertainty_monthly,
                "realization": r.realization(float(item["estimated_monthly_saving"] or 0)) if cur == own else None,
                "rate_effect_monthly": r.rate_effect_monthly,
                "usage_effect_monthly": r.usage_effect_monthly,
                "usage_growth_monthly": r.usage_growth_monthly,  # reported, not held against the item
                "expected_daily": r.expected_daily,
                "actual_daily": r.actual_daily,
                "after_days": r.after_days,
                "flags": "; ".join(flags),
                "method": r.method,
            }
        )
    return out


def realized_for_items(
    con: duckdb.DuckDBPyConnection, q: CostQuery, items: pl.DataFrame, stored: bool = True
) -> pl.DataFrame:
    """Realized savings of every implemented or validated item, measured up to ``q.end`` on the
    rows within ``q.scope``. One row per (item_id, currency): realized_monthly, uncertainty_monthly,
    realization (in the item's own currency only), rate/usage effects, after_days, flags, method.
    ``stored``: read the inputs built at publish (``savings_daily``) where they answer; False
    reads the billing rows (the reference the stored path is tested against)."""
    rows = []
    for item in items.filter(pl.col("status").is_in(DONE)).iter_rows(named=True):
        rows += _item_rows(con, q, item, stored)
    return pl.DataFrame(rows, schema=REALIZED_SCHEMA)


ITEM_KEY = (
    "item_id",
    "status",
    "implemented_on",
    "sub_account_name",
    "service_name",
    "resource_ids",
    "estimated_monthly_saving",
    "currency",
)


def items_csv(items: pl.DataFrame) -> str:
    """The columns of ``items`` that realized savings depend on, as CSV text (a cache key)."""
    return items.select(ITEM_KEY).write_csv()


def realized_from_csv(
    con: duckdb.DuckDBPyConnection, q: CostQuery, items_csv: str, stored: bool = True
) -> pl.DataFrame:
    """``realized_for_items`` for items given as CSV text (a cache-friendly argument)."""
    items = pl.read_csv(
        io.StringIO(items_csv),
        schema_overrides={"implemented_on": pl.String, "resource_ids": pl.String, "currency": pl.String},
    )
    return realized_for_items(con, q, items.with_columns(pl.col("resource_ids").fill_null("")), stored)


def scope_cost(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """Daily cost of a scope's resources within ``q.scope``. One row per (day, currency): cost."""
    return resource_daily(con, q).group_by("day", "currency").agg(pl.col("cost").sum()).sort("currency", "day")


def sub_account_ids(con: duckdb.DuckDBPyConnection, q: CostQuery) -> dict[str, str]:
    """SubAccountName -> SubAccountId of the sub accounts within ``q.scope`` (for item visibility)."""
    _, where, params = compile_where(q, (C.SubAccountName, C.SubAccountId))
    found = db.rows(
        con,
        f"SELECT DISTINCT {C.SubAccountName}, {C.SubAccountId} FROM daily WHERE {where} "
        f"AND {C.SubAccountName} IS NOT NULL",
        params,
    )
    return {str(name): str(sid) for name, sid in found}


def item_table(items: pl.DataFrame, realized: pl.DataFrame) -> pl.DataFrame:
    """Items with their realized savings: one row per item, and per (item, currency) for an item
    whose scope bills in several. The estimate sits on the row of the item's own currency only, so
    a column sum per currency counts it once."""
    if realized.is_empty():
        return items.with_columns(pl.col("currency").alias("amount_currency"))
    joined = items.join(realized.rename({"currency": "amount_currency"}), on="item_id", how="left")
    own = pl.col("amount_currency").is_null() | (pl.col("amount_currency") == pl.col("currency"))
    return joined.with_columns(
        pl.col("amount_currency").fill_null(pl.col("currency")),
        pl.when(own).then(pl.col("estimated_monthly_saving")).otherwise(None).alias("estimated_monthly_saving"),
    )


def totals(table: pl.DataFrame, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Estimated and realized monthly savings of the implemented items of ``item_table``. One row
    per (``by``..., currency): items, estimated, realized, realization."""
    done = table.filter(pl.col("status").is_in(DONE))
    if "implemented_on" in done.columns:
        done = done.with_columns(pl.col("implemented_on").cast(pl.String).str.slice(0, 7).alias("month"))
    keys = [*by, "amount_currency"]
    out = done.group_by(keys).agg(
        pl.col("item_id").n_unique().alias("items"),
        pl.col("estimated_monthly_saving").sum().alias("estimated"),
        pl.col("realized_monthly").sum().alias("realized"),
        # realization compares an estimate with the saving in its own currency only
        pl.col("realized_monthly").filter(pl.col("estimated_monthly_saving").is_not_null()).sum().alias("own"),
    )
    return (
        out.with_columns(
            pl.when(pl.col("estimated") > 0).then(pl.col("own") / pl.col("estimated")).alias("realization")
        )
        .drop("own")
        .rename({"amount_currency": "currency"})
        .sort([*by, "currency"])
    )
