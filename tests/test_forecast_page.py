"""AppTest of the Forecast & budgets page: its numbers equal finops_core's; viewers see their scope only."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from finops_core import access, budgets, drilldown, events, forecast_snapshots, outlook, plan_export, state, store
from finops_core.demo import DemoConfig, build_demo
from finops_core.query import CostQuery
from finops_core.schema import C
from tests.conftest import DEMO_PASSWORD
from tests.test_pages import _app, _money, _tile
from ui import cache, format


def _query(demo_store: Path, **kw: object) -> CostQuery:
    con = store.connect(demo_store)
    first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchall()[0]
    con.close()
    return replace(CostQuery(first, last, filters=((C.BillingCurrency, ("USD",)),)), **kw)  # type: ignore[arg-type]


def test_forecast_page_matches_core_and_backtest_is_shown(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, user="finance")
    at.switch_page("views/forecast.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Forecast & budgets"
    q = _query(demo_store)
    con = store.connect(demo_store)
    try:
        month_end = outlook.horizon_end(q.end, "month")
        fc = outlook.scope_forecast(con, q, month_end, events.load())
        mtd = float(drilldown.total(con, replace(q, start=q.end.replace(day=1)))[q.metric].sum())
    finally:
        con.close()
    assert _tile(at, f"{q.end:%B} to date") == pytest.approx(mtd, abs=0.5)
    # the same model on the same days; DuckDB's parallel sums can differ in the last bits between
    # connections, which moves the optimum by a few hundredths of a percent
    assert _tile(at, "Forecast at month end") == pytest.approx(
        fc.period_total(q.end.replace(day=1), month_end)["yhat"], rel=2e-3
    )
    assert any("this forecast's 30-day error was" in s.value for s in [*at.success, *at.warning])
    status = next(d.value for d in at.dataframe if "budget line" in d.value.columns)
    seeded = budgets.current().filter(pl.col("period") == f"{q.end:%Y-%m}")
    assert set(status["budget line"]) == set(seeded["team"])
    assert status["budget"].sum() == pytest.approx(seeded["amount"].sum())
    plan = next(d.value for d in at.dataframe if "Team" in d.value.columns)
    assert f"{q.end:%Y-%m}" in plan.columns and plan.shape[0] >= len(seeded)
    assert plan["Team"].iloc[-1] == "All teams" and "Total" in plan.columns
    assert any(e.label == "Edit budgets" for e in at.expander)
    at.selectbox(key="fc_h").set_value("fiscal_year").run()
    at.selectbox(key="fc_fy").set_value(4).run()
    assert not at.exception, at.exception
    start, until = outlook.horizon_start(q.end, "fiscal_year", 4), outlook.horizon_end(q.end, "fiscal_year", 4)
    con = store.connect(demo_store)
    try:
        expected = outlook.scope_forecast(con, q, until, events.load()).period_total(start, until)
    finally:
        con.close()
    text = next(m.value for m in at.markdown if m.value.startswith("**End of fiscal year"))
    assert f"({format.day(start)} to {format.day(until)})" in text
    assert _money(text.split(": ")[1].split("**")[0]) == pytest.approx(expected["yhat"], rel=2e-3)


def test_the_quarter_and_fiscal_year_budgets_add_up_the_month_lines(
    demo_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo budgets are month lines only: the quarter view showed "No USD budgets for 2026-Qn"."""
    at = _app(demo_store, monkeypatch, user="finance")
    at.switch_page("views/forecast.py").run()
    q = _query(demo_store)
    quarter = f"{q.end.year}-Q{(q.end.month - 1) // 3 + 1}"
    months = [f"{q.end.year}-{m:02d}" for m in range(3 * int(quarter[-1]) - 2, 3 * int(quarter[-1]) + 1)]
    for period, wanted in ((quarter, months), (f"FY{q.end.year}", [f"{q.end.year}-{m:02d}" for m in range(1, 13)])):
        at.radio(key="fc_period").set_value(period).run()
        assert not at.exception, at.exception
        assert not any(period in i.value and "No USD budgets" in i.value for i in at.info)
        status = next(d.value for d in at.dataframe if "budget line" in d.value.columns)
        lines = budgets.current().filter(pl.col("period").is_in(wanted) & (pl.col("currency") == "USD"))
        assert status["budget"].sum() == pytest.approx(lines["amount"].sum())
        assert set(status["budget line"]) == set(lines["team"])


