"""A one-day incremental publish against a full rebuild of the same store, in one run.

Works on a hard-linked copy of ``--store`` (its Parquet files are never written). Each step is a
child process reporting its wall time and peak RSS:
- full: ``store.rebuild`` (every period aggregated again, what a rules change costs);
- one day: a publish that adds one day's rows as a new file in the last billing period (what a
  daily export costs); every other period's rollups are copied from the parent;
- one day, full: the same publish with the parent's rollups unusable (``pub.full``), the baseline.

    .venv/bin/python bench/bench_publish.py --store /work/stores/s42-10m [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from finops_core import store

STEPS = ("full rebuild", "one day, incremental", "one day, full")


def child(step: str, root: Path) -> None:
    import polars as pl

    from finops_core.schema import C

    started = time.perf_counter()
    if step == "full rebuild":
        store.rebuild(root, note="bench: full rebuild")
    else:
        files = store.partition_files(root)
        last = sorted(files)[-1]
        period = Path(last).parent.name.split("=", 1)[1]
        rows = pl.read_parquet(last, hive_partitioning=False)
        day = rows[C.ChargePeriodStart].max()
        new_day = rows.filter(pl.col(C.ChargePeriodStart) == day)
        with store.publish(root, note=f"bench: {step}") as pub:
            pub.full = step == "one day, full"
            pub.write(period, f"bench-day-{time.time_ns()}", new_day)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"s": time.perf_counter() - started, "rss": rss}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.store)
        return
    with tempfile.TemporaryDirectory(prefix="bench-publish-", dir=args.store.parent) as tmp:
        root = Path(tmp) / "store"
        subprocess.run(["cp", "-al", str(args.store), str(root)], check=True)
        for link in root.rglob("rollups.duckdb"):  # DuckDB files are written in place: copy, not link
            shutil.copy2(link, link.with_suffix(".tmp"))
            link.with_suffix(".tmp").replace(link)
        rows = sum(int(p["rows"]) for p in store.manifest(root)["partitions"].values())
        print(f"store {args.store} ({rows:,} rows), repeat {args.repeat}")
        if store.is_outdated(root):
            print("(outdated schema: a first full rebuild brings it up to date)")
            _run("full rebuild", root)
        results: dict[str, list[dict[str, float]]] = {s: [] for s in STEPS}
        for _ in range(args.repeat):  # steps alternate within a repeat: the machine's noise hits each alike
            for step in STEPS:
                results[step].append(_run(step, root))
        full = statistics.median(r["s"] for r in results["full rebuild"])
        print(f"{'step':<24}{'median s':>10}{'min s':>8}{'peak RSS MB':>13}{'vs full rebuild':>17}")
        for step, runs in results.items():
            med = statistics.median(r["s"] for r in runs)
            print(
                f"{step:<24}{med:>10.1f}{min(r['s'] for r in runs):>8.1f}"
                f"{max(r['rss'] for r in runs):>13.0f}{med / full:>16.0%}"
            )


def _run(step: str, root: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", step, "--store", str(root)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
