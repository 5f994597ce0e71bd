"""AppTest of the Unit economics page: its figures equal finops_core's, for finance and for a scoped viewer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from finops_core import store
from finops_core.query import CostQuery
from finops_core.schema import C
from finops_core.unit import cost, metrics, outlook
from tests.test_pages import _app, _base_query


def _open(demo_store: Path, monkeypatch: pytest.MonkeyPatch, user: str, metric: str, per: str | None) -> AppTest:
    at = _app(demo_store, monkeypatch, user=user)
    at.switch_page("views/unit.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="unit_metric").set_value(metric).run()
    assert not at.exception, at.exception
    assert at.radio(key=f"unit_by_{metric}").value == per  # a metric's first breakdown, whatever the last one's was
    assert at.title[0].value == "Unit economics"
    return at


def _core(demo_store: Path, q: CostQuery, metric: str, per: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    con = store.connect(demo_store)
    try:
        lines = metrics.current()
        first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchall()[0]
        trend = cost.unit_costs(con, replace(q, start=first, end=last, grain="month"), lines, metric, per)
        return cost.unit_cost_change(con, q, lines, metric, per), trend
    finally:
        con.close()


def _shown_change(at: AppTest) -> pl.DataFrame:
    return pl.from_pandas(next(d.value for d in at.dataframe if "cost_effect" in d.value.columns))


def test_unit_page_matches_core_and_is_seeded_from_the_demo(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(demo_store, monkeypatch, "finance", "queries", C.x_Product)
    seeded = metrics.versions()
    assert seeded["source"][-1] == str(demo_store / "demo" / "metrics.csv")
    q = _base_query(demo_store)
    want, trend = _core(demo_store, q, "queries", C.x_Product)
    shown = _shown_change(at)
    assert shown[C.x_Product].to_list() == want[C.x_Product].to_list() == ["Insights"]
    for col in ("cost0", "change", "cost_effect", "volume_effect"):  # money: shown to the cent
        assert shown[col].to_list() == pytest.approx(want[col].to_list(), abs=0.005), col
    for col in ("units0", "unit_cost1"):  # a cost per unit keeps its precision
        assert shown[col].to_list() == pytest.approx(want[col].to_list(), rel=1e-9), col
    tile = next(m for m in at.metric if m.label == "Insights: cost per queries")
    assert tile.value == f"${want['unit_cost1'][0]:,.4f}"
    assert len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart")) == 1
    assert [b.proto.label for b in at.get("download_button")] == ["⬇ CSV", "⬇ XLSX"] * 2
    shown_trend = pl.from_pandas(next(d.value for d in at.dataframe if "days" in d.value.columns))
    assert trend.height == shown_trend.height == 25  # one point per month of the demo's 25 billing periods
    assert shown_trend["unit_cost"].to_list() == pytest.approx(trend["unit_cost"].to_list(), rel=1e-9)
    assert any(e.label == "Load business metrics" for e in at.expander)
    at.toggle(key="unit_fc").set_value(True).run()
    assert not at.exception, at.exception
    con = store.connect(demo_store)
    try:
        hist = replace(q, start=trend[cost.PERIOD].min(), end=q.end)
        fc = outlook.unit_cost_outlook_at(con, hist, None, "queries", C.x_Product, "Insights")
    finally:
        con.close()
    shown_fc = pl.from_pandas(next(d.value for d in at.dataframe if "hi80" in d.value.columns))
    assert shown_fc["month"].dt.date().to_list() == fc["month"].to_list() and fc.height == 4  # this month, then 3
    assert shown_fc["unit_cost"].to_list() == pytest.approx(fc["unit_cost"].to_list(), rel=1e-3)


def test_viewer_sees_only_their_teams_cost(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(demo_store, monkeypatch, "viewer", "transactions", C.x_Product)
    q = _base_query(demo_store, scope=at.session_state["user"].scope)
    want, _ = _core(demo_store, q, "transactions", C.x_Product)
    unscoped, _ = _core(demo_store, _base_query(demo_store), "transactions", C.x_Product)
    shown = _shown_change(at)
    assert shown["cost1"].to_list() == pytest.approx(want["cost1"].to_list(), abs=0.005)  # shown to the cent
    assert shown["units1"].to_list() == unscoped["units1"].to_list()  # the product's whole volume
    assert shown["cost1"][0] < unscoped["cost1"][0]  # only the payments team's share of the cost
    assert not any(e.label == "Load business metrics" for e in at.expander)
    at.selectbox(key="unit_metric").set_value("searches").run()  # team lines: the viewer's team has none
    assert not at.exception, at.exception
    assert any("No group has both cost and units" in i.value for i in at.info)


@pytest.mark.parametrize("user", ["admin", "finops"])
def test_every_role_reaches_the_page(demo_store: Path, monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    at = _open(demo_store, monkeypatch, user, "orders", C.x_Product)
    assert [m.label for m in at.metric] == ["Storefront: cost per orders"]
    assert any(e.label == "Load business metrics" for e in at.expander)
