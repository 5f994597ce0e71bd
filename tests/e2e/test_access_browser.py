"""Login, a reload that keeps the session (cookie), logout, and a viewer refused another page's URL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import DEMO_PASSWORD, login
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


def _wait_idle(page: Any) -> None:
    page.wait_for_timeout(800)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)


def test_login_reload_logout(app_url: str, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(app_url)
    page.get_by_role("textbox", name="Username").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stMetric"]').count() == 0  # nothing but the form
    login(page, app_url, "admin", DEMO_PASSWORD)
    page.wait_for_timeout(1500)
    stolen = context.cookies()
    assert "finops_auth" in [c["name"] for c in stolen]
    page.reload()
    page.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)  # the cookie kept the session
    assert page.get_by_role("textbox", name="Password").count() == 0
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("textbox", name="Username").wait_for(timeout=60_000)
    page.reload()  # at once: the server refuses the old cookie even if the browser still holds it
    page.get_by_role("textbox", name="Username").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert page.locator('[data-testid="stMetric"]').count() == 0
    # the server refuses the old cookie itself, wherever it is replayed (its deletion in the
    # browser is asynchronous and best-effort)
    replay = browser.new_context(viewport={"width": 1400, "height": 1000})
    replay.add_cookies([c for c in stolen if c["name"] == "finops_auth"])
    other = replay.new_page()
    other.goto(app_url)
    other.get_by_role("textbox", name="Username").wait_for(timeout=60_000)
    other.wait_for_timeout(1500)
    assert other.locator('[data-testid="stMetric"]').count() == 0
    replay.close()
    context.close()


def test_viewer_cannot_open_an_admin_page_by_url(app_url: str, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    login(page, app_url, "viewer", DEMO_PASSWORD)
    page.goto(f"{app_url}/audit")
    page.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)
    _wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "e2e-viewer-audit-url.png"), full_page=True)
    assert page.get_by_role("heading", name="Audit log").count() == 0
    assert page.get_by_role("heading", name="Overview").count() == 1  # the default page
    assert "payments" in page.locator('[data-testid="stSidebar"]').inner_text()
    context.close()
