"""Commitment discounts from FOCUS rows: utilization, coverage, effective savings rate, expirations
and purchase sizing.

Definitions (all amounts in the billing currency, never summed across currencies):
- utilization = Used / (Used + Unused) EffectiveCost of a commitment's Usage rows;
- coverage = on-demand-equivalent cost (ContractedCost) of commitment-covered usage / that of all
  eligible usage, where eligible = Usage rows (not Unused, not spot) of services that commitments
  cover in the data;
- effective savings rate (ESR) = (ListCost - EffectiveCost) / ListCost of eligible usage, the
  EffectiveCost including unused commitment; split into negotiated-discount savings
  (ListCost - ContractedCost) and commitment savings (ContractedCost - EffectiveCost).

Every function answers from the commitment x day table built at publish (``commitment_days``)
when the question's dimensions are in it; ``stored=False`` (and any other question) reads the rows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from finops_core import commitment_days as cdays
from finops_core import db
from finops_core.commitment_days import CD_COLUMNS, UNUSED, USED
from finops_core.query import CostQuery, compile_where, grain_sql
from finops_core.schema import C

LOW_UTILIZATION = 0.90
EXPIRY_WINDOWS = (30, 60, 90)


def _raw(q: CostQuery) -> tuple[str, list[object]]:
    """WHERE clause over the raw ``costs`` view (commitment ids are not in the daily rollup)."""
    _, where, params = compile_where(q, (C.CommitmentDiscountId,))
    return where, params


def _stored(con: duckdb.DuckDBPyConnection, q: CostQuery, stored: bool) -> tuple[str, list[object]] | None:
    return cdays.where(con, q) if stored else None


def commitment_utilization(
    con: duckdb.DuckDBPyConnection, q: CostQuery, by_period: bool = False, stored: bool = True
) -> pl.DataFrame:
    """Used, unused and utilization per commitment (and per ``q.grain`` bucket with ``by_period``).

    One row per ([period], commitment, BillingCurrency).
    """
    period = [f"{grain_sql(q.grain)} AS period"] if by_period else []
    cols = ", ".join(period + list(CD_COLUMNS) + [C.BillingCurrency])
    table = _stored(con, q, stored)
    if table is not None:
        sql, params = cdays.utilization(cols, table[0]), table[1]
    else:
        sql, params = _live_utilization(cols, q)
    out = db.frame(con, sql, params).with_columns(pl.col("used").fill_null(0.0), pl.col("unused").fill_null(0.0))
    total = pl.col("used") + pl.col("unused")
    return out.with_columns(
        pl.when(total.abs() > 1e-12).then(pl.col("used") / total).otherwise(None).alias("utilization")
    ).sort(([("period")] if by_period else []) + [C.CommitmentDiscountName])


def _live_utilization(cols: str, q: CostQuery) -> tuple[str, list[object]]:
    where, params = _raw(q)
    sql = (
        f"SELECT {cols}, "
        f"sum({C.EffectiveCost}) FILTER (WHERE {C.CommitmentDiscountStatus} = '{USED}') AS used, "
        f"sum({C.EffectiveCost}) FILTER (WHERE {C.CommitmentDiscountStatus} = '{UNUSED}') AS unused "
        f"FROM costs WHERE {where} AND {C.ChargeCategory} = 'Usage' AND {C.CommitmentDiscountId} IS NOT NULL "
        "GROUP BY ALL"
    )
    return sql, params


def utilization_by_type(con: duckdb.DuckDBPyConnection, q: CostQuery, stored: bool = True) -> pl.DataFrame:
    """Utilization per (period, provider, commitment type, currency) over ``q.grain`` buckets."""
    per = commitment_utilization(con, q, by_period=True, stored=stored)
    keys = ["period", C.ProviderName, C.CommitmentDiscountType, C.BillingCurrency]
    return (
        per.group_by(keys)
        .agg(pl.col("used").sum(), pl.col("unused").sum())
        .with_columns((pl.col("used") / (pl.col("used") + pl.col("unused"))).alias("utilization"))
        .sort(keys)
    )


def eligible_services(con: duckdb.DuckDBPyConnection, q: CostQuery, stored: bool = True) -> list[str]:
    """Services whose usage commitments cover or are bought for, anywhere in the data (any time, any
    scope): those of Used and Unused commitment rows."""
    if stored and cdays.available(con):
        return [r[0] for r in db.rows(con, f"SELECT {C.ServiceName} FROM {cdays.SERVICES} ORDER BY 1")]
    rows = db.rows(
        con,
        f"SELECT DISTINCT {C.ServiceName} FROM daily WHERE {C.CommitmentDiscountStatus} IN (?, ?) ORDER BY 1",
        [USED, UNUSED],
    )
    return [r[0] for r in rows]


def _eligible_sql(services: list[str], params: list[object]) -> str:
    params.extend(services)
    marks = ", ".join("?" for _ in services) or "NULL"
    return (
        f"{C.ChargeCategory} = 'Usage' AND {C.ServiceName} IN ({marks}) "
        f"AND ({C.PricingCategory} IN ('Standard', 'Committed'))"
    )


def _coverage(con: duckdb.DuckDBPyConnection, q: CostQuery, group: list[str], stored: bool) -> pl.DataFrame:
    """covered, eligible and coverage of eligible usage per ``group`` (SQL expressions) and currency."""
    table = _stored(con, q, stored)
    if table is not None:
        sql, params = cdays.coverage(group, table[0]), table[1]
    else:
        view, where, params = compile_where(q)
        eparams: list[object] = []
        eligible = _eligible_sql(eligible_services(con, q, stored=False), eparams)
        params += eparams
        sql = (
            f"SELECT {', '.join([*group, C.BillingCurrency])}, "
            f"sum({C.ContractedCost}) FILTER (WHERE {C.CommitmentDiscountStatus} = '{USED}') AS covered, "
            f"sum({C.ContractedCost}) FILTER (WHERE coalesce({C.CommitmentDiscountStatus}, '') <> '{UNUSED}') "
            f"AS eligible FROM {view} WHERE {where} AND {eligible} GROUP BY ALL HAVING eligible <> 0 ORDER BY 1"
        )
    out = db.frame(con, sql, params).with_columns(pl.col("covered").fill_null(0.0))
    return out.with_columns((pl.col("covered") / pl.col("eligible")).alias("coverage"))


def commitment_coverage(
    con: duckdb.DuckDBPyConnection, q: CostQuery, by: str | None = None, stored: bool = True
) -> pl.DataFrame:
    """Coverage of eligible usage, optionally per dimension ``by`` (service, region, sub account, team...).

    One row per ([by], BillingCurrency): covered, eligible (both on-demand-equivalent cost), coverage;
    largest eligible first.
    """
    out = _coverage(con, replace(q, group_by=(by,) if by else ()), [f'"{by}"'] if by else [], stored)
    return out.sort("eligible", descending=True)


def coverage_trend(con: duckdb.DuckDBPyConnection, q: CostQuery, stored: bool = True) -> pl.DataFrame:
    """Coverage per ``q.grain`` bucket. One row per (period, BillingCurrency)."""
    return _coverage(con, q, [f"{grain_sql(q.grain)} AS period"], stored)


def effective_savings_rate(con: duckdb.DuckDBPyConnection, q: CostQuery, stored: bool = True) -> pl.DataFrame:
    """ESR of eligible usage with its two sources. One row per BillingCurrency.

    list_cost, contracted_cost, effective_cost (incl. unused commitment), negotiated_savings,
    commitment_savings, esr.
    """
    table = _stored(con, q, stored)
    out = db.frame(con, cdays.savings_rate(table[0]), table[1]) if table is not None else _live_esr(con, q)
    return out.with_columns(
        (pl.col("list_cost") - pl.col("contracted_cost")).alias("negotiated_savings"),
        (pl.col("contracted_cost") - pl.col("effective_cost")).alias("commitment_savings"),
        ((pl.col("list_cost") - pl.col("effective_cost")) / pl.col("list_cost")).alias("esr"),
    )


def _live_esr(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    view, where, params = compile_where(q)
    services = eligible_services(con, q, stored=False)
    eparams: list[object] = list(services)
    marks = ", ".join("?" for _ in services) or "NULL"
    sql = (
        f"SELECT {C.BillingCurrency}, "
        f"sum({C.ListCost}) FILTER (WHERE coalesce({C.CommitmentDiscountStatus}, '') <> '{UNUSED}') AS list_cost, "
        f"sum({C.ContractedCost}) FILTER (WHERE coalesce({C.CommitmentDiscountStatus}, '') <> '{UNUSED}') "
        "AS contracted_cost, "
        f"sum({C.EffectiveCost}) AS effective_cost "
        f"FROM {view} WHERE {where} AND {C.ChargeCategory} = 'Usage' AND ("
        f"({C.ServiceName} IN ({marks}) AND {C.PricingCategory} IN ('Standard', 'Committed')) "
        f"OR {C.CommitmentDiscountStatus} = '{UNUSED}') GROUP BY ALL"
    )
    return db.frame(con, sql, params + eparams)


def load_inventory(path: Path) -> pl.DataFrame | None:
    """The optional commitment inventory (id, start, end, term, monthly amount); None if absent."""
    if not path.exists():
        return None
    inv = pl.read_csv(path, schema_overrides={"billing_account_id": pl.String})
    need = {"commitment_id", "start", "end"}
    missing = need - set(inv.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {', '.join(sorted(missing))}")
    return inv.with_columns(pl.col("start").str.to_date(), pl.col("end").str.to_date())


def _window(q: CostQuery, end: date, days: int) -> CostQuery:
    return replace(q, start=end - timedelta(days=days - 1), end=end, group_by=())


def expirations(
    con: duckdb.DuckDBPyConnection, q: CostQuery, inventory: pl.DataFrame | None = None, stored: bool = True
) -> pl.DataFrame:
    """Every commitment with its term end, monthly amount, last-30-day utilization, the on-demand
    cost its covered usage would incur after expiry, and flags. ``q.end`` is "today".

    One row per (commitment, BillingCurrency), soonest expiry first.
    """
    as_of = q.end
    util = commitment_utilization(con, _window(q, as_of, 30), stored=stored).select(
        C.CommitmentDiscountId,
        C.BillingCurrency,
        "utilization",
        (pl.col("used") + pl.col("unused")).alias("amount_30d"),
    )
    whole = replace(q, start=date(1970, 1, 1))
    recent, prev = as_of - timedelta(days=29), as_of - timedelta(days=59)
    table = _stored(con, whole, stored)
    if table is not None:
        facts = db.frame(con, cdays.expiry_facts(table[0]), [recent, prev, recent, recent, *table[1]])
    else:
        facts = _live_expiry_facts(con, whole, recent, prev)
    return _expiry_columns(facts.join(util, on=[C.CommitmentDiscountId, C.BillingCurrency], how="left"), q, inventory)


def _live_expiry_facts(con: duckdb.DuckDBPyConnection, whole: CostQuery, recent: date, prev: date) -> pl.DataFrame:
    where, params = _raw(whole)
    return db.frame(
        con,
        f"SELECT {', '.join(CD_COLUMNS)}, {C.BillingCurrency}, min({C.x_ChargeDate}) AS first_seen, "
        f"max({C.ChargePeriodEnd}) FILTER (WHERE {C.ChargeFrequency} = 'One-Time') AS upfront_end, "
        f"sum({C.ContractedCost}) FILTER (WHERE {C.CommitmentDiscountStatus} = '{USED}' "
        f"AND {C.x_ChargeDate} >= ?) AS covered_od_30d, "
        f"sum({C.EffectiveCost}) FILTER (WHERE {C.CommitmentDiscountStatus} = '{USED}' "
        f"AND {C.x_ChargeDate} >= ? AND {C.x_ChargeDate} < ?) AS used_prev_30d, "
        f"sum({C.EffectiveCost}) FILTER (WHERE {C.CommitmentDiscountStatus} = '{USED}' "
        f"AND {C.x_ChargeDate} >= ?) AS used_30d "
        f"FROM costs WHERE {where} AND {C.CommitmentDiscountId} IS NOT NULL GROUP BY ALL",
        [recent, prev, recent, recent, *params],
    )


def _expiry_columns(out: pl.DataFrame, q: CostQuery, inventory: pl.DataFrame | None) -> pl.DataFrame:
    as_of = q.end
    month = 365.25 / 12 / 30
    out = out.with_columns(
        (pl.col("amount_30d") * month).alias("monthly_amount"),
        (pl.col("covered_od_30d").fill_null(0.0) * month).alias("on_demand_after_expiry_monthly"),
        pl.col("upfront_end").dt.date().alias("term_end"),
    )
    if inventory is not None:
        inv = inventory.select(
            pl.col("commitment_id").alias(C.CommitmentDiscountId),
            pl.col("end").alias("_inv_end"),
            pl.col("start").alias("term_start"),
        )
        out = (
            out.join(inv, on=C.CommitmentDiscountId, how="left")
            .with_columns(pl.coalesce("_inv_end", "term_end").alias("term_end"))
            .drop("_inv_end")
        )
    else:
        out = out.with_columns(pl.col("first_seen").alias("term_start"))
    days_left = (pl.col("term_end") - pl.lit(as_of)).dt.total_days()
    return (
        out.with_columns(days_left.alias("days_to_expiry"))
        .with_columns(_flags())
        .select(
            *CD_COLUMNS,
            C.BillingCurrency,
            "term_start",
            "term_end",
            "days_to_expiry",
            "monthly_amount",
            "utilization",
            "on_demand_after_expiry_monthly",
            "flags",
        )
        .sort("days_to_expiry", nulls_last=True)
    )


def expirations_from_file(
    con: duckdb.DuckDBPyConnection, q: CostQuery, inventory: str | None, stored: bool = True
) -> pl.DataFrame:
    """``expirations`` with the inventory read from a CSV path (None: from the rows alone)."""
    return expirations(con, q, load_inventory(Path(inventory)) if inventory else None, stored)


def _flags() -> pl.Expr:
    low = pl.when(pl.col("utilization") < LOW_UTILIZATION).then(
        pl.format("utilization {}% < 90%", (pl.col("utilization") * 100).round(1))
    )
    expiring = pl.when(pl.col("days_to_expiry").is_between(0, EXPIRY_WINDOWS[-1])).then(
        pl.format(
            "expires in {} days (within {})",
            pl.col("days_to_expiry"),
            pl.when(pl.col("days_to_expiry") <= 30)
            .then(pl.lit("30"))
            .when(pl.col("days_to_expiry") <= 60)
            .then(pl.lit("60"))
            .otherwise(pl.lit("90")),
        )
    )
    expired = pl.when(pl.col("days_to_expiry") < 0).then(pl.lit("expired"))
    dropping = pl.when(pl.col("used_30d").fill_null(0) < 0.9 * pl.col("used_prev_30d").fill_null(0)).then(
        pl.lit("covered usage down > 10% vs previous 30 days")
    )
    return pl.concat_str([low, expiring, expired, dropping], separator="; ", ignore_nulls=True).alias("flags")


def observed_discount(
    con: duckdb.DuckDBPyConnection, q: CostQuery, default: float = 0.25, stored: bool = True
) -> float:
    """1 - EffectiveCost / ContractedCost of covered usage in ``q``: the rate commitments earn here."""
    table = _stored(con, q, stored)
    if table is not None:
        row = db.rows(con, cdays.used_rates(table[0]), table[1])[0]
    else:
        view, where, params = compile_where(q)
        row = db.rows(
            con,
            f"SELECT sum({C.EffectiveCost}), sum({C.ContractedCost}) FROM {view} WHERE {where} "
            f"AND {C.CommitmentDiscountStatus} = ?",
            [*params, USED],
        )[0]
    if not row[1]:
        return default
    return float(1 - row[0] / row[1])


def purchase_sizing(
    con: duckdb.DuckDBPyConnection, q: CostQuery, discount: float | None = None, stored: bool = True
) -> dict[str, object]:
    """The steady commitment (per day, at commitment rates) that would have maximised net savings over
    ``q``'s days of eligible on-demand usage; an estimate from history, not advice.

    Returns the recommendation and ``curve`` (a frame of commit level -> net savings) for a chart.
    ``q`` should name one billing currency.
    """
    d = observed_discount(con, q, stored=stored) if discount is None else discount
    table = _stored(con, q, stored)
    if table is not None:
        daily = db.frame(con, cdays.on_demand_days(table[0]), table[1])
    else:
        view, where, params = compile_where(q)
        eparams: list[object] = []
        eligible = _eligible_sql(eligible_services(con, q, stored=False), eparams)
        daily = db.frame(
            con,
            f"SELECT {C.x_ChargeDate} AS day, sum({C.ContractedCost}) AS on_demand FROM {view} WHERE {where} "
            f"AND {eligible} AND {C.PricingCategory} = 'Standard' GROUP BY 1 ORDER BY 1",
            params + eparams,
        )
    demand = daily["on_demand"].to_numpy() if daily.height else np.zeros(0)
    if demand.size == 0 or d <= 0:
        return {"days": int(demand.size), "discount": d, "commit_per_day": 0.0, "curve": pl.DataFrame()}
    levels = np.linspace(0.0, float(demand.max()) * (1 - d), 201)
    covered_od = np.minimum(demand[None, :], (levels / (1 - d))[:, None])
    savings = (covered_od - levels[:, None]).sum(axis=1)
    best = int(np.argmax(savings))
    commit = float(levels[best])
    used = float((covered_od[best] * (1 - d)).sum())
    # the top level is the highest day's demand itself: a relative margin keeps the days at that
    # demand counted as covered whatever the last bit of the sums (order of addition) says
    covers = demand <= commit / (1 - d) * (1 + 1e-9)
    per_month = 365.25 / 12 / demand.size
    return {
        "days": int(demand.size),
        "discount": d,
        "commit_per_day": commit,
        "commit_per_hour": commit / 24,
        "commit_per_month": commit * 365.25 / 12,
        "net_savings_per_month": float(savings[best]) * per_month,
        "expected_utilization": used / (commit * demand.size) if commit > 0 else None,
        "break_even_utilization": 1 - d,
        "baseline_percentile": float(covers.mean()) if commit > 0 else 0.0,
        "on_demand_per_month": float(demand.sum()) * per_month,
        "curve": pl.DataFrame({"commit_per_day": levels, "net_savings_per_month": savings * per_month}),
    }
