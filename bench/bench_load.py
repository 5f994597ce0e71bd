"""Concurrent sessions: time to first chart and errors with N users at once.

What: ``--sessions`` users at once, each signed in (the auth cookie of one form sign-in, as
returning users), open Spend, Allocation and Forecast one after another, ``--rounds`` times.
Per load: seconds to the first chart, and errors: an exception, the login form instead of the
page (a session not restored from its cookie), or no chart within ``--timeout``.

Two clients, in the same run:
- ``ws`` (``bench/st_client.py``): each load opens the app's websocket as a new browser tab does
  and times the server's answer (first chart element sent, run finished). This is what the
  server holds: the load generator costs a few ms per load, so 20 sessions measure the app, not
  20 browsers on the same two cores.
- ``browser``: Playwright contexts in one headless Chromium (the probe of ``bench_browser.py``:
  first chart drawn). Run at ``--browser-sessions`` (default 2): twenty Chromium renderers on
  two cores measure Chromium (a one-chart app took 69 s p50 that way), so the browser case says
  what drawing adds on top of the server's answer, at a concurrency the machine can hold.

Cases: the baseline (``bench/baseline_app.py``, one Altair chart: the Streamlit floor) and the
app idle, each with both clients; with ``--with-ingest``, also the app while real
``python -m finops_core ingest`` runs of the committed samples publish new versions all through
the round. ``--servers K`` starts K app processes on the same store and state folder and spreads
the sessions over them round-robin, as the proxy setup of docs/reliability.md does (sticky
sessions). Prints p50/p95 and the error count per case; ``--json FILE`` keeps them for
``bench/reliability.py --load FILE``. Bounded: every load times out, every round ends.
Target (issue 22): p95 < 2 s at the default demo size, 0 errors.

    .venv/bin/python bench/bench_load.py [--sessions 20] [--rounds 3] [--with-ingest] [--servers 1]
                                         [--browser-sessions 2] [--json load.json]
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
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, async_playwright
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import st_client
from bench.bench_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, PROBE, ROOT, ensure_store, serve, sign_in

PAGES = ("spend", "allocation", "forecast")
MAX_ROUNDS = 30  # the with-ingest case: bounded even if the ingests stall


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


async def _browser_round(urls: list[str], auth: Any, sessions: int, timeout_s: float) -> list[Result]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            runs = await asyncio.gather(*[_session(browser, urls, auth, timeout_s) for _ in range(sessions)])
        finally:
            await browser.close()
    return [r for run in runs for r in run]


async def _ws_session(server: str, pages: list[str], cookie: str, timeout_s: float) -> list[Result]:
    out: list[Result] = []
    for page in pages:
        done = await st_client.load(server, page, cookie, timeout_s)
        out.append((None if done.error else done.chart, f"{page}: {done.error}" if done.error else ""))
    return out


async def _ws_round(servers: list[str], pages: list[str], cookie: str, sessions: int, timeout_s: float) -> list[Result]:
    """``sessions`` users at once, user i on server i mod len(servers) (sticky, as behind the proxy)."""
    runs = await asyncio.gather(
        *[_ws_session(servers[i % len(servers)], pages, cookie, timeout_s) for i in range(sessions)]
    )
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


@dataclass
class Case:
    """How one case loads its pages: the servers, the page paths, the sign-in."""

    servers: list[str]
    pages: list[str]
    auth: Any  # Playwright storage state, None for the baseline
    cookie: str  # the same cookie as a Cookie header, '' for the baseline


def _rounds(
    case: Case, client: str, sessions: int, args: argparse.Namespace, more: Callable[[], bool] = lambda: False
) -> list[Result]:
    """``args.rounds`` rounds, then more while ``more()`` says so (at most MAX_ROUNDS in all)."""
    out: list[Result] = []
    done = 0
    while done < args.rounds or (more() and done < MAX_ROUNDS):
        done += 1
        if client == "ws":
            out += asyncio.run(_ws_round(case.servers, case.pages, case.cookie, sessions, args.timeout))
        else:
            urls = [case.servers[0] + p for p in case.pages]
            out += asyncio.run(_browser_round(urls, case.auth, sessions, args.timeout))
    return out


def _cookie_header(auth: Any) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in auth["cookies"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--with-ingest", action="store_true", help="also a case with CLI ingests publishing")
    ap.add_argument("--min-ingests", type=int, default=3, help="with --with-ingest: rounds until this many published")
    ap.add_argument("--json", type=Path, help="write the figures here (for reliability.py --load)")
    ap.add_argument("--rows", type=int, default=1_500_000)
    ap.add_argument("--end", default="2026-11-30")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/finops-bench-load"))
    ap.add_argument("--servers", type=int, default=1, help="app processes sharing the store and state")
    ap.add_argument("--browser-sessions", type=int, default=2, help="concurrent Chromium sessions (0: none)")
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
        f"{args.sessions} concurrent sessions (ws) / {args.browser_sessions} (browser) x {len(PAGES)} pages x "
        f"{args.rounds} round(s), {args.servers} server process(es), {args.rows:,} demo rows; "
        "seconds to first chart, after one untimed warm-up load of each page per server"
    )
    print(f"{'case':34s}{'loads':>7s}{'p50':>7s}{'p95':>7s}{'errors':>8s}")
    cases: dict[str, dict[str, Any]] = {}

    def run(key: str, label: str, case: Case, client: str, more: Callable[[], bool] = lambda: False) -> None:
        sessions = args.sessions if client == "ws" else args.browser_sessions
        if sessions > 0:
            results = _rounds(case, client, sessions, args, more)
            cases[key] = _stats(results) | {"client": client, "sessions": sessions}
            _line(f"{label} · {client} x{sessions}", cases[key])

    with ExitStack() as stack:
        servers = [stack.enter_context(serve("bench/baseline_app.py", env, log)) for _ in range(args.servers)]
        base = Case(servers, [""] * len(PAGES), None, "")
        _warm_up(base, args.timeout)
        run("baseline", "baseline (one-chart app)", base, "ws")
        run("browser_baseline", "baseline (one-chart app)", base, "browser")
    with ExitStack() as stack:
        servers = [stack.enter_context(serve("app.py", env, log)) for _ in range(args.servers)]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            auth = sign_in(browser, servers[0])
            browser.close()
        app = Case(servers, list(PAGES), auth, _cookie_header(auth))
        warm = _warm_up(app, args.timeout)
        print(f"{'':34s}  warm-up (first run after the start, per server and page): {warm}")
        run("idle", "app, idle", app, "ws")
        run("browser_idle", "app, idle", app, "browser")
        if args.with_ingest:
            stop, count, failed = threading.Event(), [0], []
            worker = threading.Thread(target=_publishing, args=(store, stop, count, failed))
            worker.start()
            try:
                # rounds go on until --min-ingests versions were published while sessions loaded
                run("with_ingest", "app, CLI ingests publishing", app, "ws", lambda: count[0] < args.min_ingests)
            finally:
                stop.set()
                worker.join()
            cases["with_ingest"] |= {"ingests": count[0], "ingests_failed": failed}
            rounds = cases["with_ingest"]["loads"] // (args.sessions * len(PAGES))
            print(f"{'':34s}  {count[0]} ingests published during the {rounds} rounds")
            for f in failed:
                print(f"{'':34s}  ingest refused: {f}")
    if args.json:
        figures = {
            "sessions": args.sessions,
            "browser_sessions": args.browser_sessions,
            "servers": args.servers,
            "rounds": args.rounds,
            "rows": args.rows,
            "cases": cases,
        }
        args.json.write_text(json.dumps(figures, indent=2))


def _warm_up(case: Case, timeout_s: float) -> str:
    """One untimed load of each page on each server; returns their seconds to run finished."""
    times = []
    for server in case.servers:
        for page in dict.fromkeys(case.pages):
            done = asyncio.run(st_client.load(server, page, case.cookie, max(timeout_s, 300)))
            times.append(f"{page or '/'} {done.done:.1f} s" if done.done is not None else f"{page or '/'} {done.error}")
    return ", ".join(times)


if __name__ == "__main__":
    main()
