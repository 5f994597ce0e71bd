"""Unit cost: exact answers on constructed data (shared splits included, the cost-vs-volume split sums
to the change, days without a metric value left out, scope), and the demo's planted worsening."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from finops_core import store
from finops_core.demo import DemoConfig
from finops_core.query import ALL, CostQuery, QueryError, Scope
from finops_core.schema import C
from finops_core.unit import cost, metrics
from tests.test_allocation import SPLIT_BASE, _row, _store

JAN, FEB = date(2026, 1, 5), date(2026, 2, 5)
LINES = metrics.parse_csv(
    "date,metric,value,team,product\n"
    "2026-01-05,requests,160,alpha,\n"
    "2026-01-06,requests,999,alpha,\n"  # no cost that day: must not dilute January
    "2026-02-05,requests,120,alpha,\n"
    "2026-01-05,requests,60,beta,\n"
    "2026-02-05,requests,60,beta,\n"
    "2026-01-05,requests,50,,\n"
    "2026-02-05,requests,100,,\n"
    "2026-01-05,requests,7,,Shop\n"
)


@pytest.fixture()
def con(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    rows = [
        _row(JAN, 300.0, team="alpha"),
        _row(JAN, 100.0, team="beta"),
        _row(JAN, 40.0, service="Support", resource=None),  # shared, split evenly: 20 each
        _row(FEB, 450.0, team="alpha"),
        _row(FEB, 90.0, team="beta"),
        _row(FEB, 60.0, service="Support", resource=None),
    ]
    c = _store(tmp_path, monkeypatch, rows, SPLIT_BASE + "    method: even\n")
    yield c
    c.close()


def _q(start: date = JAN, end: date = FEB, grain: str = "month", scope: Scope = ALL) -> CostQuery:
    return CostQuery(start=start, end=end, grain=grain, scope=scope)


def test_unit_cost_per_team_and_month_includes_shared_costs(con) -> None:  # type: ignore[no-untyped-def]
    got = cost.unit_costs(con, _q(), LINES, "requests", C.x_Team)
    assert got.select(cost.PERIOD, C.x_Team, "cost", "units", "days", "unit_cost").rows() == [
        (date(2026, 1, 1), "alpha", 320.0, 160.0, 1, 2.0),
        (date(2026, 1, 1), "beta", 120.0, 60.0, 1, 2.0),
        (date(2026, 2, 1), "alpha", 480.0, 120.0, 1, 4.0),
        (date(2026, 2, 1), "beta", 120.0, 60.0, 1, 2.0),
    ]


def test_company_wide_lines_without_a_breakdown(con) -> None:  # type: ignore[no-untyped-def]
    got = cost.unit_costs(con, _q(), LINES, "requests", None)
    assert got.select(cost.PERIOD, "cost", "units", "unit_cost").rows() == [
        (date(2026, 1, 1), 440.0, 50.0, 8.8),
        (date(2026, 2, 1), 600.0, 100.0, 6.0),
    ]


def test_change_splits_into_cost_and_volume_effects(con) -> None:  # type: ignore[no-untyped-def]
    before, after = _q(JAN, JAN), _q(FEB, FEB)
    got = cost.unit_cost_change(con, after, LINES, "requests", C.x_Team, before).sort(C.x_Team)
    alpha = got.row(0, named=True)
    # u0 = 320/160 = 2, u1 = 480/120 = 4; cost effect 160/2 (1/160 + 1/120), volume effect 800/2 (1/120 - 1/160)
    assert (alpha["unit_cost0"], alpha["unit_cost1"], alpha["change"]) == (2.0, 4.0, 2.0)
    assert alpha["cost_effect"] == pytest.approx(7 / 6, rel=1e-12)
    assert alpha["volume_effect"] == pytest.approx(5 / 6, rel=1e-12)
    assert alpha["change_pct"] == 1.0
    beta = got.row(1, named=True)
    assert (beta["change"], beta["cost_effect"], beta["volume_effect"]) == (0.0, 0.0, 0.0)
    company = cost.unit_cost_change(con, after, LINES, "requests", None, before).row(0, named=True)
    assert company["change"] == pytest.approx(6.0 - 8.8)
    assert company["cost_effect"] + company["volume_effect"] == pytest.approx(company["change"], rel=1e-12)
    assert company["cost_effect"] == pytest.approx(160 / 2 * (1 / 50 + 1 / 100))


def test_change_object_matches_the_frame() -> None:
    ch = cost.Change(cost0=320.0, units0=160.0, cost1=480.0, units1=120.0)
    assert ch.unit1 - ch.unit0 == pytest.approx(ch.cost_effect + ch.volume_effect, rel=1e-12)
    assert ch.cost_effect == pytest.approx(7 / 6)


def test_scope_keeps_only_the_viewers_teams(con) -> None:  # type: ignore[no-untyped-def]
    got = cost.unit_costs(con, _q(scope=Scope(teams=("beta",))), LINES, "requests", C.x_Team)
    assert set(got[C.x_Team]) == {"beta"}
    # company-wide volume, the scoped teams' cost: 120 of January's 440
    company = cost.unit_costs(con, _q(JAN, JAN, scope=Scope(teams=("beta",))), LINES, "requests", None)
    assert company.select("cost", "unit_cost").row(0) == (120.0, 2.4)


def test_metric_lines_pick_the_breakdowns_lines() -> None:
    assert cost.metric_lines(LINES, "requests", C.x_Product).rows() == [(date(2026, 1, 5), "Shop", 7.0)]
    assert cost.metric_lines(LINES, "requests", None)["units"].sum() == 150.0
    assert cost.metric_lines(LINES, "requests", C.x_Team)["units"].sum() == 160 + 999 + 120 + 60 + 60
    with pytest.raises(QueryError, match="x_Product or x_Team"):
        cost.metric_lines(LINES, "requests", C.ServiceName)


def test_weekly_buckets_start_on_monday(con) -> None:  # type: ignore[no-untyped-def]
    got = cost.unit_costs(con, _q(grain="week"), LINES, "requests", C.x_Team)
    assert set(got[cost.PERIOD]) == {date(2026, 1, 5), date(2026, 2, 2)}  # Jan 5 2026 is a Monday


def launch_day(cfg: DemoConfig) -> date:
    return cfg.start + timedelta(days=int(cfg.n_days * 0.55))


def test_demo_insights_cost_per_query_worsens_after_the_launch(demo_store: Path, demo_config: DemoConfig) -> None:
    lines = metrics.load(demo_store / "demo" / "metrics.csv")
    launch = launch_day(demo_config)
    before = CostQuery(start=launch - timedelta(days=98), end=launch - timedelta(days=8))
    after = CostQuery(start=launch + timedelta(days=7), end=launch + timedelta(days=97))
    con = store.connect(demo_store)
    per_product = {
        m: cost.unit_cost_change(con, after, lines, m, C.x_Product, before).filter(pl.col(C.BillingCurrency) == "USD")
        for m in ("transactions", "orders", "queries", "sessions")
    }
    insights = per_product["queries"].row(0, named=True)
    assert insights[C.x_Product] == "Insights"
    assert insights["change_pct"] > 0.15
    assert insights["cost_effect"] > insights["change"] > 0  # cost grew faster than volume
    others = [f["change_pct"][0] for m, f in per_product.items() if m != "queries"]
    assert max(others) < insights["change_pct"] - 0.1


def test_unit_cost_forecast_of_a_constant_unit_cost_stays_there() -> None:
    from finops_core.unit import outlook

    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(400)]
    units = [1000.0 * (1 + i / 500) * (0.7 if d.weekday() >= 5 else 1.0) for i, d in enumerate(days)]
    daily = pl.DataFrame({"day": days, "cost": [2.5 * u for u in units], "units": units})
    got = outlook.forecast_unit_cost(daily, date(2026, 4, 30))
    assert got["month"].to_list() == [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]
    assert got["days"].to_list() == [24, 31, 30]  # the history ends on 2026-02-04
    assert got["unit_cost"].to_list() == pytest.approx([2.5] * 3, rel=0.02)
    assert (got["lo80"] <= got["unit_cost"]).all() and (got["unit_cost"] <= got["hi80"]).all()


def test_group_daily_keeps_the_trailing_run_without_gaps(con) -> None:  # type: ignore[no-untyped-def]
    from finops_core.unit import outlook

    q = CostQuery(JAN, FEB, filters=((C.BillingCurrency, ("USD",)),))
    got = outlook.group_daily(con, q, LINES, "requests", C.x_Team, "alpha")
    assert got.rows() == [(FEB, 480.0, 120.0)]  # January 5 and February 5 are a month apart
    with pytest.raises(QueryError, match="one billing currency"):
        outlook.group_daily(con, CostQuery(JAN, FEB), LINES, "requests", C.x_Team, "alpha")
