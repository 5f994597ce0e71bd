"""Incremental publish: a version whose files changed in a few billing periods aggregates only
those periods and copies the rest from its parent. Grown day by day (and with a restated month),
its rollups and stored anomalies equal a full rebuild of the same files."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from finops_core import db, rollups, store
from finops_core.demo import DemoConfig, build_demo
from finops_core.schema import C

END = date(2026, 6, 30)  # a month's last day; the store grows into July
GROW = [date(2026, 6, 28), date(2026, 6, 29), date(2026, 6, 30)]


def _rows(root: Path) -> dict[str, pl.DataFrame]:
    """Every FOCUS row of the current version, per billing period."""
    out: dict[str, pl.DataFrame] = {}
    for f in store.partition_files(root):
        period = Path(f).parent.name.split("=", 1)[1]
        frame = pl.read_parquet(f, hive_partitioning=False)
        out[period] = pl.concat([out[period], frame]) if period in out else frame
    return out


def _day(frame: pl.DataFrame) -> pl.Series:
    return frame[C.ChargePeriodStart].cast(pl.Date)


def _tables(db_path: Path) -> dict[str, pl.DataFrame]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {n: db.frame(con, f"SELECT * FROM {n}") for n in names}
    finally:
        con.close()


def _same(a: pl.DataFrame, b: pl.DataFrame, name: str) -> None:
    assert a.columns == b.columns, name
    assert a.height == b.height, f"{name}: {a.height} rows vs {b.height}"
    keys = [c for c, t in a.schema.items() if not t.is_float()]
    a, b = a.sort(keys, nulls_last=True), b.sort(keys, nulls_last=True)
    assert a.select(keys).equals(b.select(keys)), name
    for col in (c for c in a.columns if c not in keys):
        for x, y in zip(a[col].to_list(), b[col].to_list(), strict=True):
            assert (x is None and y is None) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (name, col, x, y)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    root = tmp_path_factory.mktemp("inc-demo")
    build_demo(root, DemoConfig(seed=11, end=END, rows=40_000))
    return _rows(root)


def test_a_store_grown_day_by_day_equals_a_full_rebuild(
    full: dict[str, pl.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    with store.publish(root, note="history") as pub:  # everything before the first grown day
        for period, frame in full.items():
            pub.write(period, "history", frame.filter(_day(frame) < GROW[0]))
    aggregated: list[list[str]] = []
    real = rollups._aggregate
    monkeypatch.setattr(rollups, "_aggregate", lambda con, chunk, *a: aggregated.append(chunk) or real(con, chunk, *a))
    for day in GROW:  # one new day per publish, as a daily export lands
        period = f"{day:%Y-%m}"
        with store.publish(root, note=f"day {day}") as pub:
            pub.write(period, f"day-{day}", full[period].filter(_day(full[period]) == day))
        assert {Path(f).parent.name for chunk in aggregated for f in chunk} == {f"billing_period={period}"}
        aggregated.clear()
    # a restated month: May's files replaced whole (credits re-issued: every cost halved)
    may = full["2026-05"]
    with store.publish(root, note="restated May") as pub:
        halved = may.with_columns(pl.col(C.BilledCost) / 2, pl.col(C.EffectiveCost) / 2)
        for name in store.manifest(root)["partitions"]["2026-05"]["files"]:
            pub.drop_file("2026-05", name)
        pub.write("2026-05", "restated", halved)
    assert {Path(f).parent.name for chunk in aggregated for f in chunk} == {"billing_period=2026-05"}
    incremental = store.version_dir(root)
    monkeypatch.setattr(rollups, "_aggregate", real)
    store.rebuild(root, note="full rebuild to compare")
    rebuilt = store.version_dir(root)
    assert rebuilt != incremental
    inc, reb = _tables(incremental / "rollups.duckdb"), _tables(rebuilt / "rollups.duckdb")
    assert sorted(inc) == sorted(reb)
    assert {"daily", "resource_daily", "tag_map", "tag_periods", "anomalies_found", "shares", "savings_daily"} <= set(
        inc
    )
    for name in sorted(inc):
        _same(inc[name], reb[name], name)
    assert inc["anomalies_found"].height > 0
    con = store.connect(root)
    total = con.execute(f"SELECT sum({C.EffectiveCost}) FROM daily WHERE {C.x_ChargeDate} = ?", [GROW[-1]]).fetchone()
    con.close()
    june = full["2026-06"]
    assert total is not None
    assert total[0] == pytest.approx(june.filter(_day(june) == GROW[-1])[C.EffectiveCost].sum(), rel=1e-9)


def test_a_rules_change_aggregates_every_period(
    full: dict[str, pl.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    with store.publish(root) as pub:
        for period, frame in full.items():
            pub.write(period, "all", frame)
    rules = tmp_path / "rules"
    rules.mkdir()
    shipped = rollups.allocation.rules_path("tags.yaml").read_text()
    (rules / "tags.yaml").write_text(shipped + "\n# edited\n")
    monkeypatch.setenv("FINOPS_RULES", str(rules))
    aggregated: list[str] = []
    real = rollups._aggregate
    monkeypatch.setattr(rollups, "_aggregate", lambda con, chunk, *a: aggregated.extend(chunk) or real(con, chunk, *a))
    with store.publish(root, note="new day") as pub:
        pub.write("2026-06", "extra", full["2026-06"].head(10).with_columns(pl.col(C.BilledCost) * 0))
    assert {Path(f).parent.name for f in aggregated} == {f"billing_period={p}" for p in full}


def test_repeated_publishes_keep_the_rollups_file_bounded(full: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    """Each incremental publish starts from a file copy of its parent's rollups and deletes the
    touched periods' rows: ten daily publishes, a restated old month and a period dropped whole
    leave the same tables as a full rebuild, in a file not much larger than the rebuild's."""
    root = tmp_path / "store"
    days = [date(2026, 6, d) for d in range(21, 31)]
    with store.publish(root, note="history") as pub:
        for period, frame in full.items():
            pub.write(period, "history", frame.filter(_day(frame) < days[0]))
    for day in days:
        with store.publish(root, note=f"day {day}") as pub:
            pub.write("2026-06", f"day-{day}", full["2026-06"].filter(_day(full["2026-06"]) == day))
    first, march = sorted(full)[0], full["2026-03"]
    with store.publish(root, note="restated March, first period withdrawn") as pub:
        for name in store.manifest(root)["partitions"]["2026-03"]["files"]:
            pub.drop_file("2026-03", name)
        pub.write("2026-03", "restated", march.with_columns(pl.col(C.EffectiveCost) * 1.1))
        for name in store.manifest(root)["partitions"][first]["files"]:
            pub.drop_file(first, name)
    assert first not in store.manifest(root)["partitions"]
    incremental = store.version_dir(root) / "rollups.duckdb"
    store.rebuild(root, note="full rebuild to compare")
    rebuilt = store.version_dir(root) / "rollups.duckdb"
    inc, reb = _tables(incremental), _tables(rebuilt)
    assert sorted(inc) == sorted(reb)
    for name in sorted(inc):
        _same(inc[name], reb[name], name)
    assert incremental.stat().st_size <= 1.5 * rebuilt.stat().st_size, (incremental.stat(), rebuilt.stat())
