"""AppTest: every page renders on the demo and shows numbers equal to finops_core's."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from finops_core import access, drilldown, store
from finops_core.query import CostQuery
from finops_core.schema import C
from tests.conftest import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[1]


def _app(
    demo_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    user: str | None = "finance",
    page: str | None = None,
    **params: str | list[str],
) -> AppTest:
    """The app as ``user`` (session seeded as after a successful login), or signed out; on ``page``
    (a key of access.PAGE_ROLES) or the default page (Overview)."""
    monkeypatch.setenv("FINOPS_STORE", str(demo_store))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    if user is not None:
        at.session_state["authentication_status"] = True
        at.session_state["username"] = user
        at.session_state["name"] = user
        at.session_state["roles"] = [access.DEMO_USERS[user][1]]
        at.session_state["logout"] = False
    at.run()
    return at.switch_page(f"views/{page}.py").run() if page else at


def _money(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def _tile(at: AppTest, prefix: str) -> float:
    return _money(next(m.value for m in at.metric if m.label.startswith(prefix)))


def _base_query(demo_store: Path, days: int | None = None, **kw: object) -> CostQuery:
    """The sidebar's default request (month to date), or the last ``days`` days."""
    con = store.connect(demo_store)
    last = con.execute(f"SELECT max({C.x_ChargeDate}) FROM daily").fetchall()[0][0]
    con.close()
    start = last.replace(day=1) if days is None else last - timedelta(days=days - 1)
    q = CostQuery(start, last, filters=((C.BillingCurrency, ("USD",)),))
    return replace(q, **kw)  # type: ignore[arg-type]


def _expected(demo_store: Path, q: CostQuery) -> float:
    con = store.connect(demo_store)
    try:
        return float(drilldown.total(con, q)[q.metric].sum())
    finally:
        con.close()


def test_spend_renders_and_matches_core(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, page="spend")
    assert not at.exception
    assert at.title[0].value == "Spend"
    assert _tile(at, "Total") == pytest.approx(_expected(demo_store, _base_query(demo_store)), abs=0.5)
    q = _base_query(demo_store)
    before = _expected(demo_store, q.previous())
    assert _tile(at, "vs ") == pytest.approx(_expected(demo_store, q) - before, abs=1.0)
    assert len(at.get("vega_lite_chart")) == 2 or len(at.get("arrow_vega_lite_chart")) == 2


