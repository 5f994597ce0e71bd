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
from tests.reliability import crash

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


def _idle(page: Any) -> None:
    page.wait_for_timeout(600)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=90_000)
    page.wait_for_timeout(300)


def _session(browser: Any, url: str, path: str) -> Any:
    page = browser.new_context(viewport={"width": 1500, "height": 1200}).new_page()
    login(page, url, "finops", DEMO_PASSWORD)
    page.goto(f"{url}/{path}")
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=90_000)
    _idle(page)
    return page


def _pick_first_row(page: Any) -> None:
    grid = page.locator('[data-testid="stDataFrame"]:visible').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 18)  # the selection box of the first row
    page.get_by_role("button", name="Save").wait_for(timeout=60_000)
    _idle(page)


def _fill(page: Any, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.scroll_into_view_if_needed()
    box.fill(text)
    box.press("Tab")


def _save(page: Any) -> None:
    page.get_by_role("button", name="Save").click()
    _idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def _messages(page: Any) -> str:
    return " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())


def test_two_sessions_on_one_backlog_item_lose_no_update(edit_url: str, browser: Any, own_state: Path) -> None:
    path = own_state / "state.sqlite"
    a, b = _session(browser, edit_url, "savings"), _session(browser, edit_url, "savings")
    for page in (a, b):
        _pick_first_row(page)
    heading = a.locator("h3", has_text=":").first.inner_text()
    item_id = heading.split(":")[0].strip()
    assert b.locator("h3", has_text=f"{item_id}:").count() == 1  # both opened the same item
    _fill(a, "Owner", "owner-from-a")
    _save(a)
    assert backlog.items(path=path).filter(item_id=item_id)["owner"][0] == "owner-from-a"
    _fill(b, "Owner", "owner-from-b")  # B's form was opened before A saved
    _save(b)
    assert "changed by someone else" in _messages(b), _messages(b)
    kept = backlog.items(path=path).filter(item_id=item_id)
    assert kept["owner"][0] == "owner-from-a" and kept["version"][0] == 2
    # B now sees A's change in the form, and a save from there goes through
    assert b.get_by_label("Owner", exact=True).input_value() == "owner-from-a"
    _fill(b, "Ticket URL", "https://tickets.example/B-1")
    _save(b)
    kept = backlog.items(path=path).filter(item_id=item_id)
    assert (kept["owner"][0], kept["ticket_url"][0], kept["version"][0]) == (
        "owner-from-a",
        "https://tickets.example/B-1",
        3,
    )


def test_two_sessions_on_one_anomaly_case_lose_no_update(edit_url: str, browser: Any, own_state: Path) -> None:
    path = own_state / "state.sqlite"
    a, b = _session(browser, edit_url, "anomalies"), _session(browser, edit_url, "anomalies")
    for page in (a, b):
        _pick_first_row(page)
    _fill(a, "Root cause / note", "cause seen by A")
    _save(a)
    saved = re.search(r"Saved (\S+):", _messages(a))
    assert saved, _messages(a)
    case_id = saved.group(1)
    assert triage.cases(path=path).filter(id=case_id)["note"][0] == "cause seen by A"
    _fill(b, "Root cause / note", "cause seen by B")
    _save(b)
    assert "changed by someone else" in _messages(b), _messages(b)
    kept = triage.cases(path=path).filter(id=case_id)
    assert kept["note"][0] == "cause seen by A" and kept["version"][0] == 2
    assert b.get_by_label("Root cause / note", exact=True).input_value() == "cause seen by A"


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
        _idle(page)
        assert _spend_total(page) == pytest.approx(before, abs=0.5)
        done = subprocess.run([*cli, str(crash.NEXT_FILE)], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-1500:]
        assert store.current_version(root) != before_version
        after = _month_to_date(root)
        assert abs(after - before) > 1
        page.locator('[data-testid="stRadio"] label', has_text="Billed cost (invoice)").click()  # any rerun
        _idle(page)
        page.locator('[data-testid="stRadio"] label', has_text="Effective cost").first.click()
        _idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_role("textbox", name="Password").count() == 0  # still signed in
        assert _spend_total(page) == pytest.approx(after, abs=0.5)
