"""The inputs of realized savings, built once when a version is published and stored beside its rollups.

Measuring an implemented backlog item (``savings.measure``) reads the daily cost and usage of
each resource of the item's scope; the raw rows behind that are the whole history's billing rows,
through the allocation (10 s for the Savings page's five items at 10M rows). Backlog items are
edited after publish, so nothing here depends on them: the tables hold what any item's scope can
select on, for every scope.

- ``savings_daily``: one row per (x_ChargeDate, x_BillingMonth, BillingCurrency, ChargeCategory,
  ResourceId, SubAccountId, SubAccountName, ServiceName, RegionId, x_Team, x_AllocationRule,
  x_Pool, ConsumedUnit) with the cost metrics and ConsumedQuantity summed, as billed (each row's
  direct attribution and its shared-cost pool, like the rollups). Every row is kept (a charge
  without a resource, a tax) so the billing currencies of a scope are read from it too. Each
  chunk of billing periods is written sorted by service and sub account, so one item's scope
  reads a few row groups. Connections see it as ``savings_billed`` (as billed: no team split, for
  questions without a team) and ``savings_daily`` (pools split to their teams through ``shares``,
  one row per receiving team, as in the ``costs`` view).
- ``savings_scopes``: one row per (ServiceName, SubAccountName): whether the published anomaly
  detection's series of that service and sub account is exactly the series an item of that scope
  is judged on (``stored_anomalies``).

``savings.resource_daily`` and ``savings.scope_currencies`` read ``savings_daily`` when it holds
every dimension the question filters on (else, and for a version built without it, the rows).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from finops_core import anomaly_results, db, rollups
from finops_core.query import CostQuery, compile_where, scope_dims
from finops_core.schema import DEFAULT_METRIC, METRICS, C

TABLE = "savings_daily"
SCOPES = "savings_scopes"
DIMENSIONS = (
    C.x_BillingMonth,
    C.ChargeCategory,
    C.ResourceId,
    C.SubAccountId,
    C.SubAccountName,
    C.ServiceName,
    C.RegionId,
    C.x_Team,
    C.x_AllocationRule,
    C.x_Pool,
    C.ConsumedUnit,
)
USAGE = f"{C.ChargeCategory} = 'Usage' AND {C.ResourceId} IS NOT NULL"
_KEYS = ", ".join((C.x_ChargeDate, C.BillingCurrency, *DIMENSIONS))
_SUMS = ", ".join(f"sum({m}) AS {m}" for m in (*METRICS, C.ConsumedQuantity))
_SCOPES_SQL = f"""
CREATE OR REPLACE TABLE r.{SCOPES} AS
WITH used AS (SELECT * FROM r.{TABLE} WHERE {USAGE}),
spanning AS (
    SELECT {C.ResourceId} FROM used GROUP BY 1
    HAVING count(DISTINCT ({C.ServiceName}, {C.SubAccountId})) > 1
),
ids AS (SELECT {C.SubAccountId}, count(DISTINCT {C.SubAccountName}) AS names FROM r.{TABLE} GROUP BY 1),
accounts AS (
    SELECT t.{C.SubAccountName}, count(DISTINCT t.{C.SubAccountId}) AS ids, max(i.names) AS names,
        any_value(t.{C.SubAccountId}) AS {C.SubAccountId}
    FROM (SELECT DISTINCT {C.SubAccountName}, {C.SubAccountId} FROM r.{TABLE}) t
    JOIN ids i ON i.{C.SubAccountId} IS NOT DISTINCT FROM t.{C.SubAccountId} GROUP BY 1
)
SELECT u.{C.ServiceName}, u.{C.SubAccountName},
    CASE WHEN any_value(a.ids) = 1 AND any_value(a.names) = 1 THEN any_value(a.{C.SubAccountId}) END
        AS {C.SubAccountId},
    min(u.{C.x_ChargeDate}) AS first_usage,
    count(DISTINCT s.{C.ResourceId}) AS spanning_resources
