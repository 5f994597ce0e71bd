"""The Spend page on the default demo (seed 42, data through 30 Nov 2026): calendar comparisons,
"Last month" after a month end, the second-currency hint. AppTest against finops_core's numbers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from finops_core import access, drilldown, store
from finops_core.demo import DemoConfig, build_demo
from finops_core.query import CostQuery
from finops_core.schema import C
from tests.conftest import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[1]
NOV = (date(2026, 11, 1), date(2026, 11, 30))
OCT = (date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture(scope="module")
def nov_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo's calendar: data through a month's last day (30 Nov 2026)."""
    root = tmp_path_factory.mktemp("nov-store")
    build_demo(root, DemoConfig(seed=42, end=NOV[1], rows=60_000))
    if not access.users_path().exists():
        access.create_demo_users(access.users_path(), DEMO_PASSWORD)
    return root


def _app(root: Path, monkeypatch: pytest.MonkeyPatch, user: str = "finance", **params: str | list[str]) -> AppTest:
    monkeypatch.setenv("FINOPS_STORE", str(root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.session_state["authentication_status"] = True
    at.session_state["username"] = user
    at.session_state["name"] = user
    at.session_state["roles"] = [access.DEMO_USERS[user][1]]
    at.session_state["logout"] = False
    at.run()
    # what the sidebar said while it resolved the URL (on the landing page, before the switch)
    warned = [w.value for w in at.warning]
    at.switch_page("views/spend.py").run()  # Overview is the landing page
    at.url_warnings = warned + [w.value for w in at.warning]  # type: ignore[attr-defined]
    return at


def _core(root: Path, fn, *args):  # type: ignore[no-untyped-def]
    con = store.connect(root)
    try:
        return fn(con, *args)
    finally:
        con.close()


def _movers_table(at: AppTest) -> pl.DataFrame:
    return next(pl.from_pandas(d.value) for d in at.dataframe if "delta" in list(d.value.columns))


def test_default_top_mover_compares_calendar_months(nov_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """November against all of October: the 1 Oct monthly support fee is in the comparison, so
    the top mover is a real change, not 'Management and Governance +31 %' from a missing fee day."""
    at = _app(nov_store, monkeypatch)
    assert not at.exception
    usd = ((C.BillingCurrency, ("USD",)),)
    q, before = CostQuery(*NOV, filters=usd), CostQuery(*OCT, filters=usd)
    tile = next(m for m in at.metric if m.label.startswith("vs "))
    assert tile.label == "vs 1-31 Oct 2026"
    assert any("1-30 Nov 2026 vs 1-31 Oct 2026 (calendar month" in c.value for c in at.caption)
    want = _core(nov_store, drilldown.movers, q, C.ServiceCategory, None, before)
    shown = _movers_table(at)
    assert shown[C.ServiceCategory][0] == want[C.ServiceCategory][0]
    assert float(shown["delta"][0]) == pytest.approx(float(want["delta"][0]), abs=0.01)
    # the category whose whole change is a fee day's presence moves by well under 10 % month on month
    mg = want.filter(pl.col(C.ServiceCategory) == "Management and Governance")
    assert abs(float(mg["delta_pct"][0])) < 0.10


def test_last_month_after_a_month_end_is_the_month_just_ended(nov_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(nov_store, monkeypatch, period="last_month")
    assert not at.exception
    total = next(m for m in at.metric if m.label.startswith("Total"))
    assert total.label == "Total, 1-30 Nov 2026"
    usd = ((C.BillingCurrency, ("USD",)),)
    want = float(_core(nov_store, drilldown.total, CostQuery(*NOV, filters=usd))[C.EffectiveCost].sum())
    assert float(total.value.replace("$", "").replace(",", "")) == pytest.approx(want, abs=0.5)


def test_second_currency_is_named_not_hidden(nov_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(nov_store, monkeypatch, team=["payments"])
    assert not at.exception
    eur = CostQuery(*NOV, filters=((C.x_Team, ("payments",)), (C.BillingCurrency, ("EUR",))))
    amount = float(_core(nov_store, drilldown.total, eur)[C.EffectiveCost].sum())
    assert amount > 1
    hint = next(i.value for i in at.info if "billed in EUR" in i.value)
    assert f"€{amount:,.0f}" in hint
    at.button(key="cur_EUR").click().run()
    assert not at.exception
    total = next(m for m in at.metric if m.label.startswith("Total"))
    assert total.value == f"€{amount:,.0f}"


def test_two_dimension_grouping_from_the_url(nov_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(nov_store, monkeypatch, p_by="x_Team", p_by2="ServiceCategory")
    assert not at.exception
    usd = ((C.BillingCurrency, ("USD",)),)
    want = _core(nov_store, drilldown.breakdown2, CostQuery(*NOV, filters=usd), C.x_Team, C.ServiceCategory, 8)
    total = float(_core(nov_store, drilldown.total, CostQuery(*NOV, filters=usd))[C.EffectiveCost].sum())
    assert float(want[C.EffectiveCost].sum()) == pytest.approx(total, rel=1e-9)
    assert any(s.value == "x_Team" for s in at.selectbox) and any(s.value == "ServiceCategory" for s in at.selectbox)
    # the chart data behind the two-dimension bars is that frame: parts sum to the page's total
    shown = next(
        pl.from_pandas(d.value) for d in at.dataframe if {"x_Team", "ServiceCategory", "share"} <= set(d.value.columns)
    )
    assert float(shown[C.EffectiveCost].sum()) == pytest.approx(total, abs=0.5)


def test_headers_are_human_and_the_key_column_is_pinned(nov_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    at = _app(nov_store, monkeypatch, p_by="x_Team")
    movers = next(d for d in at.dataframe if "delta" in list(d.value.columns))
    config = json.loads(movers.proto.columns)
    assert config["x_Team"]["label"] == "Team" and config["x_Team"]["pinned"] is True
    assert config["delta"]["label"] == "Change" and config["delta_pct"]["label"] == "Change %"
    assert list(movers.value.columns)[:3] == ["x_Team", "delta", "delta_pct"]  # what matters first


def test_saved_view_reopens_from_its_link_within_the_openers_scope(
    nov_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finops_core import saved_views

    at = _app(nov_store, monkeypatch, user="finance", team=["search"], p_by="ServiceName", period="last_month")
    at.text_input(key="sv_name").input("Search services, last month")
    at.button[[b.label for b in at.button].index("Save view")].click().run()
    assert not at.exception
    mine = saved_views.views("finance")
    view_id = next(i for i, n, _ in mine if n == "Search services, last month")
    _, _, params = saved_views.load(view_id)
    assert params["team"] == ["search"] and params["p_by"] == ["ServiceName"]

    opened = _app(nov_store, monkeypatch, user="finance", view=str(view_id))  # the link, for its owner
    usd_search = ((C.BillingCurrency, ("USD",)), (C.x_Team, ("search",)))
    want = float(_core(nov_store, drilldown.total, CostQuery(*NOV, filters=usd_search))[C.EffectiveCost].sum())
    total = next(m for m in opened.metric if m.label.startswith("Total"))
    assert total.label == "Total, 1-30 Nov 2026"
    assert float(total.value.replace("$", "").replace(",", "")) == pytest.approx(want, abs=0.5)

    viewer = _app(nov_store, monkeypatch, user="viewer", view=str(view_id))  # the same link, for a payments viewer
    assert not viewer.exception
    assert any("team search" in w and "outside your access" in w for w in viewer.url_warnings)  # type: ignore[attr-defined]
    scope = access.DEMO_USERS["viewer"][2]
    mine_q = CostQuery(*NOV, filters=((C.BillingCurrency, ("USD",)),), scope=scope)
    own = float(_core(nov_store, drilldown.total, mine_q)[C.EffectiveCost].sum())
    shown = next(m for m in viewer.metric if m.label.startswith("Total"))
    assert float(shown.value.replace("$", "").replace(",", "")) == pytest.approx(own, abs=0.5)


def test_line_items_are_read_only_when_asked_for(nov_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The period's raw rows are not read on a plain Spend load (a collapsed expander's body still
    runs in Streamlit); turning the toggle on shows the first page, with the period's row count."""
    calls: list[CostQuery] = []
    real = drilldown.line_items

    def counted(con, q, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(q)
        return real(con, q, *args, **kwargs)

    monkeypatch.setattr(drilldown, "line_items", counted)
    at = _app(nov_store, monkeypatch, period="last7")
    assert not at.exception
    assert not calls and "Line items" not in [s.value for s in at.subheader]
    at.toggle(key="li_all").set_value(True).run()
    assert not at.exception and len(calls) == 1
    assert at.subheader[-1].value == "Line items"
    _, count = _core(nov_store, real, calls[0], 0, 50)
    assert count > 0 and any(f"{count:,} FOCUS rows" in c.value for c in at.caption)
