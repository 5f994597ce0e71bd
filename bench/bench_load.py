"""Concurrent browser sessions: time to first chart and errors with N users at once.

What: ``--sessions`` Playwright contexts in one headless Chromium, each signed in (the auth cookie
of one form sign-in, as returning users), open Spend, Allocation and Forecast one after another,
all sessions at once. Per load: seconds from ``goto`` to the first drawn chart (the probe of
``bench_browser.py``), and errors: an exception box, the login form instead of the page (a session
not restored from its cookie), or no chart within ``--timeout``. Run twice on one server: idle,
and with publishes running (``rebuild`` in a loop, each a new data version the pages must pick
up). Baseline, same run: the same number of sessions loading ``bench/baseline_app.py`` (one
Altair chart, the Streamlit + Chromium floor). Prints p50/p95 and the error count per case.
Target (issue 22): p95 < 2 s at the default demo size, 0 errors.

    .venv/bin/python bench/bench_load.py [--sessions 20] [--rows 1500000] [--timeout 90]
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench.bench_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, PROBE, ensure_store, serve, sign_in

PAGES = ("spend", "allocation", "forecast")


async def _one(browser: Browser, url: str, auth: Any, timeout_s: float) -> tuple[float | None, str]:
    ctx = await browser.new_context(viewport={"width": 1440, "height": 1000}, storage_state=auth)
    await ctx.add_init_script(PROBE)
    page = await ctx.new_page()
    try:
        t0 = time.time() * 1000
        await page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
        try:
            await page.wait_for_function("() => window.__bench.chart !== undefined", timeout=timeout_s * 1000)
        except Exception:
            if await page.get_by_role("textbox", name="Username").count():
                return None, "login form instead of the page"
            return None, f"no chart within {timeout_s:.0f} s"
        marks = await page.evaluate("() => window.__bench")
        if "exc" in marks:
            return None, "exception: " + " ".join(str(marks["exc"]).split())[:120]
        return (marks["chart"] - t0) / 1000, ""
    finally:
        await ctx.close()


async def _session(browser: Browser, urls: list[str], auth: Any, timeout_s: float) -> list[tuple[float | None, str]]:
    return [await _one(browser, u, auth, timeout_s) for u in urls]


async def _round(urls: list[str], auth: Any, sessions: int, timeout_s: float) -> list[tuple[float | None, str]]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            runs = await asyncio.gather(*[_session(browser, urls, auth, timeout_s) for _ in range(sessions)])
        finally:
            await browser.close()
    return [r for run in runs for r in run]


def _publishing(store: Path, stop: threading.Event, count: list[int]) -> None:
    while not stop.is_set():
        cmd = [sys.executable, "-m", "finops_core", "rebuild", "--store", str(store)]
        subprocess.run(cmd, capture_output=True, check=False)
        count[0] += 1


def _line(name: str, results: list[tuple[float | None, str]], extra: str = "") -> None:
    times = sorted(t for t, _ in results if t is not None)
    errors = [e for _, e in results if e]
    p50 = f"{statistics.median(times):7.2f}" if times else "      -"
    p95 = f"{times[min(len(times) - 1, int(0.95 * len(times)))]:7.2f}" if times else "      -"
    print(f"{name:34s}{len(results):7d}{p50}{p95}{len(errors):8d}  {extra}")
    for e in sorted(set(errors)):
        print(f"{'':34s}  {errors.count(e)} x {e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--rows", type=int, default=1_500_000)
    ap.add_argument("--end", default="2026-11-30")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/finops-bench-load"))
    args = ap.parse_args()
    state_dir, log = args.workdir / "state", args.workdir / "server.log"
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    store = ensure_store(args.workdir, args.rows, args.end)
    env = {
        "FINOPS_STATE": str(state_dir),
        "FINOPS_DEMO_PASSWORD": PASSWORD,
        "FINOPS_AUTH_FILE": "",
        "FINOPS_STORE": str(store),
    }
    print(f"{args.sessions} concurrent sessions x {len(PAGES)} pages, {args.rows:,} demo rows; seconds to first chart")
    print(f"{'case':34s}{'loads':>7s}{'p50':>7s}{'p95':>7s}{'errors':>8s}")
    with serve("bench/baseline_app.py", env, log) as url:
        _line("baseline (one-chart app)", asyncio.run(_round([url] * len(PAGES), None, args.sessions, args.timeout)))
    with serve("app.py", env, log) as url:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            auth = sign_in(browser, url)
            browser.close()
        urls = [url + p for p in PAGES]
        _line("app, idle", asyncio.run(_round(urls, auth, args.sessions, args.timeout)))
        stop, count = threading.Event(), [0]
        worker = threading.Thread(target=_publishing, args=(store, stop, count))
        worker.start()
        try:
            results = asyncio.run(_round(urls, auth, args.sessions, args.timeout))
        finally:
            stop.set()
            worker.join()
        _line("app, publishes running", results, f"({count[0]} publishes during the round)")


if __name__ == "__main__":
    main()
