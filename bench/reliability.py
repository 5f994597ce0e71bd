"""Reliability figures in one table: ingest fuzzing, writers killed with SIGKILL, two-session races,
the load figures, viewer scopes and hostile inputs.

- Fuzzing: ``--fuzz`` mutants of the committed samples (truncation, byte flips, shifted
  delimiters, huge fields, duplicated headers, mixed currencies, empty files, BOMs, CR LF, UTF-16,
  Latin-1, gzip and a gzip that lies, Parquet with another schema), each staged as ingest does:
  refused (with a message naming the file; how many also name the row), staged with the clean
  file's totals, staged with other totals (only value-altering mutations), or a crash (a
  traceback: always a failure). Count per mutation and outcome.
- Crash safety: ``--kills`` ingests and ``--rebuilds`` rebuilds killed at a random moment of their
  usual run time: the store's rows hash to the state before or after, and the next writer
  publishes (no stale lock, no debris in its way).
- Races: ``--races`` rounds of two real Chromium sessions saving one backlog item and one anomaly
  case, the second from a stale form (tests/reliability/races.py): lost = A's change gone or B
  not told.
- Load: ``--load FILE``, the JSON of ``bench/bench_load.py --json FILE`` (run it on a quiet machine).
- Scopes: ``--scopes`` random viewer scopes (teams and/or sub accounts, period, currency, metric),
  every page function's answer on the store against a copy whose out-of-scope rows are altered
  (the check of tests/test_scope.py): a leak is any answer that differs.
- Hostile inputs: ``--hostile`` runs tests/reliability/test_hostile_input.py and tests/test_exports.py
  and counts the inputs they try.
Baseline, same run: the clean samples staged once each (time per file), and an unkilled ingest and
rebuild (their run time, over which the kill delays are drawn).

    .venv/bin/python bench/reliability.py [--fuzz 1000] [--kills 50] [--rebuilds 10] [--races 5]
        [--scopes 50] [--hostile] [--load load.json] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability import crash, fuzz

SUMMARY: list[tuple[str, str, str]] = []  # (check, tried, outcome) for the closing table


def _fuzz(count: int, seed: int, work: Path) -> bool:
    started = time.perf_counter()
    out = fuzz.run(count, seed, work)
    took = time.perf_counter() - started
    by = Counter((o.mutation, o.kind) for o in out)
    kinds = ("refused", "equal", "changed", "crash")
    print(
        f"\nIngest fuzzing: {count} mutants of {len(fuzz.CLEAN)} samples, {took:.0f} s ({took / count * 1000:.0f} ms each)"
    )
    print(f"{'mutation':16s}" + "".join(f"{k:>9s}" for k in kinds))
    for m in fuzz.MUTATIONS:
        print(f"{m:16s}" + "".join(f"{by[(m, k)]:9d}" for k in kinds))
    total = Counter(o.kind for o in out)
    print(f"{'all':16s}" + "".join(f"{total[k]:9d}" for k in kinds))
    refused = [o for o in out if o.kind == "refused"]
    located = sum("row " in o.detail for o in refused)
    print(f"refusals naming the file: {len(refused)}/{len(refused)}; also naming a row: {located}")
    for o in out:
        if o.kind == "crash":
            print(f"CRASH {o.sample} / {o.mutation}: {o.detail}")
    SUMMARY.append(
        (
            "fuzzed files",
            str(count),
            f"refused {total['refused']} (all naming the file), equal {total['equal']}, "
            f"changed {total['changed']} (value-altering), crash {total['crash']}",
        )
    )
    return total["crash"] == 0


def _kills(ingests: int, rebuilds: int, seed: int, work: Path) -> bool:
    base, expect, took = crash.prepare(work / "prep")
    print(
        f"\nCrash safety: unkilled ingest {took['ingest']:.1f} s, rebuild {took['rebuild']:.1f} s (kill delays drawn over these)"
    )
    rng = random.Random(seed)
    trials = [crash.trial(c, base, expect, took[c], rng, work) for c in ["ingest"] * ingests + ["rebuild"] * rebuilds]
    print(f"{'command':10s}{'trials':>8s}{'before':>8s}{'after':>8s}{'other':>8s}{'next ok':>9s}{'delay p50':>11s}")
    ok = True
    for command in ("ingest", "rebuild"):
        ts = [t for t in trials if t.command == command]
        if not ts:
            continue
        c = Counter(t.state for t in ts)
        nxt = sum(t.recovered for t in ts)
        ok &= c["other"] == 0 and nxt == len(ts)
        survived = sum(t.state != "other" and t.recovered for t in ts)
        SUMMARY.append((f"kills: {command}s", str(len(ts)), f"survived {survived}/{len(ts)}"))
        delay = statistics.median(t.delay for t in ts)
        print(f"{command:10s}{len(ts):8d}{c['before']:8d}{c['after']:8d}{c['other']:8d}{nxt:9d}{delay:10.2f}s")
    return ok


def _demo(work: Path) -> Path:
    """The test suite's demo store (seed 7, end 2026-10-15, 120,000 rows), built once per run."""
    from finops_core.demo import DemoConfig, build_demo
    from tests.conftest import DEMO_END, DEMO_ROWS

    root = work / "demo-store"
    if not (root / "CURRENT").exists():
        build_demo(root, DemoConfig(seed=7, end=DEMO_END, rows=DEMO_ROWS))
    return root


