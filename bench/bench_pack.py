"""The monthly variance pack and the weekly digest at 1M (and 10M) demo rows, beside two baselines
measured in the same process: the month's total per currency (the floor any report of the month
pays) and the Variance page's month-over-month decomposition (the pack's first figure).

Cold = the first call on a new ``store.connect()`` in a new process (the OS page cache cannot be
dropped); warm = the median of the next ``--repeat`` calls on that connection. Timed: the digest
(company, built and rendered in its three formats), the pack for the last full month (company and
one team: built, then rendered to HTML and to PDF). State (triage, backlog) lives in a throwaway
state folder.

    .venv/bin/python bench/bench_pack.py [--sizes 1000000,10000000] [--repeat 2] [--dir DIR] [--keep]
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
from finops_core import db, drilldown, store
from finops_core.query import CostQuery
from finops_core.reports import delivery, digest, pack, pack_render, variance

SEED = 42
END = date(2026, 11, 30)


def measure(root: Path, repeat: int) -> dict[str, Any]:
    """One child process, one new connection; baselines first, then the reports."""
    con = store.connect(root)
    con.execute("SET enable_progress_bar = false")
    first, last = db.rows(con, "SELECT min(x_ChargeDate), max(x_ChargeDate) FROM daily")[0]
    month = last.replace(day=1) if last == variance.month_end(last) else (last.replace(day=1) - timedelta(days=1))
    month = month.replace(day=1)
    q = CostQuery(last, last)
    built: dict[str, pack.Pack] = {}

    def digest_company() -> None:
        d = digest.build(con, q, first_day=first, store_root=root)
        for fmt in delivery.FORMATS:
            delivery.render(d, fmt)

    def pack_for(name: str, scope: list[str]) -> Callable[[], None]:
        def run() -> None:
            built[name] = pack.build(con, q, month, pack.PackScope.parse(scope), first_day=first, store_root=root)

        return run

    calls: dict[str, Callable[[], object]] = {
        "baseline_total": lambda: drilldown.total(con, CostQuery(month, variance.month_end(month))),
        "baseline_mom": lambda: variance.month_over_month(con, q, month, last),
        "digest_company": digest_company,
        "pack_build": pack_for("company", []),
        "pack_html": lambda: pack_render.to_html(built["company"]),
        "pack_pdf": lambda: pack_render.to_pdf(built["company"]),
        "pack_build_team": pack_for("team", ["team=payments"]),
        "pack_pdf_team": lambda: pack_render.to_pdf(built["team"]),
    }
    out = {name: cold_and_warm(fn, repeat) for name, fn in calls.items()}
    pages = pack_render.to_pdf(built["company"]).count(b"/Type /Page\n")
    return out | {"_pdf_pages": pages}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-pack"))
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
        env = os.environ | {"FINOPS_STATE": tempfile.mkdtemp(prefix="bench-pack-state-")}
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(root), "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        result = json.loads(out.stdout)
        pages = result.pop("_pdf_pages")
        for name, (cold, warm) in result.items():
            print(f"{size:>11,} {name:16} {cold:9.1f} {warm:9.1f}", flush=True)
        print(f"{size:>11,} (company PDF: {pages} pages)", flush=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
