from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from finops_core import db, store
from finops_core.schema import FOCUS_SCHEMA, C


def _rows(period: str, amount: float, n: int = 3) -> pl.DataFrame:
    start = pl.datetime(int(period[:4]), int(period[5:]), 1, time_zone="UTC")
    return (
        pl.DataFrame({C.BilledCost: [amount] * n})
        .with_columns(
            start.alias(C.ChargePeriodStart),
            start.alias(C.BillingPeriodStart),
            pl.lit("USD").alias(C.BillingCurrency),
            pl.col(C.BilledCost).alias(C.EffectiveCost),
            pl.lit("Svc").alias(C.ServiceName),
        )
        .select(
            [
                pl.col(c)
                if c
                in (
                    C.BilledCost,
                    C.EffectiveCost,
                    C.ChargePeriodStart,
                    C.BillingPeriodStart,
                    C.BillingCurrency,
                    C.ServiceName,
                )
                else pl.lit(None, dtype=t).alias(c)
                for c, t in FOCUS_SCHEMA.items()
            ]
        )
    )


def _total(root: Path) -> float:
    con = store.connect(root)
    try:
        return float(db.rows(con, f"SELECT sum({C.BilledCost}) FROM costs")[0][0])
    finally:
        con.close()


def test_publish_creates_a_new_version_and_carries_other_periods(tmp_path: Path) -> None:
    with store.publish(tmp_path) as pub:
        pub.write("2026-01", "a", _rows("2026-01", 1.0))
        pub.write("2026-02", "a", _rows("2026-02", 2.0))
    v1 = store.current_version(tmp_path)
    with store.publish(tmp_path) as pub:
        pub.write("2026-02", "b", _rows("2026-02", 5.0))  # restated month replaces the old one
    v2 = store.current_version(tmp_path)
    assert v1 != v2
    assert _total(tmp_path) == pytest.approx(3 * 1.0 + 3 * 5.0)
    m = store.manifest(tmp_path)
    assert m["parent"] == v1 and set(m["partitions"]) == {"2026-01", "2026-02"}
    assert m["partitions"]["2026-02"]["totals"]["USD"][C.BilledCost] == pytest.approx(15.0)
    assert _total(tmp_path) == pytest.approx(sum(p["totals"]["USD"][C.BilledCost] for p in m["partitions"].values()))


def test_failed_publish_leaves_the_previous_version_intact(tmp_path: Path) -> None:
    with store.publish(tmp_path) as pub:
        pub.write("2026-01", "a", _rows("2026-01", 1.0))
    before = store.current_version(tmp_path)
    with pytest.raises(RuntimeError), store.publish(tmp_path) as pub:
        pub.write("2026-01", "a", _rows("2026-01", 100.0))
        raise RuntimeError("ingest failed half-way")
    assert store.current_version(tmp_path) == before
    assert _total(tmp_path) == pytest.approx(3.0)
    assert not list((tmp_path / "versions").glob(".staging-*"))


def test_killed_publish_leaves_the_previous_version_readable(tmp_path: Path) -> None:
    """A writer killed mid-publish (no cleanup runs at all) must not change what readers see."""
    with store.publish(tmp_path) as pub:
        pub.write("2026-01", "a", _rows("2026-01", 1.0))
    before = store.current_version(tmp_path)
    script = textwrap.dedent(f"""
        import os, polars as pl
        from finops_core import store
        from tests.test_store import _rows
        with store.publish({str(tmp_path)!r}) as pub:
            pub.write("2026-01", "a", _rows("2026-01", 100.0))
            os._exit(9)
    """)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, env=os.environ | {"PYTHONPATH": str(root)})
    assert proc.returncode == 9
    assert store.current_version(tmp_path) == before
    assert _total(tmp_path) == pytest.approx(3.0)
    with store.publish(tmp_path) as pub:  # the next writer clears the debris and proceeds
        pub.write("2026-02", "a", _rows("2026-02", 1.0))
    assert not list((tmp_path / "versions").glob(".staging-*"))
    assert _total(tmp_path) == pytest.approx(6.0)


def test_second_writer_is_refused_while_one_publishes(tmp_path: Path) -> None:
    with store.publish(tmp_path) as pub:
        pub.write("2026-01", "a", _rows("2026-01", 1.0))
        with pytest.raises(store.StoreError, match="another writer"), store.publish(tmp_path):
            pass


def test_empty_store_says_how_to_fill_it(tmp_path: Path) -> None:
    with pytest.raises(store.StoreError, match="demo"):
        store.connect(tmp_path)


def test_rollups_match_raw_rows(con, demo_rows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    for view in ("daily", "resource_daily", "costs"):
        got = dict(db.rows(con, f"SELECT {C.BillingCurrency}, sum({C.EffectiveCost}) FROM {view} GROUP BY 1"))
        want = dict(demo_rows.group_by(C.BillingCurrency).agg(pl.col(C.EffectiveCost).sum()).iter_rows())
        assert got.keys() == want.keys()
        for cur in want:
            assert got[cur] == pytest.approx(want[cur], rel=1e-9)


def test_old_versions_are_collected(tmp_path: Path) -> None:
    for i in range(store.KEEP_VERSIONS + 2):
        with store.publish(tmp_path) as pub:
            pub.write("2026-01", "a", _rows("2026-01", float(i)))
    versions = [p for p in (tmp_path / "versions").iterdir() if not p.name.startswith(".")]
    assert len(versions) == store.KEEP_VERSIONS
    assert store.current_version(tmp_path) in {p.name for p in versions}


def test_a_publication_can_replace_single_files_of_a_period(tmp_path: Path) -> None:
    """Ingest replaces one source's file in a period and keeps the period's other files."""
    with store.publish(tmp_path) as pub:
        pub.write("2026-01", "aws", _rows("2026-01", 1.0))
        pub.write("2026-01", "gcp", _rows("2026-01", 2.0))
    with store.publish(tmp_path) as pub:
        pub.drop_file("2026-01", "aws.parquet")
        folder = pub.staging / "billing_period=2026-01"
        folder.mkdir(parents=True)
        _rows("2026-01", 5.0).write_parquet(folder / "aws-restated.parquet")
        _rows("2026-01", 7.0).write_parquet(folder / "gcp.parquet")  # same name: the new file wins
    m = store.manifest(tmp_path)
    assert m["partitions"]["2026-01"]["files"] == ["aws-restated.parquet", "gcp.parquet"]
    assert _total(tmp_path) == pytest.approx(3 * 5.0 + 3 * 7.0)
