"""Realized savings from the table built at publish (``savings_daily``) equal those measured from the
billing rows: every field of every item, flags included, on several stores, end dates and scopes."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from finops_core import db, savings, savings_daily, savings_items, store
from finops_core.demo import DemoConfig, build_demo
from finops_core.query import CostQuery, Scope
from finops_core.schema import SCHEMA_VERSION, C

# a month's last day, and another seed and date, beside the session store (seed 7, 2026-10-15)
STORES = ((23, date(2026, 3, 31)), (42, date(2026, 11, 30)))
RAW_VIEWS = ("costs", "raw_rows", "focus_rows")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, demo_store: Path) -> list[Path]:
    out = [demo_store]
    for seed, end in STORES:
        root = tmp_path_factory.mktemp(f"savd{seed}")
        build_demo(root, DemoConfig(seed=seed, end=end, rows=60_000))
        out.append(root)
    return out


def _items(con: duckdb.DuckDBPyConnection, root: Path) -> pl.DataFrame:
    """The demo's backlog, plus for each implemented item its service over every sub account and its
    sub account over every service (wider scopes: resources deployed and retired around the change), and three items changed three weeks
    after an anomaly the published detection found (flagged: something else changed the scope)."""
    seeded = pl.read_csv(root / "demo" / "backlog.csv", schema_overrides={"implemented_on": pl.String})
    seeded = seeded.with_columns(resource_ids=pl.lit(""))
    done = seeded.filter(pl.col("status").is_in(savings_items.DONE))
    wide = [
        done.with_columns((pl.col("item_id") + "-svc").alias("item_id"), sub_account_name=pl.lit("")),
        done.with_columns((pl.col("item_id") + "-sub").alias("item_id"), service_name=pl.lit("")),
    ]
    found = db.rows(
        con,
        f"SELECT DISTINCT a.id, a.{C.ServiceName}, d.{C.SubAccountName}, a.start, a.impact FROM anomalies_found a "
        f"JOIN daily d ON d.{C.SubAccountId} = a.{C.SubAccountId} WHERE a.scope = 'service' "
        "ORDER BY a.impact DESC LIMIT 3",
    )
    template = done.row(0, named=True)
    after = [
        template
        | {
            "item_id": f"ANOM-{i}",
            "service_name": service,
            "sub_account_name": sub,
            "implemented_on": (start + timedelta(days=21)).isoformat(),
        }
        for i, (_, service, sub, start, _) in enumerate(found)
    ]
    return pl.concat([seeded, *wide, pl.DataFrame(after, schema=seeded.schema)])


def _with_resources(con: duckdb.DuckDBPyConnection, items: pl.DataFrame) -> pl.DataFrame:
    """An item scoped by resource ids: three of the resources of the first implemented item's scope."""
    item = items.filter(pl.col("status").is_in(savings_items.DONE)).row(0, named=True)
    ids = db.rows(
        con,
        f"SELECT DISTINCT {C.ResourceId} FROM raw_rows WHERE {C.SubAccountName} = ? AND {C.ServiceName} = ? "
        f"AND {C.ResourceId} IS NOT NULL ORDER BY 1 LIMIT 3",
        [item["sub_account_name"], item["service_name"]],
    )
    return pl.DataFrame([item | {"item_id": item["item_id"] + "-ids", "resource_ids": ",".join(r[0] for r in ids)}])


def _same(stored: pl.DataFrame, live: pl.DataFrame, where: str) -> None:
    assert stored.columns == live.columns and stored.height == live.height, where
    key = ["item_id", "currency"]
    stored, live = stored.sort(key), live.sort(key)
    for col, dtype in live.schema.items():
        for i, (a, b) in enumerate(zip(stored[col].to_list(), live[col].to_list(), strict=True)):
            at = f"{where} {live['item_id'][i]} {live['currency'][i]} {col}"
            if dtype == pl.Float64 and a is not None and b is not None:
                assert a == pytest.approx(b, rel=1e-9, abs=1e-9), at
            else:
                assert a == b, at


def _questions(con: duckdb.DuckDBPyConnection, items: pl.DataFrame) -> list[tuple[str, CostQuery]]:
    """The whole history as the Savings page asks it, measured to the last day of the month before
    and to three weeks after the latest change's settling week, and as two scoped viewers see it."""
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    done = items.filter(pl.col("status").is_in(savings_items.DONE))
    latest = date.fromisoformat(max(done["implemented_on"].to_list()))
    team = str(done["team"][0])
    sub = db.rows(
        con,
        f"SELECT DISTINCT {C.SubAccountId} FROM daily WHERE {C.SubAccountName} = ?",
        [done["sub_account_name"][0]],
    )[0][0]
    month_end = last.replace(day=1) - timedelta(days=1)
    short = min(latest + timedelta(days=savings.SETTLE_DAYS + 20), last)
    return [
        ("all", CostQuery(first, last)),
        (f"to {month_end}", CostQuery(first, month_end)),
        (f"to {short}", CostQuery(first, short)),
        (f"team {team}", CostQuery(first, last, scope=Scope(teams=(team,)))),
        (f"sub account {sub}", CostQuery(first, last, scope=Scope(sub_accounts=(sub,)))),
    ]