def test_viewer_forecast_is_scoped_and_cannot_edit(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scope = access.DEMO_USERS["viewer"][2]
    at = _app(demo_store, monkeypatch, user="viewer", team=["search"])
    at.switch_page("views/forecast.py").run()
    assert not at.exception, at.exception
    q = _query(demo_store, scope=scope)
    con = store.connect(demo_store)
    try:
        mtd = float(drilldown.total(con, replace(q, start=q.end.replace(day=1)))[q.metric].sum())
    finally:
        con.close()
    assert _tile(at, f"{q.end:%B} to date") == pytest.approx(mtd, abs=0.5)
    status = next(d.value for d in at.dataframe if "budget line" in d.value.columns)
    assert set(status["budget line"]) == {"payments"}
    plan = next(d.value for d in at.dataframe if "Team" in d.value.columns)
    assert set(plan["Team"]) == {"payments", "All teams"}
    assert not any(e.label == "Edit budgets" for e in at.expander)
    assert _money(next(m.value for m in at.metric if m.label == "Month budget")) == pytest.approx(
        status["budget"].sum()
    )


def test_a_past_snapshot_is_shown_against_actuals(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    q = _query(demo_store)
    said = replace(q, end=q.end - timedelta(days=20))
    con = store.connect(demo_store)
    try:
        fc = outlook.scope_forecast(con, said, q.end + timedelta(days=10), events.load())
        after = outlook.daily_actuals(con, replace(q, start=said.end + timedelta(days=1)))
    finally:
        con.close()
    forecast_snapshots.save(fc, said, "USD", "selection", "finance", "test")
    at = _app(demo_store, monkeypatch, user="finance")
    at.switch_page("views/forecast.py").run()
    assert not at.exception, at.exception
    assert str(said.end) in at.selectbox(key="fc_snap").options
    at.selectbox(key="fc_snap").set_value(said.end).run()
    shown = next(
        d.value
        for d in at.dataframe
        if {"yhat", "actual"} <= set(d.value.columns) and "lo80" in d.value.columns and len(d.value) == 30
    )
    assert shown["actual"].sum() == pytest.approx(after["cost"].sum(), abs=0.01)
    assert shown["yhat"].tolist() == pytest.approx(fc.forecast.daily["yhat"].to_list())


def test_finance_saves_budgets_as_a_new_version(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, user="finance")
    at.switch_page("views/forecast.py").run()
    before = budgets.versions()
    at.button(key="bud_save").click().run()
    assert not at.exception, at.exception
    after = budgets.versions()
    assert after.height == before.height + 1 and after["username"][0] == "finance"
    assert budgets.current().equals(budgets.current(version=int(before["version"][0])))
    assert state.audit_log(action="budget_change", username="finance").height >= 1
    assert any("Saved version" in s.value for s in at.success)


def test_sessions_share_the_plan_a_viewer_gets_their_own(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan table is computed once per data version and request, not on every session's rerun
    (20 sessions at once spent half the server's time on it), and the cache key holds the scope."""
    calls: list[int] = []
    real = plan_export.plan_table

    def counting(*args: object, **kwargs: object) -> pl.DataFrame:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plan_export, "plan_table", counting)
    cache._derived.clear()

    def plan(user: str, **kw: object) -> pl.DataFrame:
        at = _app(demo_store, monkeypatch, user=user, **kw)  # type: ignore[arg-type]
        at.switch_page("views/forecast.py").run()
        assert not at.exception, at.exception
        return next(d.value for d in at.dataframe if "Team" in d.value.columns)

    first = plan("finance")
    assert len(calls) == 1
    second = plan("finance")  # a new session on the same version: read, not recomputed
    assert len(calls) == 1
    assert second.equals(first)
    viewer = plan("viewer", team=["search"])
    assert len(calls) == 2
    assert set(viewer["Team"]) == {"payments", "All teams"} != set(first["Team"])


def test_each_teams_track_record_on_demand(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, user="finops")
    at.switch_page("views/forecast.py").run()
    assert not any("beats naive" in d.value.columns for d in at.dataframe)  # only when asked for
    at.toggle(key="fc_tr").set_value(True).run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "beats naive" in d.value.columns)
    plan = next(d.value for d in at.dataframe if "Team" in d.value.columns)
    assert set(table["scope"]) == set(plan["Team"]) - {"All teams"}
    con = store.connect(demo_store)
    try:
        bt = outlook.backtest_scope(con, _query(demo_store).with_filter(C.x_Team, ("payments",)), events.load())
    finally:
        con.close()
    row = table[table["scope"] == "payments"].iloc[0]
    assert row["seasonal naive"] == pytest.approx(bt.figure("seasonal_naive"), abs=1e-9)
    assert row["this forecast"] == pytest.approx(bt.figure("prophet"), abs=2e-3)
    wins = int(table["beats naive"].sum())
    assert any(f"for **{wins} of {len(table)}** teams" in m.value for m in at.markdown)


@pytest.fixture(scope="module")
def month_end_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo whose data ends on a month's last day (as every demo built on the 1st does)."""
    root = tmp_path_factory.mktemp("month-end-store")
    build_demo(root, DemoConfig(seed=11, end=date(2026, 6, 30), rows=60_000))
    return root


def test_data_ending_on_a_months_last_day_forecasts_the_next_month(
    month_end_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The default horizon ("End of month") used to be zero days long and raise; now it is July's end."""
    monkeypatch.setenv("FINOPS_STATE", str(tmp_path))  # its own budgets and snapshots
    access.create_demo_users(access.users_path(), DEMO_PASSWORD)
    at = _app(month_end_store, monkeypatch, user="finance")
    at.switch_page("views/forecast.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    note = next(i.value for i in at.info if "last day of a month" in i.value)
    assert "30 June 2026" in note and "“End of month” means 31 July 2026" in note
    assert _tile(at, "July to date") == 0.0
    q = _query(month_end_store)
    con = store.connect(month_end_store)
    try:
        fc = outlook.scope_forecast(con, q, date(2026, 7, 31), events.load())
    finally:
        con.close()
    assert _tile(at, "Forecast at month end") == pytest.approx(
        fc.period_total(date(2026, 7, 1), date(2026, 7, 31))["yhat"], rel=2e-3
    )
    assert any(m.value.startswith("**End of month (1 Jul 2026 to 31 Jul 2026)") for m in at.markdown)


def test_an_uncaught_error_on_a_page_is_a_sentence_and_the_traceback_goes_to_the_log(
    demo_store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("internal detail /srv/secret.sql")

    monkeypatch.setattr(events, "load", broken)
    at = _app(demo_store, monkeypatch, user="finance")
    with caplog.at_level(logging.ERROR, logger="finops.app"):
        at.switch_page("views/forecast.py").run()
    assert not at.exception, "a traceback reached the page"
    said = [e.value for e in at.error]
    assert len(said) == 1 and said[0].startswith("Something went wrong on this page. Reload it;"), said
    ref = said[0].split("reference ")[1].split(" ")[0]
    assert not any("secret" in str(el.value) for el in [*at.error, *at.markdown, *at.caption])
    logged = [r for r in caplog.records if ref in r.getMessage()]
    assert logged and logged[0].exc_info and "internal detail" in str(logged[0].exc_info[1])
    assert at.sidebar.markdown, "the sidebar is still drawn"


def test_config_hides_error_details() -> None:
    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    # "none": Streamlit's generic message only; false would mean "stacktrace", which shows tracebacks
    assert config["client"]["showErrorDetails"] == "none"
