"""Rollup tables built at publish time, and the views over them and the raw snapshot.

- ``tag_map``: one row per distinct Tags value with the x_ allocation columns.
- ``daily``: one row per (x_ChargeDate, BillingCurrency, every ROLLUP_DIMENSIONS column).
- ``resource_daily``: one row per (x_ChargeDate, BillingCurrency, every RESOURCE_DIMENSIONS column).
Each holds the four cost metrics, summed.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from finops_core import db
from finops_core.dimensions import tag_map
from finops_core.schema import ALLOCATION_NAMES, METRICS, RESOURCE_DIMENSIONS, ROLLUP_DIMENSIONS, C

BUILD_MEMORY = "1GB"
ROLLUPS: dict[str, tuple[str, ...]] = {"daily": ROLLUP_DIMENSIONS, "resource_daily": RESOURCE_DIMENSIONS}


def quote_path(path: str | Path) -> str:
    """A file path as a SQL string literal (paths are ours, but may contain quotes)."""
    return "'" + str(path).replace("'", "''") + "'"


def _enriched_sql(source: str, tag_table: str) -> str:
    """FOCUS rows plus date and x_ columns; ``source`` is a FROM-able expression."""
    alloc = ", ".join(f"coalesce(m.{n}, 'Unallocated') AS {n}" for n in ALLOCATION_NAMES)
    return (
        f"SELECT f.*, CAST(f.{C.ChargePeriodStart} AS DATE) AS {C.x_ChargeDate}, "
        f"CAST(f.{C.BillingPeriodStart} AS DATE) AS {C.x_BillingMonth}, {alloc} "
        f"FROM {source} f LEFT JOIN {tag_table} m ON coalesce(f.{C.Tags}, '') = m.tag_key"
    )


def build(db_path: Path, files: list[str]) -> None:
    """Create the rollup database for a version from its Parquet files."""
    con = duckdb.connect(str(db_path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        # bounded memory at any size: large aggregations spill next to the version being built
        con.execute(f"SET memory_limit = '{BUILD_MEMORY}'")
        con.execute(f"SET temp_directory = {quote_path(db_path.parent / '.spill')}")
        if not files:
            con.execute(
                "CREATE TABLE tag_map (tag_key VARCHAR, " + ", ".join(f"{n} VARCHAR" for n in ALLOCATION_NAMES) + ")"
            )
            return
        source = f"read_parquet([{', '.join(quote_path(f) for f in files)}])"
        tags = db.frame(con, f"SELECT DISTINCT {C.Tags} FROM {source}")[C.Tags]
        con.register("tag_map_frame", tag_map(tags))
        con.execute("CREATE TABLE tag_map AS SELECT * FROM tag_map_frame")
        con.unregister("tag_map_frame")
        enriched = _enriched_sql(source, "tag_map")
        metrics = ", ".join(f"sum({m}) AS {m}" for m in METRICS)
        for name, dims in ROLLUPS.items():
            keys = ", ".join((C.x_ChargeDate, C.BillingCurrency) + dims)
            con.execute(
                f"CREATE TABLE {name} AS SELECT {keys}, {metrics} FROM ({enriched}) "
                f"GROUP BY ALL ORDER BY {C.x_ChargeDate}"
            )
        con.execute("CHECKPOINT")
    finally:
        con.close()


def create_views(con: duckdb.DuckDBPyConnection, files: list[str], schema: str) -> None:
    """Views ``costs``, ``daily``, ``resource_daily`` on a connection with the rollups attached."""
    for name in ROLLUPS:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {schema}.{name}")
    if files:
        source = f"read_parquet([{', '.join(quote_path(f) for f in files)}], hive_partitioning = true)"
        con.execute(f"CREATE OR REPLACE VIEW costs AS {_enriched_sql(source, f'{schema}.tag_map')}")
