"""In Chromium: the trust line tops every page a role can open, and a viewer's says nothing of invoices."""

from __future__ import annotations

from typing import Any

import pytest

from finops_core import access
from tests.conftest import DEMO_PASSWORD, login
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e
PATHS = {"spend": ""} | {k: k for k in access.PAGE_ROLES if k != "spend"}


def _settle(page: Any) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    page.wait_for_timeout(800)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=90_000)


@pytest.mark.parametrize("user", ["finance", "viewer"])
def test_trust_line_on_every_page(app_url: str, browser: Any, user: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    login(page, app_url, user, DEMO_PASSWORD)
    role = access.DEMO_USERS[user][1]
    seen = []
    for key, path in PATHS.items():
        if role not in access.PAGE_ROLES[key]:
            continue
        page.goto(f"{app_url}/{path}")
        _settle(page)
        line = page.get_by_text("Complete through", exact=False).first
        line.wait_for(timeout=60_000)
        text = line.inner_text()
        if user == "viewer":
            assert "invoice" not in text.lower(), (key, text)
        else:
            assert "1,250.00 USD unexplained" in text, (key, text)
        seen.append(key)
    page.screenshot(path=str(ARTIFACTS / f"e2e-trust-line-{user}.png"), full_page=True)
    assert "spend" in seen and ("quality" in seen) == (user == "finance")
    context.close()
