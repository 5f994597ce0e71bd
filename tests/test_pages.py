"""AppTest: every page renders on the demo and shows numbers equal to finops_core's."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from finops_core import drilldown, store
from finops_core.query import CostQuery
from finops_core.schema import C

ROOT = Path(__file__).resolve().parents[1]


def _app(demo_store: Path, monkeypatch: pytest.MonkeyPatch, **params: str | list[str]) -> AppTest:
    monkeypatch.setenv("FINOPS_STORE", str(demo_store))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def _money(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def _tile(at: AppTest, prefix: str) -> float:
    return _money(next(m.value for m in at.metric if m.label.startswith(prefix)))


def _base_query(demo_store: Path, days: int = 30, **kw: object) -> CostQuery:
    con = store.connect(demo_store)
    last = con.execute(f"SELECT max({C.x_ChargeDate}) FROM daily").fetchall()[0][0]
    con.close()
    q = CostQuery(last - timedelta(days=days - 1), last, filters=((C.BillingCurrency, ("USD",)),))
    return replace(q, **kw)  # type: ignore[arg-type]


def _expected(demo_store: Path, q: CostQuery) -> float:
    con = store.connect(demo_store)
    try:
        return float(drilldown.total(con, q)[q.metric].sum())
    finally:
        con.close()


def test_spend_renders_and_matches_core(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch)
    assert not at.exception
    assert at.title[0].value == "Spend"
    assert _tile(at, "Total") == pytest.approx(_expected(demo_store, _base_query(demo_store)), abs=0.5)
    q = _base_query(demo_store)
    before = _expected(demo_store, q.previous())
    assert _tile(at, "vs previous") == pytest.approx(_expected(demo_store, q) - before, abs=1.0)
    assert len(at.get("vega_lite_chart")) == 2 or len(at.get("arrow_vega_lite_chart")) == 2


def test_changing_metric_and_period_changes_numbers_consistently(
    demo_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(demo_store, monkeypatch)
    at.radio(key="f_metric").set_value(C.BilledCost).run()
    at.selectbox(key="f_period").set_value("last7").run()
    assert not at.exception
    q = _base_query(demo_store, days=7, metric=C.BilledCost)
    assert _tile(at, "Total") == pytest.approx(_expected(demo_store, q), abs=0.5)
    assert at.query_params["metric"] == C.BilledCost and at.query_params["period"] == "last7"


def test_team_filter_and_drill_path_from_the_url(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, team=["payments"], p_path=["ServiceCategory=Compute"], p_by="ServiceName")
    assert not at.exception
    q = _base_query(demo_store).with_filter(C.x_Team, ("payments",)).with_filter(C.ServiceCategory, ("Compute",))
    assert _tile(at, "Total") == pytest.approx(_expected(demo_store, q), abs=0.5)
    assert any(b.label == "› Compute" for b in at.button)
    assert at.subheader[-1].value == "Line items"


def test_no_legacy_pages_folder() -> None:
    """Streamlit 1.67 runs a ``pages/`` folder through its legacy multipage path on a fresh server's
    first run (a page file reachable by URL without app.py, widget state reset); screens live in views/."""
    assert not (ROOT / "pages").exists()


def test_empty_result_says_so(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, p_path=["ServiceCategory=Compute", "ServiceName=BigQuery"])
    assert not at.exception
    assert any("No USD costs match" in i.value for i in at.info)