def test_changing_metric_and_period_changes_numbers_consistently(
    demo_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(demo_store, monkeypatch, page="spend")
    at.radio(key="f_metric").set_value(C.BilledCost).run()
    at.selectbox(key="f_period").set_value("last7").run()
    assert not at.exception
    q = _base_query(demo_store, days=7, metric=C.BilledCost)
    assert _tile(at, "Total") == pytest.approx(_expected(demo_store, q), abs=0.5)
    assert at.query_params["metric"] == C.BilledCost and at.query_params["period"] == "last7"


def test_team_filter_and_drill_path_from_the_url(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(
        demo_store, monkeypatch, page="spend", team=["payments"], p_path=["ServiceCategory=Compute"], p_by="ServiceName"
    )
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
    at = _app(demo_store, monkeypatch, page="spend", p_path=["ServiceCategory=Compute", "ServiceName=BigQuery"])
    assert not at.exception
    assert any("No USD costs match" in i.value for i in at.info)


def test_signed_out_sees_only_the_login_form(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for params in ({}, {"p_path": ["ServiceCategory=Compute"], "team": ["payments"]}):
        at = _app(demo_store, monkeypatch, user=None, **params)
        assert not at.exception
        assert [t.value for t in at.text_input] == ["", ""]  # username, password
        assert not at.metric and not at.dataframe and not at.get("vega_lite_chart")
        for page in ("spend", "allocation", "audit", "users"):  # a deep link to any page still meets the login form
            at.switch_page(f"views/{page}.py").run()
            assert not at.metric and not at.dataframe and len(at.text_input) == 2


def test_login_form_signs_in_and_audits(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finops_core import state

    at = _app(demo_store, monkeypatch, user=None)
    at.text_input[0].input("viewer")
    at.text_input[1].input("wrong password")
    at.button[0].click().run()
    assert any("Wrong username or password" in e.value for e in at.error)
    at.text_input[0].input("viewer")
    at.text_input[1].input(DEMO_PASSWORD)
    at.button[0].click().run()
    at.run()
    assert not at.exception and at.metric
    log = state.audit_log(username="viewer")
    assert {"login", "login_failed"} <= set(log["action"])


ANALYST_PAGES = {
    "overview",
    "spend",
    "variance",
    "digest",
    "commitments",
    "anomalies",
    "savings",
    "allocation",
    "forecast",
}
ANALYST_PAGES |= {"unit", "quality"}


@pytest.mark.parametrize(
    ("user", "pages"),
    [
        ("admin", ANALYST_PAGES | {"ingest", "audit", "users"}),
        ("finops", ANALYST_PAGES),
        ("finance", ANALYST_PAGES),
        ("viewer", {"overview", "spend", "variance", "digest", "savings", "allocation", "forecast", "unit"}),
    ],
)
def test_each_role_gets_only_its_pages(
    demo_store: Path, monkeypatch: pytest.MonkeyPatch, user: str, pages: set[str]
) -> None:
    at = _app(demo_store, monkeypatch, user=user)
    assert not at.exception
    for page in access.PAGE_ROLES:
        if page in pages:
            at.switch_page(f"views/{page}.py").run()
            assert not at.exception
        else:
            with pytest.raises(ValueError):
                at.switch_page(f"views/{page}.py")


def test_admin_pages_render(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, user="admin")
    at.switch_page("views/audit.py").run()
    assert not at.exception and at.title[0].value == "Audit log"
    at.switch_page("views/users.py").run()
    assert not at.exception and at.title[0].value == "Users"
    assert set(at.dataframe[0].value["username"]) == set(access.DEMO_USERS)


def test_viewer_sees_exactly_their_scope(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scope = access.DEMO_USERS["viewer"][2]
    assert scope is not None
    # a URL asking for another team's rows changes nothing: the filter is not even offered
    at = _app(demo_store, monkeypatch, user="viewer", page="spend", team=["search"], p_by="x_Team")
    assert not at.exception
    q = replace(_base_query(demo_store), scope=scope)
    assert _tile(at, "Total") == pytest.approx(_expected(demo_store, q), abs=0.5)
    assert at.multiselect(key="f_team").options == ["payments"]
    movers = at.dataframe[-2].value if len(at.dataframe) > 1 else at.dataframe[0].value
    assert set(movers["x_Team"]) == {"payments"}
    con = store.connect(demo_store)
    try:
        rows, count = drilldown.line_items(con, q, page_size=10_000)
    finally:
        con.close()
    assert count > 0 and set(rows[C.x_Team]) == {"payments"}


def test_commitments_page_matches_core(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finops_core import commitments as cm

    at = _app(demo_store, monkeypatch, user="finops")
    at.switch_page("views/commitments.py").run()
    assert not at.exception and at.title[0].value == "Commitments"
    q = _base_query(demo_store)
    con = store.connect(demo_store)
    try:
        util = cm.commitment_utilization(con, q)
        cov = cm.commitment_coverage(con, q)
    finally:
        con.close()
    used, unused = util["used"].sum(), util["unused"].sum()
    shown = {m.label: m.value for m in at.metric}
    assert shown["Utilization"] == f"{used / (used + unused):.1%}"
    assert shown["Coverage"] == f"{cov['coverage'][0]:.1%}"
    table = next(d.value for d in at.dataframe if C.CommitmentDiscountName in d.value.columns)
    names = set(table[C.CommitmentDiscountName])
    assert "RDS RI db.r5.large 3yr no-upfront" in names


def test_anomalies_page_lists_cases_and_opens_one(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finops_core import triage

    at = _app(demo_store, monkeypatch, user="finops")
    at.switch_page("views/anomalies.py").run()
    assert not at.exception and at.title[0].value == "Anomalies"
    cases = triage.cases()
    assert cases.height > 0 and set(cases["status"]) <= set(triage.STATUSES)
    shown = at.dataframe[0].value
    assert set(shown["id"]) <= set(cases["id"])


def test_savings_page_measures_the_demo_items(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, user="finops", cur="EUR")  # the sidebar on EUR, the items in USD
    at.switch_page("views/savings.py").run()
    assert not at.exception and at.title[0].value == "Savings"
    table = at.dataframe[0].value
    truth = pl.read_csv(demo_store / "demo" / "savings_truth.csv")
    measured = dict(zip(table["item_id"], table["realized_monthly"], strict=True))
    for item_id, true in truth.select("item_id", "true_monthly_saving").iter_rows():
        assert measured[item_id] == pytest.approx(true, rel=0.10)
    # tiles speak the items' own currency, not the sidebar's
    assert at.selectbox(key="f_currency").value == "EUR"
    realized = [m for m in at.metric if m.label.startswith("Realized")]
    assert [m.label for m in realized] == ["Realized, measured from the bill (USD)"]
    assert realized[0].value.startswith("$")


def test_a_savings_item_detail_speaks_its_own_currency(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, user="finops", cur="EUR")
    at.switch_page("views/savings.py").run()
    ids = at.dataframe[0].value["item_id"].to_list()
    at.session_state["backlog_table"] = {"selection": {"rows": [ids.index("OPT-004")], "columns": []}}
    at.run()
    assert not at.exception
    realized = next(m.value for m in at.markdown if m.value.startswith("**Realized"))
    assert realized.startswith("**Realized $") and "€" not in realized


def test_viewer_sees_only_their_teams_items(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, user="viewer")
    at.switch_page("views/savings.py").run()
    assert not at.exception
    assert set(at.dataframe[0].value["team"]) == {"payments"}
