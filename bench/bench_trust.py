"""Trust figures at scale: invoice reconciliation, the data-quality checks and the trust line, at
1M and 10M demo rows, cold and warm, beside a raw DuckDB scan of the Parquet answering the same
question.

Cold = the first call on a new ``store.connect()`` in a new process (the OS page cache cannot be
dropped); warm = the median of the next ``--repeat`` calls on that connection. The baselines are
the questions asked of the raw billing rows with plain DuckDB SQL (sum of BilledCost per account,
month and currency; the distinct days per account; one scan evaluating the row rules), timed the
same way. Also prints the publish-time cost of the trust rollups (a rebuild with and without
them is not separable, so the rebuild time is printed for scale). Target: trust line <= 100 ms warm.

    .venv/bin/python bench/bench_trust.py [--sizes 1000000,10000000] [--repeat 5] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cold_and_warm, ensure_demo
from finops_core import rollups, store
from finops_core.query import ALL
from finops_core.schema import C
from finops_core.trust import invoices, line, quality, reconcile, rowchecks

SEED = 42
END = date(2026, 11, 30)


def _raw_questions(files: str) -> dict[str, str]:
    src = f"read_parquet([{files}])"
    conditions = " OR ".join(f"({r.condition})" for r in rowchecks.RULES if r.name != "duplicate_line")
    return {
        "reconciliation": f"SELECT {C.BillingAccountId}, strftime({C.BillingPeriodStart}, '%Y-%m'), "
        f"{C.BillingCurrency}, sum({C.BilledCost}) FROM {src} GROUP BY ALL",
        "checks": f"SELECT count(*) FILTER ({conditions}) FROM {src}",
        "trust_line": f"SELECT {C.ProviderName}, {C.BillingAccountId}, count(DISTINCT CAST({C.ChargePeriodStart} AS DATE)) "
        f"FROM {src} GROUP BY ALL",
    }


def measure(root: Path, repeat: int) -> dict[str, Any]:
    """One child process: ours then the raw baseline, each on its own new connection."""
    import duckdb

    lines, _ = invoices.resolve(root, path=root / "bench-state.sqlite")
    as_of = date(2026, 12, 1)
    out: dict[str, Any] = {}
    con = store.connect(root)
    ours = {
        "reconciliation": lambda: reconcile.reconciliation(con, lines, ALL, reconcile.Settings(as_of=as_of)),
        "checks": lambda: quality.checks(con, root, ALL, as_of),
        "trust_line": lambda: line.trust_line(con, root, ALL, lines, as_of),
    }
    for name, fn in ours.items():
        out[name] = cold_and_warm(fn, repeat)
    raw = duckdb.connect()
    raw.execute("SET TimeZone = 'UTC'")
    files = ", ".join(rollups.quote_path(f) for f in store.partition_files(root))
    for name, sql in _raw_questions(files).items():
        out["raw_" + name] = cold_and_warm(lambda sql=sql: raw.execute(sql).fetchall(), repeat)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-trust"))
    ap.add_argument("--keep", action="store_true", help="keep the stores")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.repeat)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        root = args.dir / f"demo-{size}"
        ensure_demo(root, size, SEED, END)
        started = time.perf_counter()
        store.rebuild(root, note="bench: rebuild")
        rebuild = time.perf_counter() - started
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(root), "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(out.stdout)
        for name in ("reconciliation", "checks", "trust_line"):
            cold, warm = figures[name]
            raw_cold, raw_warm = figures["raw_" + name]
            rows.append((size, name, cold, warm, raw_cold, raw_warm, rebuild))
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"{'rows':>11} {'question':15} {'cold ms':>9} {'warm ms':>9} {'raw cold':>9} {'raw warm':>9} {'raw/ours warm':>14}"
    )
    for size, name, cold, warm, raw_cold, raw_warm, _ in rows:
        print(f"{size:>11,} {name:15} {cold:9.1f} {warm:9.1f} {raw_cold:9.1f} {raw_warm:9.1f} {raw_warm / warm:13.1f}x")
    for size in sorted({r[0] for r in rows}):
        print(f"rebuild with trust rollups at {size:,} rows: {next(r[6] for r in rows if r[0] == size):.1f} s")


if __name__ == "__main__":
    main()