FROM used u
LEFT JOIN spanning s ON s.{C.ResourceId} = u.{C.ResourceId}
LEFT JOIN accounts a ON a.{C.SubAccountName} IS NOT DISTINCT FROM u.{C.SubAccountName}
GROUP BY 1, 2
"""


def build(db_path: Path, files: list[str], reuse: rollups.Reuse | None = None) -> None:
    """Build ``savings_daily`` and ``savings_scopes`` in the rollups at ``db_path`` (after the
    rollups: it reads their tag map) from the version's Parquet files; with ``reuse``, billing
    periods outside ``reuse.touched`` keep the parent version's rows (see ``rollups.build``)."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET memory_limit = '{rollups.BUILD_MEMORY}'")
        con.execute(f"SET temp_directory = {rollups.quote_path(db_path.parent / '.spill')}")
        con.execute(f"ATTACH {rollups.quote_path(db_path)} AS r")
        if not files:
            return
        # chunks of consecutive billing periods, as the rollups: each aggregation stays small, and
        # each chunk is written sorted by scope so an item's service and sub account skip the rest
        rollups.fill_by_period(
            con,
            TABLE,
            files,
            reuse,
            lambda rows: (
                f"SELECT {_KEYS}, {_SUMS} FROM ({rows}) GROUP BY ALL "
                f"ORDER BY {C.ServiceName}, {C.SubAccountName}, {C.x_ChargeDate}"
            ),
        )
        con.execute(_SCOPES_SQL)
        con.execute("CHECKPOINT r")
    finally:
        con.close()


def view_for(q: CostQuery) -> str | None:
    """The view of the table that answers ``q`` (``savings_billed`` unless ``q`` involves teams),
    or None when it does not hold every dimension ``q`` filters, groups or is scoped on."""
    dims = {d for d, _ in q.filters} | set(q.group_by) | scope_dims(q.scope)
    if not dims <= set(DIMENSIONS) | {C.BillingCurrency} or q.metric not in METRICS:
        return None
    # splitting a pool between teams never changes a sum over anything but the team
    return "savings_daily" if dims & {C.x_Team, C.x_AllocationRule} else "savings_billed"


def resource_daily(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame | None:
    """``savings.resource_daily`` from the stored table, or None when it cannot answer ``q`` (a
    filter it does not hold, a version published without it)."""
    view = view_for(q)
    if view is None:
        return None
    _, where, params = compile_where(q, view=view)
    try:
        return db.frame(
            con,
            f"SELECT {C.x_ChargeDate} AS day, {C.ResourceId} AS resource, {C.BillingCurrency} AS currency, "
            f"sum({q.metric}) AS cost, sum(coalesce({C.ConsumedQuantity}, 0)) AS usage, "
            f"any_value({C.ConsumedUnit}) AS unit FROM {view} WHERE {where} AND {USAGE} GROUP BY 1, 2, 3",
            params,
        )
    except duckdb.CatalogException:
        return None


def scope_currencies(con: duckdb.DuckDBPyConnection, q: CostQuery) -> list[str] | None:
    """``savings.scope_currencies`` from the stored table, or None when it cannot answer ``q``."""
    view = view_for(q)
    if view is None:
        return None
    _, where, params = compile_where(q, view=view)
    try:
        found = db.rows(con, f"SELECT DISTINCT {C.BillingCurrency} FROM {view} WHERE {where} ORDER BY 1", params)
    except duckdb.CatalogException:
        return None
    return [str(r[0]) for r in found if r[0] is not None]


def stored_anomalies(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame | None:
    """The published detection's anomalies of the one (service, sub account) series ``q`` selects,
    when detecting over ``q`` alone would judge exactly that series the same way, else None.

    That holds for the unscoped caller asking over the stored run's period and metric, for a scope
    of one service and one sub account name that is one sub account id (and that id has no other
    name), whose resources bill usage in no other scope (their first day, which makes a resource
    young, is the same either way), and whose first day of usage is the first day of all usage
    (detection over a scope takes resources there on its first day as settled)."""
    filters = dict(q.filters)
    if not q.scope.is_all or q.metric != DEFAULT_METRIC or set(filters) != {C.ServiceName, C.SubAccountName}:
        return None
    if any(len(v) != 1 for v in filters.values()):
        return None
    service, account = filters[C.ServiceName][0], filters[C.SubAccountName][0]
    try:
        runs = db.rows(con, f'SELECT start, "end", metric FROM {anomaly_results.RUNS}')
        scope = db.rows(
            con,
            f"SELECT {C.SubAccountId}, first_usage, spanning_resources, (SELECT min(first_usage) FROM {SCOPES}) "
            f"FROM {SCOPES} WHERE {C.ServiceName} = ? AND {C.SubAccountName} = ?",
            [service, account],
        )
    except duckdb.CatalogException:
        return None
    if not runs or runs[0] != (q.start, q.end, q.metric) or not scope:
        return None
    sub_id, first, spanning, first_of_all = scope[0]
    if sub_id is None or spanning or first != first_of_all:
        return None
    return db.frame(
        con,
        f"SELECT * FROM {anomaly_results.TABLE} WHERE scope = 'service' AND {C.ServiceName} = ? "
        f"AND {C.SubAccountId} = ? ORDER BY impact DESC, id",
        [service, sub_id],
    )
