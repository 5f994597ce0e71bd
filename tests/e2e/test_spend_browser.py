"""The Spend page in Debian's Chromium: numbers equal finops_core's, a filter, a drilldown, a shared URL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from finops_core import db, drilldown, store
from finops_core.query import CostQuery
from finops_core.schema import C
from tests.conftest import DEMO_PASSWORD, login
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


def _settle(page: Any) -> None:
    page.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)
    page.wait_for_timeout(800)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)
    page.wait_for_timeout(500)


def _wait_change(page: Any, before: float) -> None:
    """Wait until the Total tile shows a new value, then until the rerun is over."""
    for _ in range(120):
        page.wait_for_timeout(250)
        try:
            if abs(_total_tile(page) - before) > 0.5:
                break
        except Exception:
            continue
    _settle(page)


def _total_tile(page: Any) -> float:
    tile = page.locator('[data-testid="stMetric"]', has_text="Total").first
    return float(re.sub(r"[^0-9.\-]", "", tile.locator('[data-testid="stMetricValue"]').inner_text()))


def _core(demo_store: Path, metric: str = C.EffectiveCost, **filters: str) -> tuple[CostQuery, float]:
    con = store.connect(demo_store)
    try:
        last = db.rows(con, f"SELECT max({C.x_ChargeDate}) FROM daily")[0][0]
        q = CostQuery(
            last.replace(day=1), last, filters=((C.BillingCurrency, ("USD",)),), metric=metric
        )  # month to date
        for dim, value in filters.items():
            q = q.with_filter(dim, (value,))
        return q, float(drilldown.total(con, q)[metric].sum())
    finally:
        con.close()


def _top_mover(demo_store: Path, q: CostQuery, dim: str) -> str:
    con = store.connect(demo_store)
    try:
        return str(drilldown.movers(con, q, dim)[dim][0])
    finally:
        con.close()


def test_filter_drill_and_shared_url(app_url: str, browser: Any, demo_store: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    login(page, app_url, "finance", DEMO_PASSWORD)
    _settle(page)
    page.goto(f"{app_url}/spend")  # Overview is the landing page
    _settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    _, effective = _core(demo_store)
    assert _total_tile(page) == pytest.approx(effective, abs=0.5)

    page.locator('[data-testid="stRadio"] label', has_text="Billed cost (invoice)").click()  # change a filter
    _wait_change(page, effective)
    q, billed = _core(demo_store, C.BilledCost)
    assert _total_tile(page) == pytest.approx(billed, abs=0.5)
    assert "metric=BilledCost" in page.url

    top = _top_mover(demo_store, q, C.ServiceCategory)  # drill into the first mover
    grid = page.locator('[data-testid="stDataFrame"]:visible').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 18)
    page.get_by_role("button", name=f"› {top}").wait_for(timeout=30_000)
    _wait_change(page, billed)
    _, drilled = _core(demo_store, C.BilledCost, ServiceCategory=top)
    assert _total_tile(page) == pytest.approx(drilled, abs=0.5)
    page.screenshot(path=str(ARTIFACTS / "e2e-spend-drilled.png"), full_page=True)

    shared = page.url  # a shared link reopens the same view for a colleague once signed in
    other = browser.new_context().new_page()
    other.set_viewport_size({"width": 1500, "height": 1100})
    other.goto(shared)
    other.get_by_role("textbox", name="Username").fill("finops")
    other.get_by_role("textbox", name="Password").fill(DEMO_PASSWORD)
    other.get_by_role("button", name="Log in").click()
    # sign-in reruns, then switches to the linked page: on a busy machine the app can look idle
    # between the two, so wait for the drilled page itself (a lost link never shows it and fails)
    other.get_by_role("button", name=f"› {top}").wait_for(timeout=60_000)
    _settle(other)
    assert other.get_by_role("button", name=f"› {top}").count() == 1
    assert _total_tile(other) == pytest.approx(drilled, abs=0.5)
    assert other.get_by_label("Billed cost (invoice)").is_checked()


def test_clicking_a_breakdown_bar_drills_into_it(app_url: str, browser: Any, demo_store: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1500, "height": 1300})
    login(page, app_url, "finance", DEMO_PASSWORD)
    page.goto(f"{app_url}/spend")  # Overview is the landing page
    _settle(page)
    q, total = _core(demo_store)
    con = store.connect(demo_store)
    try:
        biggest = str(drilldown.breakdown(con, q, C.ServiceCategory, 8)[C.ServiceCategory][0])
    finally:
        con.close()
    bars = page.locator('[data-testid="stVegaLiteChart"]').nth(1)  # the breakdown, right of the trend
    bars.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    box = bars.bounding_box()
    # the largest bar is the first row, under the title; its left end starts after the labels
    for dx in (0.45, 0.55, 0.4):
        page.mouse.click(box["x"] + box["width"] * dx, box["y"] + 52)
        try:
            page.get_by_role("button", name=f"› {biggest}").wait_for(timeout=15_000)
            break
        except Exception:
            continue
    _wait_change(page, total)
    _, drilled = _core(demo_store, ServiceCategory=biggest)
    assert _total_tile(page) == pytest.approx(drilled, abs=0.5)
    assert "p_path=ServiceCategory" in page.url
    page.screenshot(path=str(ARTIFACTS / "e2e-spend-bar-drill.png"), full_page=True)
