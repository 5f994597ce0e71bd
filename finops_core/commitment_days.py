"""The commitment x day table, built once when a version is published and stored beside its rollups.

The Commitments page, the Overview's expirations, the digest and the pack ask about commitment
rows (``CommitmentDiscountId`` is not in the daily rollup) and about eligible usage. Read from the
raw rows, expirations scan the whole history at every first load. Publishing stores instead:

- ``commitment_services``: the services commitments cover or are bought for (the eligible ones),
  as ``commitments.eligible_services`` defines them;
- ``commitment_daily``: one row per (x_ChargeDate, x_BillingMonth, BillingCurrency, every
  ``KEYS`` column: commitment id, name, type, category, provider, billing account, sub account,
  service category, service, region, charge category, team, product, environment, cost center,
  allocation rule, shared-cost pool) over the rows that carry a commitment, have a commitment
  status, or are eligible usage, with the sums each commitments question needs (``MEASURES``).

The view ``commitment_days`` fans pooled rows out to their teams through ``shares``, as the daily
rollup's view does, so a viewer's team scope and every sidebar filter on a ``DIMENSIONS`` column
apply to it exactly as to the rows. A question on any other dimension (a tag, a SKU) is answered
from the rows (``where``, None).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from finops_core import allocation, db, rollups
from finops_core.query import CostQuery, query_dims, where_sql
from finops_core.schema import C

TABLE = "commitment_daily"
SERVICES = "commitment_services"
VIEW = "commitment_days"
USED, UNUSED = "Used", "Unused"
CD_COLUMNS = (
    C.CommitmentDiscountId,
    C.CommitmentDiscountName,
    C.CommitmentDiscountType,
    C.CommitmentDiscountCategory,
    C.ProviderName,
    C.BillingAccountId,
)
# what a query may filter, group or be scoped by and still be answered from the table
DIMENSIONS = (
    *CD_COLUMNS,
    C.BillingCurrency,
    C.SubAccountId,
    C.SubAccountName,
    C.ServiceCategory,
    C.ServiceName,
    C.RegionId,
    C.ChargeCategory,
    C.x_Team,
    C.x_Product,
    C.x_Environment,
    C.x_CostCenter,
    C.x_AllocationRule,
)
KEYS = (C.x_ChargeDate, C.x_BillingMonth, *DIMENSIONS, C.x_Pool)

_ELIG = "_elig"  # eligible usage: a Usage row of an eligible service at standard or committed prices
_CU = "_cu"  # a Usage row of a commitment
_ESR = "_esr"  # a row the effective savings rate counts: eligible usage or unused commitment
_NOT_UNUSED = f"coalesce({C.CommitmentDiscountStatus}, '') <> '{UNUSED}'"
_USED = f"{C.CommitmentDiscountStatus} = '{USED}'"
# name -> aggregate over the rows of one KEYS group; money columns scale with a split's share
MEASURES: dict[str, str] = {
    "used": f"sum({C.EffectiveCost}) FILTER (WHERE {_CU} AND {_USED})",
    "unused": f"sum({C.EffectiveCost}) FILTER (WHERE {_CU} AND {C.CommitmentDiscountStatus} = '{UNUSED}')",
    "covered": f"sum({C.ContractedCost}) FILTER (WHERE {_ELIG} AND {_USED})",
    "eligible": f"sum({C.ContractedCost}) FILTER (WHERE {_ELIG} AND {_NOT_UNUSED})",
    "list_cost": f"sum({C.ListCost}) FILTER (WHERE {_ELIG} AND {_NOT_UNUSED})",
    "esr_effective": f"sum({C.EffectiveCost}) FILTER (WHERE {_ESR})",
    "on_demand": f"sum({C.ContractedCost}) FILTER (WHERE {_ELIG} AND {C.PricingCategory} = 'Standard')",
    "used_effective": f"sum({C.EffectiveCost}) FILTER (WHERE {_USED})",
    "used_contracted": f"sum({C.ContractedCost}) FILTER (WHERE {_USED})",
}
SCALED = tuple(MEASURES)
COUNTS: dict[str, str] = {  # rows behind a group, so a group of zero-cost rows still shows
    "usage_rows": f"count(*) FILTER (WHERE {_CU})",
    "esr_rows": f"count(*) FILTER (WHERE {_ESR})",
    "on_demand_rows": f"count(*) FILTER (WHERE {_ELIG} AND {C.PricingCategory} = 'Standard')",
}
# the term end of an upfront commitment: its one-time purchase row's ChargePeriodEnd
UPFRONT_END = f"max({C.ChargePeriodEnd}) FILTER (WHERE {C.ChargeFrequency} = 'One-Time') AS upfront_end"


def _flagged(source: str, services: str) -> str:
    eligible = (
        f"{C.ChargeCategory} = 'Usage' AND {C.ServiceName} IN (SELECT {C.ServiceName} FROM {services}) "
        f"AND {C.PricingCategory} IN ('Standard', 'Committed')"
    )
    return (
        f"SELECT *, coalesce({eligible}, FALSE) AS {_ELIG}, "
        f"coalesce({C.ChargeCategory} = 'Usage' AND {C.CommitmentDiscountId} IS NOT NULL, FALSE) AS {_CU}, "
        f"coalesce({C.ChargeCategory} = 'Usage' AND ({eligible} OR {C.CommitmentDiscountStatus} = '{UNUSED}'), FALSE) "
        f"AS {_ESR} FROM ({source})"
    )


def build(db_path: Path, files: list[str], reuse: rollups.Reuse | None = None) -> None:
    """Build ``commitment_services`` and ``commitment_daily`` from a version's Parquet files into the
    rollup database at ``db_path`` (after ``rollups.build``: it reads ``daily``, ``tag_map`` and
    the rules from there). Chunked by billing periods like the rollups, within the build memory.
    With ``reuse``, periods outside ``reuse.touched`` keep the parent's rows (``rollups.build``
    copied its file), unless the eligible services changed (they flag rows of every period)."""
    if not files:
        return
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"SET memory_limit = '{rollups.BUILD_MEMORY}'")
        con.execute(f"SET temp_directory = {rollups.quote_path(db_path.parent / '.spill')}")
        con.execute(f"ATTACH {rollups.quote_path(db_path)} AS r")
        services = f"SELECT {C.ServiceName} FROM r.{SERVICES}"
        theirs = {r[0] for r in db.rows(con, services)} if reuse is not None else set()  # the parent's copy
        con.execute(
            f"CREATE OR REPLACE TABLE r.{SERVICES} AS SELECT DISTINCT {C.ServiceName} FROM r.daily "
            f"WHERE {C.CommitmentDiscountStatus} IN ('{USED}', '{UNUSED}')"
        )
        if reuse is not None and {r[0] for r in db.rows(con, services)} != theirs:
            reuse = None
        sums = ", ".join(f"{sql} AS {name}" for name, sql in (MEASURES | COUNTS).items())
        keep = f"{C.CommitmentDiscountId} IS NOT NULL OR {C.CommitmentDiscountStatus} IS NOT NULL OR {_ELIG}"
        rollups.fill_by_period(
            con,
            TABLE,
            files,
            reuse,
            lambda rows: (
                f"SELECT {', '.join(KEYS)}, {sums}, {UPFRONT_END} FROM ({_flagged(rows, f'r.{SERVICES}')}) "
                f"WHERE {keep} GROUP BY ALL ORDER BY {C.x_ChargeDate}"
            ),
        )
        con.execute("CHECKPOINT r")
    finally:
        con.close()


def create_view(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """The ``commitment_days`` view (pooled rows fanned out to their teams) and ``commitment_services``,
    when the version attached as ``schema`` has the table."""
    allocated = allocation.allocated_sql(f"SELECT * FROM {schema}.{TABLE}", f"{schema}.shares", SCALED)
    try:
        con.execute(f"CREATE OR REPLACE VIEW {VIEW} AS {allocated}")
    except duckdb.CatalogException:  # a version with no rows has no rollups to build it from
        return
    con.execute(f"CREATE OR REPLACE VIEW {SERVICES} AS SELECT * FROM {schema}.{SERVICES}")


def available(con: duckdb.DuckDBPyConnection) -> bool:
    """True when ``con`` has the stored table's view (a published version of this release)."""
    try:
        db.rows(con, f"SELECT 1 FROM {SERVICES} LIMIT 0")  # created with the view; far cheaper to bind
    except duckdb.CatalogException:
        return False
    return True