def test_realized_savings_from_the_table_equal_the_rows(stores: list[Path]) -> None:
    flags: list[str] = []
    answered = 0
    for root in stores:
        con = store.connect(root)
        items = _items(con, root)
        ids = _with_resources(con, items)
        questions = _questions(con, items)
        bare = store.connect(root)
        for view in RAW_VIEWS:  # items scoped by account and service read no billing row
            bare.execute(f"DROP VIEW {view}")
        for name, q in questions if root == stores[0] else questions[:1]:
            live = savings_items.realized_for_items(con, q, items, stored=False)
            _same(savings_items.realized_for_items(bare, q, items), live, f"{root.name} {name}")
            flags += [f for f in live["flags"].to_list() if f]
            assert live["realized_monthly"].drop_nulls().len() >= 3, (root.name, name)
        q = questions[0][1]
        _same(
            savings_items.realized_for_items(con, q, ids),
            savings_items.realized_for_items(con, q, ids, stored=False),
            f"{root.name} resource ids",
        )
        bare.close()
        for item in items.filter(pl.col("status").is_in(savings_items.DONE)).iter_rows(named=True):
            scope = CostQuery(q.start, q.end, filters=savings_items.scope_query(item, q.end).filters)
            assert savings_daily.resource_daily(con, scope) is not None
            answered += savings_daily.stored_anomalies(con, scope) is not None
        con.close()
    text = "; ".join(flags)
    for flag in ("deployed after the change", "retired inside the after window", "only ", "anomaly in the window"):
        assert flag in text, flag  # the comparison covered each kind of flag
    assert answered >= 5  # the published detection answered the windows of several items


def test_resource_daily_and_currencies_equal_the_rows(con: duckdb.DuckDBPyConnection) -> None:
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    subs = [r[0] for r in db.rows(con, f"SELECT DISTINCT {C.SubAccountId} FROM daily ORDER BY 1 LIMIT 2")]
    for scope in (Scope(), Scope(teams=("payments", "web")), Scope(sub_accounts=tuple(subs))):
        for q in (CostQuery(first, last, scope=scope), CostQuery(last - timedelta(days=90), last, scope=scope)):
            assert savings.scope_currencies(con, q) == savings.scope_currencies(con, q, stored=False)
            got = savings.resource_daily(con, q).sort("day", "resource", "currency")
            want = savings.resource_daily(con, q, stored=False).sort("day", "resource", "currency")
            assert got.select("day", "resource", "currency", "unit").equals(
                want.select("day", "resource", "currency", "unit")
            )
            for col in ("cost", "usage"):
                assert (got[col] - want[col]).abs().max() <= 1e-9 * max(1.0, float(want[col].abs().max() or 0))


def test_a_version_without_the_table_falls_back_and_a_rebuild_adds_it(demo_store: Path, tmp_path: Path) -> None:
    root = tmp_path / "old"
    shutil.copytree(demo_store, root)
    vdir = store.version_dir(root)
    rollups_db = duckdb.connect(str(vdir / "rollups.duckdb"))
    rollups_db.execute("DROP TABLE savings_daily; DROP TABLE savings_scopes")
    rollups_db.close()
    doc: dict[str, Any] = json.loads((vdir / "manifest.json").read_text())
    con = store.connect(demo_store)
    items = _items(con, demo_store)
    con.close()

    # as published by a release before the table: outdated, so the app rebuilds it before use
    (vdir / "manifest.json").write_text(json.dumps(doc | {"schema_version": "focus-1.2+x.5"}))
    assert store.is_outdated(root)
    with pytest.raises(store.StoreError, match="rebuild"):
        store.connect(root)

    # opened anyway (the views are made from what the version holds): measured from the rows
    (vdir / "manifest.json").write_text(json.dumps(doc | {"schema_version": SCHEMA_VERSION}))
    con = store.connect(root)
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    q = CostQuery(first, last)
    assert savings_daily.resource_daily(con, q) is None and savings_daily.scope_currencies(con, q) is None
    live = savings_items.realized_for_items(con, q, items, stored=False)
    _same(savings_items.realized_for_items(con, q, items), live, "without the table")
    con.close()

    (vdir / "manifest.json").write_text(json.dumps(doc | {"schema_version": "focus-1.2+x.5"}))
    store.rebuild(root, note="rebuild: rollups from an older release")
    assert not store.is_outdated(root)
    con = store.connect(root)
    assert savings_daily.resource_daily(con, q) is not None
    _same(savings_items.realized_for_items(con, q, items), live, "after the rebuild")
    con.close()