def _races(count: int, work: Path) -> bool:
    from playwright.sync_api import sync_playwright

    from finops_core import access
    from tests.browser import CHROMIUM_FLAGS, serve_app
    from tests.reliability import races

    root, folder, password = _demo(work), work / "race-state", "race-password-1"
    access.create_demo_users(folder / "users.yaml", password)
    db = folder / "state.sqlite"
    results: list[races.Race] = []
    not_run: list[str] = []
    started = time.perf_counter()
    env = {"FINOPS_STATE": str(folder), "FINOPS_DEMO_PASSWORD": password}
    with serve_app(root, env) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        try:
            for i in range(count):
                for run in (races.race_backlog, races.race_case):
                    try:
                        race, b = run(browser, url, db, password, f"r{i}")
                    except Exception as exc:  # a race that could not be run (e.g. a sign-in timed out)
                        print(f"race {i} {run.__name__} not run: {type(exc).__name__}: {str(exc)[:160]}")
                        for ctx in browser.contexts:
                            ctx.close()
                        not_run.append(run.__name__)
                        continue
                    b.context.close()
                    results.append(race)
        finally:
            browser.close()
    took = time.perf_counter() - started
    print(f"\nTwo-session races: {count} x (backlog item, anomaly case), {took:.0f} s")
    print(f"{'page':12s}{'races':>7s}{'told':>7s}{'kept':>7s}{'lost':>7s}")
    for page in ("savings", "anomalies"):
        rs = [r for r in results if r.page == page]
        print(
            f"{page:12s}{len(rs):7d}{sum(r.told for r in rs):7d}{sum(r.kept for r in rs):7d}{sum(r.lost for r in rs):7d}"
        )
    lost = sum(r.lost for r in results)
    extra = f", not run {len(not_run)}" if not_run else ""
    SUMMARY.append(("two-session races", str(len(results)), f"lost updates {lost}{extra}"))
    return lost == 0 and not not_run


def _load(path: Path) -> bool:
    figures = json.loads(path.read_text())
    cases = figures["cases"]
    print(f"\nLoad ({path}): {figures['sessions']} sessions x {figures['rounds']} round(s), {figures['rows']:,} rows")
    print(f"{'case':18s}{'client':>8s}{'loads':>7s}{'p50 s':>8s}{'p95 s':>8s}{'errors':>8s}")
    for name, c in cases.items():
        p50 = f"{c['p50']:8.2f}" if c["p50"] is not None else "       -"
        p95 = f"{c['p95']:8.2f}" if c["p95"] is not None else "       -"
        client = f"{c.get('client', 'browser')} x{c.get('sessions', figures['sessions'])}"
        print(f"{name:18s}{client:>8s}{c['loads']:7d}{p50}{p95}{c['errors']:8d}")
        if "baseline" not in name:
            SUMMARY.append(
                (
                    f"load: {name} ({client})",
                    f"{c['loads']} loads",
                    f"p50 {c['p50'] or 0:.2f} s, p95 {c['p95'] or 0:.2f} s, errors {c['errors']}",
                )
            )
    return all(c["errors"] == 0 for c in cases.values())


