"""Realized savings from the table built at publish (``savings_daily``) against the billing rows.

Times, in one run on one store, the Savings page's first-load calls (as views/savings.py makes
them) and the Overview's KPI scorecard, each with the live path (``stored=False``: the rows, and
anomaly detection per item) and with the table, beside a raw DuckDB scan of the Parquet files
answering what the measurement asks (each implemented item's daily cost and usage per resource
over its 140-day window; the billing currencies). Also the table's own build time and peak RSS
(``savings_daily.build`` on a copy of the version's rollups) and its size against the raw rows.

Cold = the first call in a new process on a new ``store.connect()`` (the OS page cache cannot be
dropped); warm = the median of the next ``--repeat`` calls. State (the backlog) is the demo's, in
a throwaway state folder.

    .venv/bin/python bench/bench_savings_table.py --store DIR [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import polars as pl

from bench.common import cold_and_warm
from finops_core import backlog, db, rollups, savings, savings_daily, savings_items, store
from finops_core.query import ALL, CostQuery
from finops_core.reports import kpi_ops, kpi_targets, kpis
from finops_core.schema import C

MODES = ("live", "table")


def _caller(con: duckdb.DuckDBPyConnection, stored: bool) -> kpis.Call:
    """The scorecard's ``call`` with realized savings read as ``stored`` says."""

    def call(fn: Callable[..., Any], q: CostQuery, *args: Any) -> Any:
        if fn is savings_items.realized_from_csv:
            return fn(con, q, *args, stored=stored)
        return fn(con, q, *args)

    return call


def _raw_items(con: duckdb.DuckDBPyConnection, root: Path, items: pl.DataFrame) -> Callable[[], object]:
    files = store.partition_files(root)
    raw = f"read_parquet([{', '.join(rollups.quote_path(f) for f in files)}])"
    asks = []
    for item in items.filter(pl.col("status").is_in(savings_items.DONE)).iter_rows(named=True):
        d = datetime.fromisoformat(str(item["implemented_on"])).replace(tzinfo=UTC)
        start = d - timedelta(days=savings.TREND_DAYS)
        end = d + timedelta(days=savings.SETTLE_DAYS + savings.AFTER_DAYS)
        asks.append([item["sub_account_name"], item["service_name"], start, end])
    sql = (
        f"SELECT CAST({C.ChargePeriodStart} AS DATE), {C.ResourceId}, {C.BillingCurrency}, sum({C.EffectiveCost}), "
        f"sum(coalesce({C.ConsumedQuantity}, 0)), any_value({C.ConsumedUnit}) FROM {raw} "
        f"WHERE {C.SubAccountName} = ? AND {C.ServiceName} = ? AND {C.ChargeCategory} = 'Usage' "
        f"AND {C.ResourceId} IS NOT NULL AND {C.ChargePeriodStart} >= ? AND {C.ChargePeriodStart} < ? GROUP BY 1, 2, 3"
    )
    return lambda: [con.execute(sql, a).fetchall() for a in asks]


