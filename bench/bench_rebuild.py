"""Rebuild time after a rules change, at 10M rows: the shipped allocation rules vs tags-only rules
vs a floor with no allocation at all (the same two rollups grouped straight from the Parquet).

A rebuild publishes a new version with the same Parquet files (hard links) and new rollups; that
is what a rule change costs. The floor runs the rollups' GROUP BYs with constant x_ columns, into a
DuckDB file under the same memory limit, so the difference is what allocation adds. Every run is
a child process that reports its own wall time and peak RSS; variants alternate within a repeat.

    .venv/bin/python bench/bench_rebuild.py [--store /tmp/finops-bench/rows-10000000] [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from finops_core import store

VARIANTS = ("shipped rules", "tags-only rules", "floor: no allocation")


def child(variant: str, root: Path) -> None:
    import duckdb

    from finops_core import rollups
    from finops_core.schema import ALLOCATION_NAMES, METRICS, RESOURCE_DIMENSIONS, ROLLUP_DIMENSIONS, C

    t = time.perf_counter()
    if variant == "floor: no allocation":
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            con = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
            con.execute(f"SET memory_limit = '{rollups.BUILD_MEMORY}'")
            con.execute("SET preserve_insertion_order = false")
            con.execute(f"SET temp_directory = {rollups.quote_path(Path(tmp) / '.spill')}")
            source = rollups.parquet_source(store.partition_files(root))
            consts = ", ".join(f"'x' AS {n}" for n in (*ALLOCATION_NAMES, C.x_AllocationRule))
            rows = (
                f"SELECT *, CAST({C.ChargePeriodStart} AS DATE) AS {C.x_ChargeDate}, "
                f"CAST({C.BillingPeriodStart} AS DATE) AS {C.x_BillingMonth}, {consts} FROM {source}"
            )
            sums = ", ".join(f"sum({m}) AS {m}" for m in METRICS)
            for name, dims in {"daily": ROLLUP_DIMENSIONS, "resource_daily": RESOURCE_DIMENSIONS}.items():
                keys = ", ".join((C.x_ChargeDate, C.x_BillingMonth, C.BillingCurrency, *dims))
                con.execute(f"CREATE TABLE {name} AS SELECT {keys}, {sums} FROM ({rows}) GROUP BY ALL")
            con.execute("CHECKPOINT")
            con.close()
    else:
        store.rebuild(root, note=f"bench: {variant}")
    seconds = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": rss}))


def run(variant: str, root: Path) -> dict[str, float]:
    env = dict(os.environ)
    if variant == "tags-only rules":
        rules = Path(tempfile.mkdtemp(prefix="bench-rules-"))
        (rules / "tags.yaml").write_text((Path(__file__).resolve().parents[1] / "data/rules/tags.yaml").read_text())
        env["FINOPS_RULES"] = str(rules)  # no allocation.yaml there: tags only
    else:
        env.pop("FINOPS_RULES", None)
    out = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--store", str(root)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="/tmp/finops-bench/rows-10000000")
    ap.add_argument("--rows", type=int, default=10_000_000, help="demo size to build if the store is missing")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", default=None)
    args = ap.parse_args()
    root = Path(args.store)
    if args.child:
        child(args.child, root)
        return
    if store.current_version(root) is None:
        print(f"building a {args.rows:,}-row demo store at {root} ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "finops_core",
                "demo",
                "--store",
                str(root),
                "--rows",
                str(args.rows),
                "--seed",
                "42",
            ],
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
    rows = sum(p["rows"] for p in store.manifest(root)["partitions"].values())
    print(f"store {root}: {rows:,} rows; {args.repeat} repeats, variants alternating", flush=True)
    results: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for i in range(args.repeat):
        for v in VARIANTS:
            r = run(v, root)
            results[v].append(r)
            print(f"  repeat {i + 1}: {v:22s} {r['seconds']:7.1f} s  peak RSS {r['peak_rss_mb']:6.0f} MB", flush=True)
    floor = statistics.median(r["seconds"] for r in results["floor: no allocation"])
    print(f"\n{'variant':24s} {'median s':>9s} {'x floor':>8s} {'peak RSS MB':>12s}")
    for v in VARIANTS:
        med = statistics.median(r["seconds"] for r in results[v])
        rss = max(r["peak_rss_mb"] for r in results[v])
        print(f"{v:24s} {med:9.1f} {med / floor:8.2f} {rss:12.0f}")


if __name__ == "__main__":
    main()
