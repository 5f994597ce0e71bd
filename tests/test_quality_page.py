"""AppTest: the Data quality page and the trust line on every page, for each role."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from finops_core import access, store
from finops_core.query import ALL
from finops_core.trust import invoices, reconcile
from tests.test_pages import _app

PAGES = tuple(access.PAGE_ROLES)


def _trust_text(at) -> str:  # type: ignore[no-untyped-def]
    return next(m.value for m in at.markdown if "through" in m.value or "Incomplete" in m.value)


@pytest.mark.parametrize("user", ["admin", "finops", "finance", "viewer"])
def test_every_page_shows_the_trust_line(demo_store: Path, monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    at = _app(demo_store, monkeypatch, user=user)
    role = access.DEMO_USERS[user][1]
    for page in PAGES:
        if role not in access.PAGE_ROLES[page]:
            continue
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, page
        text = _trust_text(at)
        assert "Complete through 15 Oct" in text, (page, text)
        if role == "viewer":
            assert "invoice" not in text.lower() and "Snowflake" not in text, text
        else:
            assert "1,250\\.00 USD unexplained" in text, text


def test_quality_page_matches_core(demo_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    at = _app(demo_store, monkeypatch, user="finance")
    at.switch_page("views/quality.py").run()
    assert not at.exception
    assert at.title[0].value == "Data quality & reconciliation"
    shown = at.dataframe[0].value
    lines, _ = invoices.resolve(demo_store, path=tmp_path / "none.sqlite")
    con = store.connect(demo_store)
    core = reconcile.reconciliation(con, lines, ALL)
    assert len(shown) == core.height
    off = core.filter(pl.col("status") == "off")
    assert list(shown.loc[shown["status"] == "off", "billing_period"]) == off["billing_period"].to_list()
    # amounts in the rows' own currencies: text such as "$1,234.50" when the table holds two
    unexplained = str(shown.loc[shown["status"] == "off", "unexplained"].iloc[0])
    assert float(re.sub(r"[^0-9.\-]", "", unexplained)) == pytest.approx(round(off["unexplained"][0], 2))
    checks = at.dataframe[1].value
    assert "freshness" not in set(checks["check"])  # titles, not names
    assert set(checks["status"]) <= {"ok", "info", "warning", "error"}
    assert len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart")) >= 1
