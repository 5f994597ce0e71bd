"""Drilldown query latency of finops_core vs a plain pandas read-and-groupby, at 1M and 10M rows.

For each size it builds (or reuses) a seeded demo store, then runs four questions over the last
30 days of data (EffectiveCost): the total, a daily series by service (last 90 days), a breakdown
by team (the x_Team allocation column and the raw ``tag:team`` key) and the top 20 resources.
finops_core is timed warm (repeats on one connection) and cold (first run on a new
``store.connect()``; the OS page cache cannot be dropped, so cold = new connection); pandas is
timed as ``read_parquet`` of the needed columns plus the groupby. Build, query and pandas each run
in their own child process, which reports its own peak RSS. Target: every query <= 100 ms warm
at 10M rows.

    .venv/bin/python bench/bench_queries.py [--sizes 1000000,10000000] [--repeat 5] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
import polars as pl

from finops_core import drilldown, store
from finops_core.query import CostQuery, compile_where
from finops_core.schema import C

SEED = 42
TEAM_RE = r'"(?i:team|owner-team)":\s*"([^"]*)"'
QUESTIONS = ("total", "series_by_service", "team_x_Team", "team_tag_raw", "top20_resources")
LABELS = {
    "total": "total (30d)",
    "series_by_service": "daily series by ServiceName (90d)",
    "team_x_Team": "breakdown x_Team top 10 (30d)",
    "team_tag_raw": "cost_by_dimension tag:team raw (30d)",
    "top20_resources": "top 20 ResourceId (30d)",
}
PANDAS_FOR = {"team_x_Team": "team", "team_tag_raw": "team"}  # both answered by the one regex baseline


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def periods(end: date) -> tuple[date, date]:
    """(start of the last 30 days, start of the last 90 days)."""
    return end - timedelta(days=29), end - timedelta(days=89)


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - t) * 1000, out


def core_questions(end: date) -> dict[str, tuple[Callable[[Any], pl.DataFrame], str]]:
    """Question -> (function of a connection, view the query layer picks)."""
    s30, s90 = periods(end)
    q = CostQuery(start=s30, end=end, metric=C.EffectiveCost)
    qs = CostQuery(start=s90, end=end, grain="day", metric=C.EffectiveCost)
    tag = replace(q, group_by=("tag:team",))
    res = replace(q, group_by=(C.ResourceId,))
    return {
        "total": (lambda con: drilldown.total(con, q), compile_where(q)[0]),
        "series_by_service": (
            lambda con: drilldown.timeseries(con, qs, C.ServiceName),
            compile_where(qs, (C.ServiceName,))[0],
        ),
        "team_x_Team": (
            lambda con: drilldown.breakdown(con, q, C.x_Team, top_n=10),
            compile_where(replace(q, group_by=(C.x_Team,)))[0],
        ),
        "team_tag_raw": (lambda con: drilldown.cost_by_dimension(con, tag), compile_where(tag)[0]),
        "top20_resources": (lambda con: drilldown.cost_by_dimension(con, res, limit=20), compile_where(res)[0]),
    }


def child_build(root: Path, rows: int, end: date) -> dict[str, Any]:
    from finops_core.demo import DemoConfig, build_demo

    ms, summary = timed(lambda: build_demo(root, DemoConfig(seed=SEED, end=end, rows=rows)))
    return {"build_s": ms / 1000, "rows": summary["rows"], "rss_mb": peak_rss_mb()}


def child_queries(root: Path, end: date, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {"questions": {}}
    connect_ms = []
    for name, (fn, view) in core_questions(end).items():
        cold = []
        for _ in range(repeat):
            ms, con = timed(store.connect, root)
            connect_ms.append(ms)
            cold.append(timed(fn, con)[0])
            con.close()
        con = store.connect(root)
        result = fn(con)
        warm = [timed(fn, con)[0] for _ in range(repeat)]
        con.close()
        check = float(result[C.EffectiveCost].sum())
        out["questions"][name] = {
            "warm": statistics.median(warm),
            "cold": statistics.median(cold),
            "view": view,
            "check": check,
        }
    out["connect_ms"] = statistics.median(connect_ms)
    out["rss_mb"] = peak_rss_mb()
    return out


def pandas_questions(files: list[str], end: date) -> dict[str, Callable[[], float]]:
    """Question -> read + groupby in plain pandas, returning the same checksum as finops_core."""
    s30, s90 = periods(end)
    lo30, lo90 = pd.Timestamp(s30, tz="UTC"), pd.Timestamp(s90, tz="UTC")
    hi = pd.Timestamp(end + timedelta(days=1), tz="UTC")
    cur, cost, when = C.BillingCurrency, C.EffectiveCost, C.ChargePeriodStart

    def read(cols: list[str], lo: pd.Timestamp) -> pd.DataFrame:
        df = pd.read_parquet(files, columns=[when, cur, cost, *cols])
        return df[(df[when] >= lo) & (df[when] < hi)]

    def total() -> float:
        return float(read([], lo30).groupby(cur)[cost].sum().sum())

    def series() -> float:
        df = read([C.ServiceName], lo90)
        day = df[when].dt.floor("D")
        return float(df.groupby([day, C.ServiceName, cur], dropna=False)[cost].sum().sum())

    def team() -> float:
        df = read([C.Tags], lo30)
        key = df[C.Tags].str.extract(TEAM_RE, expand=False).fillna("Unallocated")
        return float(df.groupby([key, df[cur]])[cost].sum().sort_values(ascending=False).sum())

    def top20() -> float:
        df = read([C.ResourceId], lo30)
        by = df.groupby([C.ResourceId, cur], dropna=False)[cost].sum()
        return float(by.sort_values(ascending=False).head(20).sum())

    return {"total": total, "series_by_service": series, "team": team, "top20_resources": top20}


def child_pandas(root: Path, end: date, repeat: int) -> dict[str, Any]:
    files = store.partition_files(root)
    out: dict[str, Any] = {"questions": {}}
    for name, fn in pandas_questions(files, end).items():
        runs = [timed(fn) for _ in range(repeat)]
        out["questions"][name] = {"median": statistics.median(r[0] for r in runs), "check": runs[0][1]}
    out["rss_mb"] = peak_rss_mb()
    return out


def run_child(mode: str, root: Path, args: argparse.Namespace, rows: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--child-root", str(root), "--rows", str(rows)]
    cmd += ["--repeat", str(args.repeat), "--end", args.end.isoformat()]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} child failed for {rows} rows:\n{proc.stderr[-3000:]}")
    doc: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc


def is_built(root: Path, rows: int, end: date) -> bool:
    if store.current_version(root) is None:
        return False
    want = f"seed={SEED};end={end};rows={rows}"
    return any(s.get("kind") == "demo" and s.get("config") == want for s in store.manifest(root)["sources"])


def report(rows: int, root: Path, build: dict[str, Any] | None, core: dict[str, Any], pds: dict[str, Any]) -> None:
    actual = sum(p["rows"] for p in store.manifest(root)["partitions"].values())
    print(f"\n=== demo rows={rows:,} (actual {actual:,} rows, {len(store.partition_files(root))} files) {root}")
    if build:
        when = "this run" if build.get("fresh") else "recorded when the reused store was built; --rebuild to redo"
        print(f"build: {build['build_s']:.1f} s, peak RSS {build['rss_mb']:.0f} MB ({when})")
    else:
        print("build: reused existing store, no build figures recorded (--rebuild to measure)")
    head = f"{'question':38} {'view':15} {'warm ms':>9} {'cold ms':>9} {'pandas ms':>10} {'pd/warm':>8} {'check':>6}"
    print(head + "\n" + "-" * len(head))
    for name in QUESTIONS:
        c = core["questions"][name]
        p = pds["questions"][PANDAS_FOR.get(name, name)]
        same = abs(c["check"] - p["check"]) <= 1e-6 * max(1.0, abs(p["check"]))
        flag = "!" if c["warm"] > 100 else " "
        print(
            f"{LABELS[name]:38} {c['view']:15} {c['warm']:9.1f}{flag}{c['cold']:9.1f} {p['median']:10.1f} "
            f"{p['median'] / c['warm']:7.1f}x {'ok' if same else 'DIFF':>6}"
        )
    print(
        f"(! = over 100 ms warm; cold = first run on a new store.connect(), OS cache warm; median connect() {core['connect_ms']:.1f} ms)"
    )
    print("(check = sum of EffectiveCost in the answer equals pandas'; team rows share one regex baseline)")
    print(f"peak RSS: query process {core['rss_mb']:.0f} MB, pandas process {pds['rss_mb']:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000", help="comma-separated demo row counts")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/finops-bench"))
    ap.add_argument("--end", type=date.fromisoformat, default=date(2026, 10, 31))
    ap.add_argument("--rebuild", action="store_true", help="rebuild the stores even if they match")
    ap.add_argument("--child", choices=("build", "queries", "pandas"), help=argparse.SUPPRESS)
    ap.add_argument("--child-root", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        root = args.child_root
        if args.child == "build":
            doc = child_build(root, args.rows, args.end)
        elif args.child == "queries":
            doc = child_queries(root, args.end, args.repeat)
        else:
            doc = child_pandas(root, args.end, args.repeat)
        print(json.dumps(doc))
        return
    print(f"finops_core drilldown vs pandas; seed={SEED} end={args.end} repeat={args.repeat} (medians)")
    for rows in (int(s) for s in args.sizes.split(",") if s.strip()):
        root = args.workdir / f"rows-{rows}"
        record = args.workdir / f"rows-{rows}.build.json"
        if args.rebuild or not is_built(root, rows, args.end):
            shutil.rmtree(root, ignore_errors=True)
            print(f"building {rows:,}-row demo in {root} ...", flush=True)
            build: dict[str, Any] | None = run_child("build", root, args, rows)
            record.write_text(json.dumps(build))
            build = {**(build or {}), "fresh": True}
        else:
            build = json.loads(record.read_text()) if record.exists() else None
        core = run_child("queries", root, args, rows)
        pds = run_child("pandas", root, args, rows)
        report(rows, root, build, core, pds)


if __name__ == "__main__":
    main()
