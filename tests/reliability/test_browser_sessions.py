"""Two real browser sessions at once: no lost update on one backlog item or one anomaly case, and a
session that keeps working while a CLI ingest publishes a new data version under it."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finops_core import access, backlog, db, drilldown, store, triage
from finops_core.query import CostQuery
from finops_core.schema import C
from tests.conftest import DEMO_PASSWORD, ROOT, login, serve_app
from tests.reliability import crash, races

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state folder of this module's own: the edits below must not change what other tests read."""
    folder = tmp_path_factory.mktemp("browser-state")
    access.create_demo_users(folder / "users.yaml", DEMO_PASSWORD)
    return folder


@pytest.fixture(scope="module")
def edit_url(demo_store: Path, own_state: Path) -> Iterator[str]:
    with serve_app(demo_store, {"FINOPS_STATE": str(own_state)}) as url:
        yield url


def test_two_sessions_on_one_backlog_item_lose_no_update(edit_url: str, browser: Any, own_state: Path) -> None:
    path = own_state / "state.sqlite"
    race, b = races.race_backlog(browser, edit_url, path, DEMO_PASSWORD, "1")
    assert race.told, races.messages(b)  # B is told its form was stale
    kept = backlog.items(path=path).filter(item_id=race.record)
    assert kept["owner"][0] == "a-1" and kept["version"][0] == 2  # A's change survives
    # B now sees A's change in the form, and a save from there goes through
    assert b.get_by_label("Owner", exact=True).input_value() == "a-1"
    races.fill(b, "Ticket URL", "https://tickets.example/B-1")
    races.save(b)
    kept = backlog.items(path=path).filter(item_id=race.record)
    assert (kept["owner"][0], kept["ticket_url"][0], kept["version"][0]) == ("a-1", "https://tickets.example/B-1", 3)
    b.context.close()


def test_two_sessions_on_one_anomaly_case_lose_no_update(edit_url: str, browser: Any, own_state: Path) -> None:
    path = own_state / "state.sqlite"
    race, b = races.race_case(browser, edit_url, path, DEMO_PASSWORD, "1")
    assert race.record and race.told, races.messages(b)
    kept = triage.cases(path=path).filter(id=race.record)
    assert kept["note"][0] == "cause seen by A 1" and kept["version"][0] == 2
    assert b.get_by_label("Root cause / note", exact=True).input_value() == "cause seen by A 1"
    b.context.close()


def _spend_total(page: Any) -> float:
    tile = page.locator('[data-testid="stMetric"]', has_text="Total").first
    return float(re.sub(r"[^0-9.\-]", "", tile.locator('[data-testid="stMetricValue"]').inner_text()))


def _month_to_date(root: Path) -> float:
    """What the Spend page's Total tile shows by default: effective cost, USD, month to date."""
    con = store.connect(root)
    try:
        last = db.rows(con, f"SELECT max({C.x_ChargeDate}) FROM daily")[0][0]
        q = CostQuery(last.replace(day=1), last, filters=((C.BillingCurrency, ("USD",)),))
        return float(drilldown.total(con, q)[C.EffectiveCost].sum())
    finally:
        con.close()


def test_a_session_on_spend_keeps_working_across_a_cli_ingest(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("ingest-store")
    folder = tmp_path_factory.mktemp("ingest-state")
    access.create_demo_users(folder / "users.yaml", DEMO_PASSWORD)
    cli = [sys.executable, "-m", "finops_core", "ingest", "--store", str(root)]
    subprocess.run([*cli, str(crash.BASE_FILE)], cwd=ROOT, check=True, capture_output=True)
    before_version, before = store.current_version(root), _month_to_date(root)
    with serve_app(root, {"FINOPS_STATE": str(folder)}) as url:
        page = browser.new_context(viewport={"width": 1500, "height": 1200}).new_page()
        login(page, url, "finops", DEMO_PASSWORD)
        page.goto(f"{url}/spend")
        page.wait_for_selector('[data-testid="stMetricValue"]', timeout=90_000)
        races.idle(page)
        assert _spend_total(page) == pytest.approx(before, abs=0.5)
        done = subprocess.run([*cli, str(crash.NEXT_FILE)], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-1500:]
        assert store.current_version(root) != before_version
        after = _month_to_date(root)
        assert abs(after - before) > 1
        page.locator('[data-testid="stRadio"] label', has_text="Billed cost (invoice)").click()  # any rerun
        races.idle(page)
        page.locator('[data-testid="stRadio"] label', has_text="Effective cost").first.click()
        races.idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_role("textbox", name="Password").count() == 0  # still signed in
        assert _spend_total(page) == pytest.approx(after, abs=0.5)


def test_the_load_client_opens_pages_as_a_signed_in_browser_does(edit_url: str, browser: Any) -> None:
    """bench_load.py's websocket client (bench/st_client.py) is restored from the login cookie as a
    browser tab is, sees the page's chart, and reports the login form and an unknown page as errors."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from bench import st_client

    def load(name: str, cookie: str, timeout_s: float) -> st_client.Load:
        # Playwright's sync API holds this thread's event loop: the client runs on its own thread
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, st_client.load(url, name, cookie, timeout_s)).result()

    ctx = browser.new_context()
    page = ctx.new_page()
    login(page, edit_url, "finops", DEMO_PASSWORD, timeout_ms=180_000)  # a busy machine signs in slowly
    page.wait_for_timeout(1500)  # the cookie component writes the cookie after the first run
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in ctx.cookies())
    ctx.close()
    url = edit_url + "/"
    for name in ("spend", "allocation"):
        done = load(name, cookie, 120)
        assert done.error == "" and done.chart is not None and done.done is not None, (name, done)
        assert done.chart <= done.done
    assert load("spend", "", 60).error == "login form instead of the page"
    assert load("no-such-page", cookie, 60).error.startswith("page not found")
