"""The rollups Spark builds (FINOPS_ENGINE=spark) equal DuckDB's, table by table and row by row.

One small demo (shared-cost pools, tags, regex rules) is published twice, by DuckDB and by a real
local SparkSession (``local[2]``, one for the whole test session: it takes 10-30 s to start).
``FINOPS_SKIP_SPARK=1`` skips this module on a machine without Java; CI runs it.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from finops_core import db, drilldown, engines, store
from finops_core.demo import DemoConfig, build_demo
from finops_core.engines import spark as spark_engine
from finops_core.query import CostQuery
from finops_core.schema import C

pytestmark = pytest.mark.skipif(os.environ.get("FINOPS_SKIP_SPARK") == "1", reason="FINOPS_SKIP_SPARK=1")

# the smallest demo that still has every allocation feature: tags, regex rules, pools split to teams
SMALL = DemoConfig(seed=7, end=date(2026, 10, 15), rows=20_000)
TEST_CONF = {"spark.sql.shuffle.partitions": "4", "spark.driver.memory": "1g"}
REL = 1e-9


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(spark_engine.MASTER_ENV, "local[2]")
        session = spark_engine.session(TEST_CONF)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, spark_session: Any) -> tuple[Path, Path]:
    """The same demo published by DuckDB and by Spark."""
    duck, spark = tmp_path_factory.mktemp("duckdb"), tmp_path_factory.mktemp("spark")
    ran: list[str] = []
    run = spark_engine.run

    def counted(con: duckdb.DuckDBPyConnection, select: str) -> Any:
        ran.append(select)
        return run(con, select)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(spark_engine, "run", counted)
        mp.setenv(engines.ENV, "duckdb")
        build_demo(duck, SMALL)
        assert ran == []
        mp.setenv(engines.ENV, "spark")
        build_demo(spark, SMALL)
    # one chunk of files: daily, invoice_lines and resource_daily each ran as Spark jobs
    assert len(ran) == 3
    assert spark_session.sparkContext.statusTracker().getJobIdsForGroup()
    return duck, spark


def _tables(path: Path) -> dict[str, pl.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {n: db.frame(con, f"SELECT * FROM {n}") for n in names}
    finally:
        con.close()


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in one order: by every non-float column, then the floats (ties only)."""
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    keys = [c for c in frame.columns if c not in floats] + floats
    return frame.sort(keys, nulls_last=True) if keys else frame


def assert_same(name: str, want: pl.DataFrame, got: pl.DataFrame) -> None:
    assert got.schema == want.schema, name
    assert got.height == want.height, name
    want, got = _sorted(want), _sorted(got)
    for col, dtype in want.schema.items():
        a, b = want[col].to_list(), got[col].to_list()
        if not dtype.is_float():
            assert a == b, f"{name}.{col}"
            continue
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert (x is None) == (y is None), f"{name}.{col} row {i}: {x} vs {y}"
            # 1e-9 relative; a sum that cancels to ~0 differs by summation order alone (1e-12 absolute)
            assert x is None or math.isclose(x, y, rel_tol=REL, abs_tol=1e-9), f"{name}.{col} row {i}: {x} vs {y}"


def test_every_rollup_table_equal(stores: tuple[Path, Path]) -> None:
    duck, spark = (_tables(store.version_dir(root) / "rollups.duckdb") for root in stores)
    assert duck.keys() == spark.keys()
    assert {"daily", "resource_daily", "invoice_lines", "shares", "compliance"} <= duck.keys()
    # the demo exercises what the Spark SQL must get right: pooled rows split, tag-attributed teams
    assert duck["shares"].height > 0
    assert duck["daily"].filter(pl.col(C.x_Pool).is_not_null()).height > 0
    rules = set(duck["daily"][C.x_AllocationRule])
    assert {"tag-team", "analytics-warehouses"} <= rules  # a tag rule, and a regex rule (RLIKE on Spark)
    for name in duck:
        assert_same(name, duck[name], spark[name])


def test_version_layout_identical(stores: tuple[Path, Path]) -> None:
    """No work files of Spark's are left in the published version."""
    duck, spark = (sorted(p.relative_to(store.version_dir(r)) for p in store.version_dir(r).rglob("*")) for r in stores)
    assert duck == spark


@pytest.mark.parametrize("group_by", [(), (C.x_Team,), (C.ServiceName, C.x_Environment), (C.ResourceId,)])
def test_page_queries_equal(stores: tuple[Path, Path], group_by: tuple[str, ...]) -> None:
    q = CostQuery(date(2026, 7, 1), date(2026, 9, 30), group_by=group_by)
    cons = [store.connect(root) for root in stores]
    try:
        if group_by:
            duck, spark = (drilldown.cost_by_dimension(c, q) for c in cons)
        else:
            duck, spark = (drilldown.total(c, q) for c in cons)
    finally:
        for c in cons:
            c.close()
    assert duck.height > 0
    assert_same(f"cost_by {group_by}", duck, spark)


def test_transpiled_sources_are_views() -> None:
    sql = (
        "SELECT f.x, m.y FROM read_parquet(['/a/p=1/f.parquet', '/a/p=2/g.parquet']) f "
        "LEFT JOIN r.tag_map m ON f.k = m.tag_key WHERE regexp_matches(f.x, '^a\\.') GROUP BY ALL"
    )
    q = spark_engine.transpile(sql, "_t")
    assert list(q.parquet.values()) == [["/a/p=1/f.parquet", "/a/p=2/g.parquet"]]
    assert q.tables == {"r_tag_map_t": "r.tag_map"}
    assert "read_parquet" not in q.sql and "RLIKE" in q.sql and "GROUP BY ALL" in q.sql
    assert f"{next(iter(q.parquet))} AS f" in q.sql and "r_tag_map_t AS m" in q.sql


def test_unknown_engine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(engines.ENV, "polars")
    with pytest.raises(engines.EngineError, match="FINOPS_ENGINE='polars' is not one of duckdb, spark"):
        engines.selected()


def test_missing_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(engines.EngineError, match=r"needs Java.*openjdk-17"):
        spark_engine.session()


def test_missing_pyspark_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if it were not installed
    with pytest.raises(engines.EngineError, match=r"needs pyspark and Java: pip install pyspark==4\.1\.4"):
        spark_engine.session()
