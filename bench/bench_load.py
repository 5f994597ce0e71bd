"""Concurrent browser sessions: time to first chart and errors with N users at once.

What: ``--sessions`` Playwright contexts in one headless Chromium on 127.0.0.1, each signed in
(the auth cookie of one form sign-in, as returning users), open Spend, Allocation and Forecast one
after another, all sessions at once, ``--rounds`` times. Per load: seconds from ``goto`` to the
first drawn chart (the probe of ``bench_browser.py``), and errors: an exception box, the login form
instead of the page (a session not restored from its cookie), or no chart within ``--timeout``.
Cases on one server: idle, and (``--with-ingest``) with real ``python -m finops_core ingest`` runs
of the committed samples publishing new data versions all through the round. Baseline, same run:
the same sessions loading ``bench/baseline_app.py`` (one Altair chart, the Streamlit + Chromium
floor). Prints p50/p95 and the error count per case; ``--json FILE`` keeps them for
``bench/reliability.py --load FILE``. Bounded: every load times out, every round ends.
Target (issue 22): p95 < 2 s at the default demo size, 0 errors.

    .venv/bin/python bench/bench_load.py [--sessions 20] [--rounds 3] [--with-ingest] [--json load.json]
                                         [--rows 1500000] [--timeout 90]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, async_playwright
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, PROBE, ROOT, ensure_store, serve, sign_in

PAGES = ("spend", "allocation", "forecast")


READY = """() => window.__bench.chart !== undefined || window.__bench.exc !== undefined
  || document.querySelector('input[aria-label="Username"]') !== null"""
Result = tuple[float | None, str]  # (seconds to first chart, error text or "")


async def _one(browser: Browser, url: str, auth: Any, timeout_s: float) -> Result:
    ctx = await browser.new_context(viewport={"width": 1440, "height": 1000}, storage_state=auth)
    await ctx.add_init_script(PROBE)
    page = await ctx.new_page()
    try:
        t0 = time.time() * 1000
        await page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
        try:
            await page.wait_for_function(READY, timeout=timeout_s * 1000)
        except Exception:
            return None, f"no chart within {timeout_s:.0f} s"
        marks = await page.evaluate("() => window.__bench")
        if "exc" in marks:
            return None, "exception: " + " ".join(str(marks["exc"]).split())[:120]
        if "chart" not in marks:
            return None, "login form instead of the page"
        return (marks["chart"] - t0) / 1000, ""
    except Exception as exc:  # a navigation that failed outright is an error of this load, not of the bench
        return None, f"load failed: {type(exc).__name__}"
    finally:
        await ctx.close()


async def _session(browser: Browser, urls: list[str], auth: Any, timeout_s: float) -> list[Result]:
    return [await _one(browser, u, auth, timeout_s) for u in urls]


async def _round(urls: list[str], auth: Any, sessions: int, timeout_s: float) -> list[Result]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            runs = await asyncio.gather(*[_session(browser, urls, auth, timeout_s) for _ in range(sessions)])
        finally:
            await browser.close()
    return [r for run in runs for r in run]


INGEST_FILES = [
    ROOT / "tests" / "data" / "ingest" / n
    for n in ("aws-cur2-fixture.csv", "azure-mca-fixture-actual.csv", "finops-toolkit-EA_ActualCost_Small.csv")
]


def _publishing(store: Path, stop: threading.Event, count: list[int], failed: list[str]) -> None:
    """Real CLI ingests, one after another, until the round ends: each publishes a new version."""
    for sample in itertools.cycle(INGEST_FILES):
        if stop.is_set():
            return
        cmd = [sys.executable, "-m", "finops_core", "ingest", "--store", str(store), str(sample)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
        count[0] += 1
        if done.returncode != 0:
            failed.append(f"{sample.name}: {done.stderr.strip().splitlines()[-1:] or done.returncode}")


def _stats(results: list[Result]) -> dict[str, Any]:
    times = sorted(t for t, _ in results if t is not None)
    errors = [e for _, e in results if e]
    return {
        "loads": len(results),
        "p50": statistics.median(times) if times else None,
        "p95": times[min(len(times) - 1, int(0.95 * len(times)))] if times else None,
        "errors": len(errors),
        "error_kinds": {e: errors.count(e) for e in sorted(set(errors))},
    }


def _line(name: str, stats: dict[str, Any], extra: str = "") -> None:
    p50 = f"{stats['p50']:7.2f}" if stats["p50"] is not None else "      -"
    p95 = f"{stats['p95']:7.2f}" if stats["p95"] is not None else "      -"
    print(f"{name:34s}{stats['loads']:7d}{p50}{p95}{stats['errors']:8d}  {extra}", flush=True)
    for e, n in stats["error_kinds"].items():
        print(f"{'':34s}  {n} x {e}")


def _rounds(urls: list[str], auth: Any, args: argparse.Namespace) -> list[Result]:
    return [r for _ in range(args.rounds) for r in asyncio.run(_round(urls, auth, args.sessions, args.timeout))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--with-ingest", action="store_true", help="also a case with CLI ingests publishing")
    ap.add_argument("--json", type=Path, help="write the figures here (for reliability.py --load)")
    ap.add_argument("--rows", type=int, default=1_500_000)
    ap.add_argument("--end", default="2026-11-30")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/finops-bench-load"))
    args = ap.parse_args()
    state_dir, log = args.workdir / "state", args.workdir / "server.log"
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    built = ensure_store(args.workdir, args.rows, args.end)
    store = args.workdir / "live"  # the ingests publish into a copy: every run starts from the same demo
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(built, store, symlinks=True)
    env = {
        "FINOPS_STATE": str(state_dir),
        "FINOPS_DEMO_PASSWORD": PASSWORD,
        "FINOPS_AUTH_FILE": "",
        "FINOPS_STORE": str(store),
    }
    print(
        f"{args.sessions} concurrent sessions x {len(PAGES)} pages x {args.rounds} round(s), {args.rows:,} demo rows; "
        "seconds to first chart"
    )
    print(f"{'case':34s}{'loads':>7s}{'p50':>7s}{'p95':>7s}{'errors':>8s}")
    cases: dict[str, dict[str, Any]] = {}
    with serve("bench/baseline_app.py", env, log) as url:
        cases["baseline"] = _stats(_rounds([url] * len(PAGES), None, args))
        _line("baseline (one-chart app)", cases["baseline"])
    with serve("app.py", env, log) as url:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            auth = sign_in(browser, url)
            browser.close()
        urls = [url + p for p in PAGES]
        cases["idle"] = _stats(_rounds(urls, auth, args))
        _line("app, idle", cases["idle"])
        if args.with_ingest:
            stop, count, failed = threading.Event(), [0], []
            worker = threading.Thread(target=_publishing, args=(store, stop, count, failed))
            worker.start()
            try:
                results = _rounds(urls, auth, args)
            finally:
                stop.set()
                worker.join()
            cases["with_ingest"] = _stats(results) | {"ingests": count[0], "ingests_failed": failed}
            _line("app, CLI ingests publishing", cases["with_ingest"], f"({count[0]} ingests during the rounds)")
            for f in failed:
                print(f"{'':34s}  ingest refused: {f}")
    if args.json:
        figures = {"sessions": args.sessions, "rounds": args.rounds, "rows": args.rows, "cases": cases}
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
