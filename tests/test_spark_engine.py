"""The rollups Spark builds (FINOPS_ENGINE=spark) equal DuckDB's, table by table and row by row.

One small demo (shared-cost pools, tags, regex rules) is published twice, by DuckDB and by a real
local SparkSession (``local[2]``, one for the whole test session: it takes 10-30 s to start).
``FINOPS_SKIP_SPARK=1`` skips this module on a machine without Java; CI runs it.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from finops_core import drilldown, engines, rollups, store
from finops_core.demo import DemoConfig, build_demo
from finops_core.engines import spark as spark_engine
from finops_core.query import CostQuery
from finops_core.schema import C
from tests.test_incremental_publish import _tables

# a machine with only Python (the README's promise for ./dev test) skips them, as the browser tests
# skip without chromium; this machine's CI has Java 17 and runs them
pytestmark = [
    pytest.mark.skipif(os.environ.get("FINOPS_SKIP_SPARK") == "1", reason="FINOPS_SKIP_SPARK=1"),
    pytest.mark.skipif(not spark_engine.java_found(), reason="no Java on PATH nor in $JAVA_HOME: install JDK 17"),
]

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


@contextlib.contextmanager
def _engine(name: str) -> Iterator[list[str]]:
    """Publishes in the block run on ``name``; yields the SELECTs Spark ran. Chunks of about ten
    billing periods (of the demo's 25), so later chunks append to tables an earlier one created."""
    ran: list[str] = []
    run = spark_engine.run

    def counted(con: duckdb.DuckDBPyConnection, select: str) -> Any:
        ran.append(select)
        return run(con, select)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(spark_engine, "run", counted)
        mp.setattr(rollups, "CHUNK_BYTES", 2 << 20)
        mp.setenv(engines.ENV, name)
        yield ran


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, spark_session: Any) -> tuple[Path, Path]:
    """The same demo published by DuckDB and by Spark."""
    duck, spark = tmp_path_factory.mktemp("duckdb"), tmp_path_factory.mktemp("spark")
    with _engine("duckdb") as ran:
        build_demo(duck, SMALL)
    assert ran == []
    with _engine("spark") as ran:
        build_demo(spark, SMALL)
        chunks = rollups.chunks(store.partition_files(spark))
    assert len(chunks) == 3
    # daily, invoice_lines and resource_daily of each chunk ran as Spark jobs
    assert len(ran) == 3 * len(chunks)
    assert spark_session.sparkContext.statusTracker().getJobIdsForGroup()
    return duck, spark


@pytest.fixture(scope="module")
def restated(stores: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Copies of both stores after an incremental publish that restates one month (its costs
    halved), each by its own engine: only that period is aggregated, the others are the parent's."""
    out = []
    for root, name in zip(stores, ("duckdb", "spark"), strict=True):
        copy = tmp_path_factory.mktemp(f"restated-{name}") / "store"
        shutil.copytree(root, copy)
        period = "2026-05"
        files = store.manifest(copy)["partitions"][period]["files"]
        frame = pl.read_parquet([str(store.version_dir(copy) / f"billing_period={period}" / f) for f in files])
        with _engine(name) as ran, store.publish(copy, note="restated May") as pub:
            for f in files:
                pub.drop_file(period, f)
            pub.write(period, "restated", frame.with_columns(pl.col(C.BilledCost) / 2, pl.col(C.EffectiveCost) / 2))
        assert len(ran) == (3 if name == "spark" else 0)
        assert all(f"billing_period={period}/restated.parquet" in sql for sql in ran)
        out.append(copy)
    return out[0], out[1]


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
    duck, spark = _both(stores)
    assert duck.keys() == spark.keys()
    assert {"daily", "resource_daily", "invoice_lines", "shares", "compliance"} <= duck.keys()
    # the demo exercises what the Spark SQL must get right: pooled rows split, tag-attributed teams
    assert duck["shares"].height > 0
    assert duck["daily"].filter(pl.col(C.x_Pool).is_not_null()).height > 0
    rules = set(duck["daily"][C.x_AllocationRule])
    assert {"tag-team", "analytics-warehouses"} <= rules  # a tag rule, and a regex rule (RLIKE on Spark)
    for name in duck:
        assert_same(name, duck[name], spark[name])


def test_incremental_publish_equal(restated: tuple[Path, Path]) -> None:
    """A restated month aggregated on Spark and appended to the parent's rollups equals DuckDB's."""
    duck, spark = _both(restated)
    assert duck.keys() == spark.keys()
    for name in duck:
        assert_same(name, duck[name], spark[name])


def _both(roots: tuple[Path, Path]) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    duck, spark = (_tables(store.version_dir(root) / "rollups.duckdb") for root in roots)
    return duck, spark


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