def where(con: duckdb.DuckDBPyConnection, q: CostQuery) -> tuple[str, list[object]] | None:
    """WHERE clause and params over ``commitment_days`` for ``q``, or None when the table cannot
    answer it (a dimension it does not hold, or a connection without it)."""
    if not query_dims(q) <= set(DIMENSIONS) or not available(con):
        return None
    return where_sql(q)


# Reads: the same answers as commitments' live queries, from the table. Each takes the WHERE
# clause and params from ``where`` and returns what the live query's SQL returns.


def utilization(cols: str, where_clause: str) -> str:
    """SQL of used and unused per ``cols`` over commitment Usage rows."""
    return (
        f"SELECT {cols}, sum(used) AS used, sum(unused) AS unused FROM {VIEW} "
        f"WHERE {where_clause} AND usage_rows > 0 GROUP BY ALL"
    )


def coverage(group: list[str], where_clause: str) -> str:
    """SQL of covered and eligible on-demand-equivalent cost per ``group`` and currency."""
    return (
        f"SELECT {', '.join([*group, C.BillingCurrency])}, sum(covered) AS covered, sum(eligible) AS eligible "
        f"FROM {VIEW} WHERE {where_clause} AND eligible IS NOT NULL GROUP BY ALL HAVING eligible <> 0 ORDER BY 1"
    )