def measure(root: Path, mode: str, repeat: int) -> dict[str, Any]:
    """One process, one new connection: the Savings page's calls in the order it makes them, then
    the Overview scorecard (or, for ``raw``, the raw scans)."""
    backlog.import_csv((root / "demo" / "backlog.csv").read_text(), "bench")
    con = store.connect(root)
    con.execute("SET enable_progress_bar = false")
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    whole = CostQuery(first, last, scope=ALL)
    ids = savings_items.sub_account_ids(con, whole)
    items = backlog.items(scope=ALL, sub_account_ids=ids)
    if mode == "raw":
        files = store.partition_files(root)
        raw = f"read_parquet([{', '.join(rollups.quote_path(f) for f in files)}])"
        return {
            "raw_currencies": cold_and_warm(
                lambda: con.execute(f"SELECT DISTINCT {C.BillingCurrency} FROM {raw}").fetchall(), repeat
            ),
            "raw_items_x5": cold_and_warm(_raw_items(con, root, items), repeat),
        }
    stored = mode == "table"
    key = savings_items.items_csv(items)
    w = kpis.Window(first, last, "USD", ALL)
    keys = rollups.version_rules(con, "r").allocation.required_tags
    targets = kpi_targets.load()
    calls: dict[str, Callable[[], object]] = {
        "sv_sub_account_ids": lambda: savings_items.sub_account_ids(con, whole),
        "sv_backlog_items": lambda: backlog.items(scope=ALL, sub_account_ids=ids),
        "sv_scope_currencies": lambda: savings.scope_currencies(con, whole, stored=stored),
        "sv_realized_from_csv": lambda: savings_items.realized_from_csv(con, whole, key, stored=stored),
        "ov_scorecard_all": lambda: kpi_ops.scorecard(
            con, w, targets, keys, reconciliation=None, call=_caller(con, stored)
        ),
    }
    out = {name: cold_and_warm(fn, repeat) for name, fn in calls.items()}
    out["peak_rss_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0.0)
    con.close()
    return out


def build_time(root: Path) -> dict[str, Any]:
    """``savings_daily.build`` on a copy of the current version's rollups without the tables."""
    with tempfile.TemporaryDirectory(prefix="bench-savings-table-") as tmp:
        copy = Path(tmp) / "rollups.duckdb"
        shutil.copy(store.version_dir(root) / "rollups.duckdb", copy)
        con = duckdb.connect(str(copy))
        con.execute(f"DROP TABLE IF EXISTS {savings_daily.TABLE}; DROP TABLE IF EXISTS {savings_daily.SCOPES}")
        con.close()
        started = time.perf_counter()
        savings_daily.build(copy, store.partition_files(root))
        seconds = time.perf_counter() - started
        con = duckdb.connect(str(copy), read_only=True)
        rows = db.rows(con, f"SELECT count(*) FROM {savings_daily.TABLE}")[0][0]
        con.close()
    raw = sum(int(p["rows"]) for p in store.manifest(root)["partitions"].values())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rows": rows, "raw_rows": raw, "peak_rss_mb": rss}


def _child(root: Path, mode: str, repeat: int) -> dict[str, Any]:
    env = os.environ | {"FINOPS_STATE": tempfile.mkdtemp(prefix="bench-savings-state-")}
    cmd = [sys.executable, __file__, "--store", str(root), "--child", mode, "--repeat", str(repeat)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    shutil.rmtree(env["FINOPS_STATE"], ignore_errors=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", choices=(*MODES, "raw", "build"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "build":
        print(json.dumps(build_time(args.store)))
        return
    if args.child:
        print(json.dumps(measure(args.store, args.child, args.repeat)))
        return
    if store.is_outdated(args.store):
        sys.exit(f"{args.store}: run `python -m finops_core rebuild --store {args.store}` first (builds the table)")
    results = {mode: _child(args.store, mode, args.repeat) for mode in (*MODES, "raw")}
    built = _child(args.store, "build", args.repeat)
    print(f"store {args.store}: {built['raw_rows']:,} rows")
    print(f"{'call':22} {'live cold':>10} {'live warm':>10} {'table cold':>11} {'table warm':>11} {'warm x':>7}")
    for name, (cold, warm) in results["live"].items():
        t_cold, t_warm = results["table"][name]
        ratio = f"{warm / t_warm:7.1f}" if t_warm else ""
        if name == "peak_rss_mb":
            print(f"{'peak RSS MB':22} {cold:10.0f} {'':10} {t_cold:11.0f}")
            continue
        print(f"{name:22} {cold:10.1f} {warm:10.1f} {t_cold:11.1f} {t_warm:11.1f} {ratio}")
    for name, (cold, warm) in results["raw"].items():
        print(f"{name:22} {cold:10.1f} {warm:10.1f}   (raw DuckDB scan of the Parquet files)")
    print(
        f"savings_daily.build: {built['seconds']:.1f} s, peak RSS {built['peak_rss_mb']:.0f} MB, "
        f"{built['rows']:,} rows ({built['rows'] / max(1, built['raw_rows']):.2f} x the raw rows)"
    )


if __name__ == "__main__":
    main()
