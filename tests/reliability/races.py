"""Two real browser sessions saving one record: A saves, then B saves from the form it opened before.

Shared by ``test_browser_sessions.py`` (one race per page on every CI run) and
``bench/reliability.py --races N``. A race is lost (a lost update) when A's change does not survive
B's save, or when B's save is neither refused with a message nor merged into A's change.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finops_core import backlog, triage
from tests.browser import login

PASSWORD_USER = "finops"


@dataclass
class Race:
    page: str  # savings | anomalies
    record: str  # the item or case id
    told: bool  # B was shown "changed by someone else"
    kept: bool  # A's change is what the state database holds after B's save

    @property
    def lost(self) -> bool:
        return not (self.told and self.kept)


def idle(page: Any) -> None:
    page.wait_for_timeout(600)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=90_000)
    page.wait_for_timeout(300)


def session(browser: Any, url: str, path: str, password: str) -> Any:
    """A new browser context signed in as finops, on ``path`` with its first table shown."""
    page = browser.new_context(viewport={"width": 1500, "height": 1200}).new_page()
    login(page, url, PASSWORD_USER, password, timeout_ms=180_000)  # a busy machine signs in slowly
    page.goto(f"{url}/{path}")
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=180_000)
    idle(page)
    return page


def pick_first_row(page: Any) -> None:
    grid = page.locator('[data-testid="stDataFrame"]:visible').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 18)  # the selection box of the first row
    page.get_by_role("button", name="Save").wait_for(timeout=60_000)
    idle(page)


def fill(page: Any, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.scroll_into_view_if_needed()
    box.fill(text)
    box.press("Tab")


def save(page: Any) -> None:
    page.get_by_role("button", name="Save").click()
    idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def messages(page: Any) -> str:
    return " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())


def shows(page: Any, text: str, timeout_ms: int = 60_000) -> bool:
    """Whether a message with ``text`` appears (a refusal or a flash comes after the save's rerun)."""
    try:
        page.locator('[data-testid="stAlert"]', has_text=text).first.wait_for(timeout=timeout_ms)
    except Exception:
        return False
    idle(page)
    return True


def _until(check: Any, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def race_backlog(browser: Any, url: str, db: Path, password: str, tag: str) -> tuple[Race, Any]:
    """Both sessions open the first backlog item; A sets its owner, then B (stale) sets another."""
    a, b = session(browser, url, "savings", password), session(browser, url, "savings", password)
    for page in (a, b):
        pick_first_row(page)
    item_id = a.locator("h3", has_text=":").first.inner_text().split(":")[0].strip()
    fill(a, "Owner", f"a-{tag}")
    save(a)
    if not _until(lambda: backlog.items(path=db).filter(item_id=item_id)["owner"][0] == f"a-{tag}"):
        a.context.close()
        return Race("savings", item_id, False, False), b  # A's own save did not land: counted as lost
    fill(b, "Owner", f"b-{tag}")
    save(b)
    told = shows(b, "changed by someone else")
    kept = backlog.items(path=db).filter(item_id=item_id)["owner"][0] == f"a-{tag}"
    a.context.close()
    return Race("savings", item_id, told, kept), b


def race_case(browser: Any, url: str, db: Path, password: str, tag: str) -> tuple[Race, Any]:
    """Both sessions open the first anomaly case; A writes its note, then B (stale) writes another."""
    a, b = session(browser, url, "anomalies", password), session(browser, url, "anomalies", password)
    for page in (a, b):
        pick_first_row(page)
    fill(a, "Root cause / note", f"cause seen by A {tag}")
    save(a)
    shows(a, "Saved ")
    found = re.search(r"Saved (\S+):", messages(a))
    case_id = found.group(1) if found else ""
    fill(b, "Root cause / note", f"cause seen by B {tag}")
    save(b)
    told = shows(b, "changed by someone else")
    kept = bool(case_id) and triage.cases(path=db).filter(id=case_id)["note"][0] == f"cause seen by A {tag}"
    a.context.close()
    return Race("anomalies", case_id, told, kept), b