def savings_rate(where_clause: str) -> str:
    """SQL of the effective savings rate's list, contracted and effective cost per currency."""
    return (
        f"SELECT {C.BillingCurrency}, sum(list_cost) AS list_cost, sum(eligible) AS contracted_cost, "
        f"sum(esr_effective) AS effective_cost FROM {VIEW} WHERE {where_clause} AND esr_rows > 0 GROUP BY ALL"
    )


def used_rates(where_clause: str) -> str:
    """SQL of the EffectiveCost and ContractedCost of commitment-covered rows."""
    return f"SELECT sum(used_effective), sum(used_contracted) FROM {VIEW} WHERE {where_clause}"


def on_demand_days(where_clause: str) -> str:
    """SQL of the on-demand (standard price) eligible usage per day, at contracted rates."""
    return (
        f"SELECT {C.x_ChargeDate} AS day, sum(on_demand) AS on_demand FROM {VIEW} WHERE {where_clause} "
        "AND on_demand_rows > 0 GROUP BY 1 ORDER BY 1"
    )


def expiry_facts(where_clause: str) -> str:
    """SQL of each commitment's first day, upfront term end and last/previous 30 days' covered usage;
    its first three parameters are the first of the last 30 days, of the 30 before, and again the first."""
    return (
        f"SELECT {', '.join(CD_COLUMNS)}, {C.BillingCurrency}, min({C.x_ChargeDate}) AS first_seen, "
        "max(upfront_end) AS upfront_end, "
        f"sum(used_contracted) FILTER (WHERE {C.x_ChargeDate} >= ?) AS covered_od_30d, "
        f"sum(used_effective) FILTER (WHERE {C.x_ChargeDate} >= ? AND {C.x_ChargeDate} < ?) AS used_prev_30d, "
        f"sum(used_effective) FILTER (WHERE {C.x_ChargeDate} >= ?) AS used_30d "
        f"FROM {VIEW} WHERE {where_clause} AND {C.CommitmentDiscountId} IS NOT NULL GROUP BY ALL"
    )