def _scopes(count: int, seed: int, work: Path) -> bool:
    from datetime import timedelta

    from finops_core import store
    from finops_core.query import CostQuery, Scope
    from finops_core.schema import C
    from tests import test_scope as check

    root = _demo(work)
    demo = root / "demo"
    con = store.connect(root)
    first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchone()  # type: ignore[misc]
    subs = sorted(r[0] for r in con.execute(f"SELECT DISTINCT {C.SubAccountId} FROM daily").fetchall())
    rng = random.Random(seed)
    leaks: list[str] = []
    started = time.perf_counter()
    for _ in range(count):
        teams = tuple(rng.sample(check.TEAMS, rng.randint(1, 3))) if rng.random() < 0.6 else None
        accounts = tuple(rng.sample(subs, rng.randint(1, 2))) if teams is None or rng.random() < 0.4 else None
        scope = Scope(teams, accounts)
        days, back = rng.randint(7, 120), rng.randint(0, 200)
        end = last - timedelta(days=back)
        q = CostQuery(
            end - timedelta(days=days - 1),
            end,
            filters=((C.BillingCurrency, (rng.choice(["USD", "EUR"]),)),),
            metric=rng.choice([C.EffectiveCost, C.BilledCost]),
            scope=scope,
        )
        marked = check._marked(root, scope)
        try:
            want = check._page_calls(con, q, last, demo / "budgets.csv") | check._savings_calls(
                con, q, first, last, demo / "backlog.csv"
            )
            got = check._page_calls(marked, q, last, demo / "budgets.csv") | check._savings_calls(
                marked, q, first, last, demo / "backlog.csv"
            )
        finally:
            marked.close()
        for name in want:
            try:
                check._assert_same(check._canonical(got[name]), check._canonical(want[name]), name)
            except AssertionError:
                leaks.append(f"{scope.key()} {q.start}..{q.end}: {name}")
    con.close()
    took = time.perf_counter() - started
    print(f"\nScopes: {count} random viewer scopes x {len(want)} page answers, {took:.0f} s; leaks: {len(leaks)}")
    for leak in leaks[:20]:
        print(f"LEAK {leak}")
    SUMMARY.append(("viewer scopes", str(count), f"leaks {len(leaks)}"))
    return not leaks


def _hostile() -> bool:
    from tests.reliability import test_hostile_input as hostile

    files = ["tests/reliability/test_hostile_input.py", "tests/test_exports.py"]
    cmd = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider"]
    out = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, env=os.environ)
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|error)", out.stdout)}
    tried = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("error", 0)
    failed = counts.get("failed", 0) + counts.get("error", 0)
    print(
        f"\nHostile inputs: {len(hostile.HOSTILE)} hostile values through 5 filter dimensions, scopes and the CLI, "
        f"tag keys, upload names, formula cells: {tried} cases, {failed} failed"
    )
    SUMMARY.append(("hostile inputs", str(tried), f"treated as data {tried - failed}, failed {failed}"))
    return failed == 0 and tried > 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fuzz", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--rebuilds", type=int, default=10)
    ap.add_argument("--races", type=int, default=0, help="two-session races per page (real Chromium)")
    ap.add_argument("--scopes", type=int, default=0, help="random viewer scopes to check for leaks")
    ap.add_argument("--hostile", action="store_true", help="run the hostile-input checks")
    ap.add_argument("--load", type=Path, help="bench_load.py --json output to include")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="finops-reliability-") as tmp:
        work = Path(tmp)
        ok = _fuzz(args.fuzz, args.seed, work / "fuzz") if args.fuzz else True
        ok &= _kills(args.kills, args.rebuilds, args.seed, work / "kills") if args.kills + args.rebuilds else True
        ok &= _races(args.races, work) if args.races else True
        ok &= _load(args.load) if args.load else True
        ok &= _scopes(args.scopes, args.seed, work) if args.scopes else True
        ok &= _hostile() if args.hostile else True
    print("\nIssue 22, in one table")
    print(f"{'check':22s}{'tried':>12s}  outcome")
    for check, tried, outcome in SUMMARY:
        print(f"{check:22s}{tried:>12s}  {outcome}")
    print("\nall held" if ok else "\nFAILURES above")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
