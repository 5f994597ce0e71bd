"""Browser time from navigation to first chart on the Spend page, at 1M and 10M demo rows.

What: the Spend page (``app.py``, default page ``/``) and a baseline (``bench/baseline_app.py``: one
Altair bar chart of a static 30-row frame, the Streamlit + Chromium floor), timed in headless
Chromium from the start of ``page.goto`` to: first chart (a visible ``stVegaLiteChart`` whose
``canvas.marks`` is drawn or whose ``svg.marks`` holds mark items); first KPI (a visible, non-empty
``stMetricValue``; Spend only); run finished (a chart drawn and ``stApp[data-test-script-state]``
is ``notRunning``). Times are the in-page ``Date.now()`` at the first animation frame where the
condition holds, minus wall time at goto. Any ``stException`` seen on the way is reported.
How: the app has a login gate, so Spend is loaded as a returning signed-in user: one untimed
sign-in through the form (user ``finops``; throwaway users file and cookie key in
``WORKDIR/browser-state``) gives the auth cookie every timed context starts with. Each repeat
starts a fresh server per app (startup excluded: timing starts once ``/_stcore/health`` is 200).
Cold = first session on it (empty st.cache); warm = a second session after the first finished.
Each load gets a new context in one Chromium. Spend and baseline alternate within each repeat so
both see the same noise. Target: first chart <= 2 s at 10M.

    .venv/bin/python bench/bench_browser.py [--sizes 1000000,10000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
USER, PASSWORD = "finops", "bench-browser-only"  # demo users file in a throwaway state dir
METRICS = {"chart": "first chart", "kpi": "first KPI value", "done": "run finished"}
TARGET_S = 2.0
PROBE = """(() => {
  const t = {}; window.__bench = t;
  const shown = (el) => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const drawn = (m) => m.tagName.toLowerCase() === 'canvas' ? m.width > 0 && m.height > 0
    : m.querySelector('g.role-mark > *') !== null;
  const tick = () => {
    const now = Date.now();
    if (t.chart === undefined && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
        .some((c) => { const m = c.querySelector('canvas.marks, svg.marks'); return m && shown(m) && drawn(m); }))
      t.chart = now;
    if (t.kpi === undefined && [...document.querySelectorAll('[data-testid="stMetricValue"]')]
        .some((k) => shown(k) && k.textContent.trim() !== '')) t.kpi = now;
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app ? app.getAttribute('data-test-script-state') : null;
    const exc = document.querySelector('[data-testid="stException"]');
    if (exc && t.exc === undefined) t.exc = exc.innerText.slice(0, 400);
    if (t.done === undefined && t.chart !== undefined && state === 'notRunning') t.done = now;
    if (t.done === undefined) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();"""
Samples = dict[str, dict[str, list[dict[str, float]]]]  # app -> cold/warm -> [metric -> s]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(script: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """A fresh Streamlit server for ``script``; yields its URL once the health check is 200."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port), "--server.headless", "true"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"streamlit {script} did not come up; see {log}")
            time.sleep(0.1)
        yield url + "/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a server busy with a run may not stop in time
            proc.kill()
            proc.wait(timeout=30)


def sign_in(browser: Browser, url: str) -> Any:
    """Log in through the form once; returns the storage state (auth cookie) for timed contexts."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(url)
    page.get_by_role("textbox", name="Username").fill(USER, timeout=120_000)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector('[data-testid="stMetricValue"]', timeout=120_000)
    page.wait_for_timeout(2000)  # let the cookie component write the cookie
    state = ctx.storage_state()
    ctx.close()
    return state


def load(browser: Browser, url: str, auth: Any, timeout_s: float) -> tuple[dict[str, float], list[str]]:
    """One page load in a new context: seconds from goto to each metric, and any error text."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000}, storage_state=auth)
    ctx.add_init_script(PROBE)
    page = ctx.new_page()
    try:
        t0 = time.time() * 1000
        page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
        errors = []
        try:
            page.wait_for_function("() => window.__bench.done !== undefined", timeout=timeout_s * 1000)
        except Exception:
            errors.append(f"no chart within {timeout_s:.0f} s; page text: {page.inner_text('body')[:300]!r}")
        page.wait_for_timeout(300)  # a late rerun's exception
        marks: dict[str, Any] = page.evaluate("() => window.__bench")
        errors += [f"at end: {e.inner_text()[:400]}" for e in page.locator('[data-testid="stException"]').all()]
        errors += [f"seen while loading: {marks['exc']}"] if "exc" in marks else []
        return {m: (marks[m] - t0) / 1000 for m in METRICS if m in marks}, errors
    finally:
        ctx.close()


def ensure_store(workdir: Path, rows: int, end: str) -> Path:
    root = workdir / f"rows-{rows}"
    if not (root / "CURRENT").exists():
        print(f"building {rows:,}-row demo in {root} ...", flush=True)
        cli = [sys.executable, "-m", "finops_core", "demo", "--store", str(root), "--rows", str(rows)]
        # its demo users (and their printed passwords) go to a throwaway folder, not data/state
        env = {**os.environ, "FINOPS_STATE": str(workdir / "build-state")}
        subprocess.run([*cli, "--seed", "42", "--end", end], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return root


def med(samples: list[dict[str, float]], metric: str) -> float | None:
    vals = [s[metric] for s in samples if metric in s]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, b: float | None = None) -> str:
    """Seconds, or the ratio v/b when a baseline ``b`` is given."""
    if v is None or (b is not None and not b):
        return "-"
    return f"{v / b:.1f}x" if b is not None else f"{v:.2f}"


def report(rows: int, root: Path, res: Samples, errors: Counter[str]) -> None:
    print(f"\n=== Spend page, demo rows={rows:,} ({root}); medians of {len(res['spend']['cold'])}, seconds from goto")
    line = "{:16} {:>13} {:>13} {:>19} {:>16}".format
    head = line("metric", "cold median s", "warm median s", "baseline cold/warm", "ratio cold/warm")
    print(head + "\n" + "-" * len(head))
    for m, name in METRICS.items():
        c, w = med(res["spend"]["cold"], m), med(res["spend"]["warm"], m)
        bm = "chart" if m == "kpi" else m  # the baseline has no KPI tiles: compare with its first chart
        bc, bw = med(res["base"]["cold"], bm), med(res["base"]["warm"], bm)
        print(line(name, fmt(c), fmt(w), f"{fmt(bc)} / {fmt(bw)}", f"{fmt(c, bc)} / {fmt(w, bw)}"))
    for app, kinds in res.items():
        cells = {k: " ".join(fmt(s.get("chart")) for s in v) for k, v in kinds.items()}
        print(f"  {app:5} first-chart samples: cold {cells['cold']} | warm {cells['warm']}")
    c, w = med(res["spend"]["cold"], "chart"), med(res["spend"]["warm"], "chart")
    verdict = {True: "ok", False: "OVER"}
    print(
        f"target first chart <= {TARGET_S:.0f} s at 10M: cold {fmt(c)} s {verdict[(c or 1e9) <= TARGET_S]}, "
        f"warm {fmt(w)} s {verdict[(w or 1e9) <= TARGET_S]}  (KPI baseline = baseline's first chart)"
    )
    print("page errors: " + ("none" if not errors else "".join(f"\n  [{n}x] {e}" for e, n in sorted(errors.items()))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000", help="comma-separated demo row counts")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/finops-bench"))
    ap.add_argument("--end", default="2026-10-31")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per page load")
    args = ap.parse_args()
    state_dir, log = args.workdir / "browser-state", args.workdir / "bench_browser.server.log"
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    log.write_bytes(b"")
    base_env = {"FINOPS_STATE": str(state_dir), "FINOPS_DEMO_PASSWORD": PASSWORD, "FINOPS_AUTH_FILE": ""}
    print(f"Spend page (signed in as {USER}) vs baseline app in Chromium; cold = fresh server, warm = 2nd session")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for rows in (int(s) for s in args.sizes.split(",") if s.strip()):
            env = {**base_env, "FINOPS_STORE": str(ensure_store(args.workdir, rows, args.end))}
            with serve("app.py", env, log) as url:
                auth = sign_in(browser, url)
            res: Samples = {app: {"cold": [], "warm": []} for app in ("spend", "base")}
            errors: Counter[str] = Counter()
            for _ in range(args.repeat):
                for app, script in (("spend", "app.py"), ("base", "bench/baseline_app.py")):
                    with serve(script, env, log) as url:
                        for kind in ("cold", "warm"):
                            marks, errs = load(browser, url, auth, args.timeout)
                            res[app][kind].append(marks)
                            errs = [f"{app} {kind}: {' '.join(e.split())}" for e in errs]
                            errors.update(errs)
                            if errs:
                                print(*errs, sep="\n", file=sys.stderr, flush=True)
            report(rows, Path(env["FINOPS_STORE"]), res, errors)
        browser.close()


if __name__ == "__main__":
    main()
