"""Every page's first load as the app runs it: cold and warm, its finops_core calls, peak RSS.

    .venv/bin/python bench/bench_pages.py --store DIR [--user admin] [--pages spend,overview]
        [--repeat 5] [--rows N --seed S --end YYYY-MM-DD]

Each page runs in its own child process (so "cold" is a server start: empty Streamlit caches and
no DuckDB connection yet; the OS file cache is whatever the machine holds) through Streamlit's
AppTest, signed in as ``--user``: one cold run, then ``--repeat`` reruns whose median is "warm".
Every public finops_core function is wrapped before the app is imported, so the table lists the
calls the page's first load made from the page itself (outermost calls only), with their time.
Beside them, in the same run: a one-chart Streamlit page (bench/baseline_app.py) run the same way,
and a raw DuckDB scan of the version's Parquet answering the Spend page's headline question
(this month's cost by service). Peak RSS is the child's maximum resident set.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import pkgutil
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_calls: dict[str, list[float]] = defaultdict(list)
_depth = [0]
_max_depth = [1]


def _wrap(name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if _depth[0] >= _max_depth[0]:
            return fn(*args, **kwargs)
        _depth[0] += 1
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _depth[0] -= 1
            _calls[name].append((time.perf_counter() - started) * 1000)

    return timed


def _instrument() -> None:
    """Wrap every public function of every finops_core module (outermost calls are recorded)."""
    import finops_core

    for info in pkgutil.walk_packages(finops_core.__path__, "finops_core."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for attr, value in list(vars(module).items()):
            if attr.startswith("_") or not callable(value) or isinstance(value, type):
                continue
            if getattr(value, "__module__", None) == module.__name__ and hasattr(value, "__code__"):
                setattr(module, attr, _wrap(f"{info.name.removeprefix('finops_core.')}.{attr}", value))


def _child(page: str, user: str, repeat: int) -> dict[str, Any]:
    from streamlit.testing.v1 import AppTest

    if page == "baseline":
        import altair  # noqa: F401  (imports are outside the timing on both sides)

        at = AppTest.from_file(str(ROOT / "bench" / "baseline_app.py"), default_timeout=600)
    else:
        _instrument()
        from finops_core import access

        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.session_state["authentication_status"] = True
        at.session_state["username"] = user
        at.session_state["name"] = user
        at.session_state["roles"] = [access.DEMO_USERS[user][1]]
        at.session_state["logout"] = False
        at.switch_page(f"views/{page}.py")
    started = time.perf_counter()
    at.run()
    cold = (time.perf_counter() - started) * 1000
    first_calls = {name: sum(times) for name, times in _calls.items()}
    warm = []
    for _ in range(repeat):
        started = time.perf_counter()
        at.run()
        warm.append((time.perf_counter() - started) * 1000)
    errors = [str(e.value)[:120] for e in at.exception] + [str(e.value)[:120] for e in at.error]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"cold": cold, "warm": statistics.median(warm), "calls": first_calls, "rss": rss_mb, "errors": errors}


def _raw_scan(store_root: Path, repeat: int) -> dict[str, Any]:
    import duckdb

    from finops_core import store

    version = store.current_version(store_root)
    assert version is not None
    files = store.partition_files(store_root, version)
    con = duckdb.connect()
    last = con.execute("SELECT max(ChargePeriodStart)::DATE FROM read_parquet($f)", {"f": files})
    month_start = last.fetchall()[0][0].replace(day=1)
    sql = (
        "SELECT ServiceName, sum(BilledCost) FROM read_parquet($f) "
        "WHERE ChargePeriodStart >= $s AND BillingCurrency = 'USD' GROUP BY 1"
    )
    params = {"f": files, "s": month_start}
    times = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        con.execute(sql, params).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"cold": times[0], "warm": statistics.median(times[1:]), "calls": {}, "rss": rss_mb, "errors": []}


def _run_child(args: argparse.Namespace, page: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", page, "--store", str(args.store), "--user", args.user]
    cmd += ["--depth", str(args.depth)]
    env = os.environ | {"FINOPS_STORE": str(args.store)}
    done = subprocess.run([*cmd, "--repeat", str(args.repeat)], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode:
        return {"cold": float("nan"), "warm": float("nan"), "calls": {}, "rss": 0.0, "errors": [done.stderr[-300:]]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _print(rows: list[tuple[str, dict[str, Any]]], top_n: int) -> None:
    print(f"{'page':<13}{'cold ms':>10}{'warm ms':>10}{'RSS MB':>8}  slowest first-load calls (ms)")
    for page, r in rows:
        top = sorted(r["calls"].items(), key=lambda kv: -kv[1])[:top_n]
        calls = ", ".join(f"{name} {ms:.0f}" for name, ms in top)
        print(f"{page:<13}{r['cold']:>10.0f}{r['warm']:>10.0f}{r['rss']:>8.0f}  {calls}")
        for err in r["errors"]:
            print(f"{'':<13}ERROR {err}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path("/tmp/bench-pages"))
    parser.add_argument("--user", default="admin")
    parser.add_argument("--pages", help="comma-separated page keys (default: every page the user may open)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 30))
    parser.add_argument("--depth", type=int, default=1, help="record calls this deep (default 1: the page's own)")
    parser.add_argument("--top", type=int, default=4, help="how many of the slowest calls to list")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _max_depth[0] = args.depth
        result = _raw_scan(args.store, args.repeat) if args.child == "raw" else None
        print(json.dumps(result or _child(args.child, args.user, args.repeat)))
        return
    from bench.common import ensure_demo
    from finops_core import access, store

    ensure_demo(args.store, args.rows, args.seed, args.end)
    state = tempfile.TemporaryDirectory(prefix="bench-pages-state-")  # demo users and audit log of this run
    os.environ.setdefault("FINOPS_STATE", state.name)
    role = access.DEMO_USERS[args.user][1]
    pages = args.pages.split(",") if args.pages else [p for p, roles in access.PAGE_ROLES.items() if role in roles]
    version = store.current_version(args.store)
    rows = sum(int(p["rows"]) for p in store.manifest(args.store, version)["partitions"].values())
    print(f"store {args.store} version {version} ({rows:,} rows), user {args.user}, repeat {args.repeat}")
    results = [(name, _run_child(args, name)) for name in ["raw", "baseline", *pages]]
    _print(results, args.top)
    warm = [r["warm"] for name, r in results if name not in ("raw", "baseline")]
    print(f"pages: warm median {statistics.median(warm):.0f} ms, max {max(warm):.0f} ms")


if __name__ == "__main__":
    main()
