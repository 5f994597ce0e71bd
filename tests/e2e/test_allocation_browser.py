"""The Allocation & tagging page in Chromium: coverage and showback equal finops_core's, every tab opens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from finops_core import governance, store
from finops_core.query import CostQuery
from finops_core.schema import C
from tests.conftest import DEMO_PASSWORD, login
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


def _wait_idle(page: Any) -> None:
    page.wait_for_timeout(800)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)


def _metric(page: Any, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return str(box.locator('[data-testid="stMetricValue"]').inner_text())


def test_allocation_page_in_the_browser(app_url: str, browser: Any, demo_store: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    con = store.connect(demo_store)
    last = con.execute(f"SELECT max({C.x_ChargeDate}) FROM daily").fetchall()[0][0]
    q = CostQuery(last.replace(day=1), last, filters=((C.BillingCurrency, ("USD",)),))  # month to date
    cov = governance.coverage(con, q)
    con.close()
    want = float(cov["allocated"].sum() / cov["total"].sum())

    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    login(page, app_url, "admin", DEMO_PASSWORD)
    page.goto(f"{app_url}/allocation")
    page.get_by_text("Allocation coverage").first.wait_for(timeout=60_000)
    _wait_idle(page)
    got = float(_metric(page, "Allocation coverage").rstrip("%")) / 100
    assert got == pytest.approx(want, abs=0.0006)
    page.screenshot(path=str(ARTIFACTS / "e2e-allocation-coverage.png"), full_page=True)
    for tab in ("Tag compliance", "Remediation", "Showback", "Rule explorer", "Rules"):
        page.get_by_role("tab", name=tab).click()
        _wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0, tab
        page.screenshot(path=str(ARTIFACTS / f"e2e-allocation-{tab.lower().replace(' ', '-')}.png"), full_page=True)
    page.get_by_role("tab", name="Showback").click()
    _wait_idle(page)
    table_total = float(re.sub(r"[^0-9.\-]", "", _metric(page, "Total of the table")))
    assert table_total == pytest.approx(float(cov["total"].sum()), abs=0.5)
    context.close()
