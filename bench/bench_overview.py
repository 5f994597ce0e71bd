"""The Overview page's first-load calls and the Variance page's calls at 1M and 10M demo rows, cold
and warm, beside a baseline in the same run: a raw DuckDB scan of the Parquet rows answering the
month-to-date total (what the page would cost without rollups).

Cold = the first call on a new ``store.connect()`` in a new process (the OS page cache cannot be
dropped); warm = the median of the next ``--repeat`` calls. ``page`` renders the whole Overview
through AppTest as admin (cold: a new Streamlit cache; warm: a rerun, answered from ui/cache.py).
State (budgets, backlog) is the demo's, in a throwaway state folder.

    .venv/bin/python bench/bench_overview.py [--sizes 1000000,10000000] [--repeat 3] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cold_and_warm, ensure_demo
from finops_core import backlog, budgets, db, drilldown, events, outlook, rollups, store
from finops_core import commitments as cm
from finops_core.query import ALL, CostQuery
from finops_core.reports import budget_variance, kpi_ops, kpi_targets, kpis, variance
from finops_core.schema import C
from finops_core.trust import invoices, quality, reconcile

SEED = 42
END = datetime(2026, 11, 30).date()


def _seed(root: Path) -> None:
    budgets.save(budgets.load(root / "demo" / "budgets.csv"), "bench", "demo")
    backlog.import_csv((root / "demo" / "backlog.csv").read_text(), "bench")


def _calls(root: Path, con: Any) -> dict[str, Callable[[], object]]:
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    w = kpis.Window(first, last, "USD", ALL)
    keys = rollups.version_rules(con, "r").allocation.required_tags
    lines, _ = invoices.resolve(root)
    targets = kpi_targets.load()
    mtd = w.query(last.replace(day=1), last)
    week = w.query(last - timedelta(days=last.weekday()), last)
    files = store.partition_files(root)
    raw = f"read_parquet([{', '.join(rollups.quote_path(f) for f in files)}])"
    month = variance.month_end(last).replace(day=1) if last == variance.month_end(last) else None
    month = month or (last.replace(day=1) - timedelta(days=1)).replace(day=1)
    vq = CostQuery(last, last, filters=((C.BillingCurrency, ("USD",)),))
    vrows = budget_variance.rows_of(budgets.load(root / "demo" / "budgets.csv"))
    found = variance.month_over_month(con, vq, month, last)
    inventory = str(root / "demo" / "commitments.csv")
    return {
        "baseline_raw_mtd": lambda: con.execute(
            f"SELECT sum({C.EffectiveCost}) FROM {raw} WHERE {C.BillingCurrency} = 'USD' "
            f"AND {C.ChargePeriodStart} >= ? AND {C.ChargePeriodStart} < ?",
            [
                datetime.combine(mtd.start, datetime.min.time(), UTC),
                datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC),
            ],
        ).fetchall(),
        "ov_bill_figures": lambda: kpis.bill_figures(con, w.trend_query, keys),
        "ov_account_days": lambda: quality.account_days(con, ALL),
        "ov_reconciliation": lambda: reconcile.reconciliation(con, lines, ALL, reconcile.Settings(as_of=last)),
        "ov_savings_items": lambda: kpi_ops.item_table(kpi_ops.direct(con), w),
        "ov_scorecard_all": lambda: kpi_ops.scorecard(con, w, targets, keys, reconciliation=None),
        "ov_mtd_total": lambda: drilldown.total(con, mtd),
        "ov_mtd_forecast": lambda: outlook.scope_forecast(
            con, w.query(first, last), outlook.horizon_end(last, "month"), events.load()
        ),
        "ov_week_movers_x2": lambda: [drilldown.movers(con, week, d) for d in (C.ServiceName, C.x_Team)],
        "ov_commitments": lambda: cm.expirations_from_file(con, w.query(last - timedelta(days=29), last), inventory),
        "var_mom": lambda: variance.month_over_month(con, vq, month, last),
        "var_contributors_x5": lambda: [
            variance.contributors_table(found[0], vq, d) for d in variance.CONTRIBUTOR_DIMS.values()
        ],
        "var_budget": lambda: budget_variance.vs_budget(con, vq, month, last, vrows),
    }


def _page(root: Path, repeat: int) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    from finops_core import access

    os.environ["FINOPS_STORE"] = str(root)
    access.create_demo_users(access.users_path(), "bench-password")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=600)
    at.session_state["authentication_status"] = True
    for k, v in (("username", "admin"), ("name", "admin"), ("roles", ["admin"]), ("logout", False)):
        at.session_state[k] = v
    return cold_and_warm(lambda: at.run(), repeat)


def measure(root: Path, repeat: int) -> dict[str, Any]:
    """One child process, one new connection; the calls in the order a user meets them."""
    _seed(root)
    con = store.connect(root)
    con.execute("SET enable_progress_bar = false")
    out = {name: cold_and_warm(fn, repeat) for name, fn in _calls(root, con).items()}
    con.close()
    out["page_overview"] = _page(root, repeat)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-overview"))
    ap.add_argument("--keep", action="store_true", help="keep the stores")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.repeat)))
        return
    print(f"{'rows':>11} {'call':20} {'cold ms':>9} {'warm ms':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        root = args.dir / f"demo-{size}"
        ensure_demo(root, size, SEED, END)
        env = os.environ | {"FINOPS_STATE": tempfile.mkdtemp(prefix="bench-overview-state-")}
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(root), "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        for name, (cold, warm) in json.loads(out.stdout.strip().splitlines()[-1]).items():
            print(f"{size:>11,} {name:20} {cold:9.1f} {warm:9.1f}", flush=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
