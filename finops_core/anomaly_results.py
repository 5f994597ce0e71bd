"""Company-wide anomaly detection, run once when a version is published and stored beside its rollups.

Detection over the whole history takes seconds at the default demo size and over a minute at 10M
rows, so no page should run it on first load. Publishing runs ``anomalies.detect_with_teams`` with
the default settings over every day of the version, for the unscoped caller, and stores the result
in ``anomalies_found`` (one row per anomaly, ``ANOMALY_SCHEMA``), with the period and metric it was
run for in ``anomaly_runs``. ``anomalies.detect_with_teams`` answers from that table when asked the
same question; any other question (a viewer's scope, a filter, another period) still runs detection.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from finops_core import db, rollups
from finops_core.query import CostQuery
from finops_core.schema import DEFAULT_METRIC, C

TABLE = "anomalies_found"
RUNS = "anomaly_runs"
ANOMALY_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "scope": pl.String(),
    "key": pl.String(),
    C.BillingCurrency: pl.String(),
    C.ServiceName: pl.String(),
    C.SubAccountId: pl.String(),
    C.x_Team: pl.String(),
    "start": pl.Date(),
    "end": pl.Date(),
    "days": pl.UInt32(),
    "kind": pl.String(),
    "actual": pl.Float64(),
    "expected": pl.Float64(),
    "impact": pl.Float64(),
    "peak_day": pl.Date(),
    "peak_ratio": pl.Float64(),
}


def conform(found: pl.DataFrame) -> pl.DataFrame:
    """A detection result in ``ANOMALY_SCHEMA`` (an empty result has no columns at all)."""
    if found.is_empty():
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in ANOMALY_SCHEMA.items() if name not in found.columns]
    return found.with_columns(missing).select(list(ANOMALY_SCHEMA)).cast(ANOMALY_SCHEMA)  # type: ignore[arg-type]


def build(db_path: Path, files: list[str]) -> None:
    """Detect over the whole history of the version whose rollups are at ``db_path`` and store it there."""
    from finops_core import anomalies  # not at the top: anomalies reads this module's stored results

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{rollups.BUILD_MEMORY}'")
        con.execute(f"SET temp_directory = {rollups.quote_path(db_path.parent / '.spill')}")
        con.execute(f"ATTACH {rollups.quote_path(db_path)} AS r")
        con.execute(f'CREATE OR REPLACE TABLE r.{RUNS} (start DATE, "end" DATE, metric VARCHAR)')
        con.register("_empty", pl.DataFrame(schema=ANOMALY_SCHEMA).to_arrow())
        con.execute(f"CREATE OR REPLACE TABLE r.{TABLE} AS SELECT * FROM _empty")
        span = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM r.daily") if files else []
        if span and span[0][0] is not None:
            rollups.create_views(con, files, "r")
            q = CostQuery(span[0][0], span[0][1])
            con.register("_found", conform(anomalies.detect_with_teams(con, q, stored=False)).to_arrow())
            con.execute(f"INSERT INTO r.{TABLE} SELECT * FROM _found")
            con.execute(f"INSERT INTO r.{RUNS} VALUES (?, ?, ?)", [q.start, q.end, q.metric])
        con.execute("CHECKPOINT r")
    finally:
        con.close()


def stored(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame | None:
    """The published detection when ``q`` asks exactly what publishing ran (the whole history, no
    scope, no filter, the default metric), else None."""
    if not q.scope.is_all or q.filters or q.metric != DEFAULT_METRIC:
        return None
    try:
        runs = db.rows(con, f'SELECT start, "end", metric FROM {RUNS}')
    except duckdb.CatalogException:  # a connection without a version's views (tests on bare frames)
        return None
    if not runs or (runs[0][0], runs[0][1], runs[0][2]) != (q.start, q.end, q.metric):
        return None
    return conform(db.frame(con, f"SELECT * FROM {TABLE} ORDER BY impact DESC, id"))
