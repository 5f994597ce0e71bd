"""Variance analysis and the weekly digest at 1M and 10M demo rows, cold and warm.

Cold = the first call on a new ``store.connect()`` in a new process (the OS page cache cannot be
dropped); warm = the median of the next ``--repeat`` calls on that connection. Timed: the Variance
page's core calls (month over month for the last full month, the top contributors per dimension,
actual vs budget) and the digest (company and one team, built and rendered in the three formats).
The digest's state (triage, backlog) lives in a throwaway state folder.

    .venv/bin/python bench/bench_cadence.py [--sizes 1000000,10000000] [--repeat 3] [--dir DIR] [--keep]
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
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cold_and_warm, ensure_demo
from finops_core import budgets, db, store
from finops_core.query import CostQuery
from finops_core.reports import budget_variance, delivery, digest, variance

SEED = 42
END = date(2026, 11, 30)


def measure(root: Path, repeat: int) -> dict[str, Any]:
    """One child process, one new connection; the calls in the order a user meets them."""
    con = store.connect(root)
    con.execute("SET enable_progress_bar = false")
    first, last = db.rows(con, "SELECT min(x_ChargeDate), max(x_ChargeDate) FROM daily")[0]
    month = last.replace(day=1) if last == variance.month_end(last) else (last.replace(day=1) - timedelta(days=1))
    month = month.replace(day=1)
    q = CostQuery(last, last, filters=(("BillingCurrency", ("USD",)),))
    rows = budget_variance.rows_of(budgets.load(root / "demo" / "budgets.csv"))
    found = variance.month_over_month(con, q, month, last)

    def contributors() -> None:
        for dim in variance.CONTRIBUTOR_DIMS.values():
            variance.contributors_table(found[0], q, dim)

    def digest_for(scope: digest.DigestScope) -> Callable[[], None]:
        def run() -> None:
            d = digest.build(con, CostQuery(last, last), scope, first_day=first, store_root=root)
            for fmt in delivery.FORMATS:
                delivery.render(d, fmt)

        return run

    calls = {
        "variance_mom": lambda: variance.month_over_month(con, q, month, last),
        "contributors_x5": contributors,
        "variance_budget": lambda: budget_variance.vs_budget(con, q, month, last, rows),
        "digest_company": digest_for(digest.DigestScope()),
        "digest_team": digest_for(digest.DigestScope("team", "payments")),
    }
    return {name: cold_and_warm(fn, repeat) for name, fn in calls.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-cadence"))
    ap.add_argument("--keep", action="store_true", help="keep the stores")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.repeat)))
        return
    print(f"{'rows':>11} {'call':16} {'cold ms':>9} {'warm ms':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        root = args.dir / f"demo-{size}"
        ensure_demo(root, size, SEED, END)
        env = os.environ | {"FINOPS_STATE": tempfile.mkdtemp(prefix="bench-cadence-state-")}
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(root), "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        for name, (cold, warm) in json.loads(out.stdout).items():
            print(f"{size:>11,} {name:16} {cold:9.1f} {warm:9.1f}", flush=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
