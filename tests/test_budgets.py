"""Budgets: located errors for malformed files, versions with who/when, budget vs forecast."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from finops_core import budget_grid, budget_periods, budget_status, budgets, forecast, outlook, plan_export, state
from finops_core.outlook import ScopeForecast
from finops_core.query import CostQuery, Scope
from finops_core.schema import C

ROOT = Path(__file__).resolve().parents[1]
GOOD = "team,product,period,currency,amount\npayments,,2026-10,USD,60000\npayments,wallet,2026-10,USD,20000\nsearch,,2026-Q4,USD,90000.5\n"


def test_a_good_csv_parses() -> None:
    lines = budgets.parse_csv(GOOD, "b.csv")
    assert lines.height == 3 and lines["amount"].to_list() == [60000, 20000, 90000.5]
    assert lines.filter(pl.col("team") == "search")["sub_account"][0] == ""


def test_the_demo_side_file_layout_is_accepted() -> None:
    """The demo writes team,month,currency,amount: ``month`` is an accepted name for the period."""
    lines = budgets.parse_csv("team,month,currency,amount\nml,2026-09,USD,1200.0\n", "demo.csv")
    assert lines["period"].to_list() == ["2026-09"]


def test_the_shipped_example_loads() -> None:
    lines = budgets.load(ROOT / "data" / "budgets.example.csv")
    assert lines.height > 10 and (lines["amount"] > 0).all()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("team,period,currency,amount\npayments,2026-10,USD,12k\n", "b.csv:2: amount: '12k' is not a number"),
        ("team,period,currency,amount\npayments,Oct 2026,USD,1\n", "b.csv:2: period: 'Oct 2026' is not a period"),
        ("team,period,currency,amount\npayments,2026-13,USD,1\n", "b.csv:2: period: '2026-13' is not a period"),
        ("team,period,currency,amount\npayments,2026-10,USD,-5\n", "b.csv:2: amount: -5 is negative"),
        (
            "team,period,currency,amount\na,2026-10,USD,1\nb,2026-10,USD,1\na,2026-10,USD,2\n",
            "b.csv:4: team/product/sub_account/period/currency: duplicate of b.csv:2",
        ),
        ("team,period,currency,amount,owner\na,2026-10,USD,1,x\n", "b.csv:1: owner: unknown column"),
        ("team,currency,amount\na,USD,1\n", "b.csv:1: period: missing column"),
        ("team,period,currency,amount\n,2026-10,USD,1\n", "b.csv:2: team: required"),
        ("team,period,currency,amount\na,2026-10,usd,1\n", "b.csv:2: currency: 'usd' is not an ISO 4217 code"),
        ("team,period,currency,amount\na,2026-10,USD\n", "b.csv:2: expected 4 fields, got 3"),
    ],
)
def test_malformed_csv_is_refused_with_a_located_error(text: str, error: str) -> None:
    with pytest.raises(budgets.BudgetError) as err:
        budgets.parse_csv(text, "b.csv")
    assert any(e.startswith(error) for e in err.value.errors), err.value.errors


def test_every_error_of_a_file_is_reported() -> None:
    text = "team,period,currency,amount\na,2026-10,USD,x\nb,2026-1,USD,1\nc,2026-10,USD,-1\n"
    with pytest.raises(budgets.BudgetError) as err:
        budgets.parse_csv(text, "b.csv")
    assert [e.split(":")[1] for e in err.value.errors] == ["2", "3", "4"]


def test_yaml_errors_name_the_line() -> None:
    text = "budgets:\n  - team: payments\n    period: 2026-10\n    currency: USD\n    amount: 100\n  - team: search\n    period: 2026-Q5\n    currency: USD\n    amount: 10\n"
    with pytest.raises(budgets.BudgetError) as err:
        budgets.parse_yaml(text, "b.yaml")
    assert err.value.errors == ["b.yaml:6: period: '2026-Q5' is not a period (YYYY-MM or YYYY-Qn)"]
    ok = budgets.parse_yaml(text.replace("Q5", "Q4"), "b.yaml")
    assert ok["period"].to_list() == ["2026-10", "2026-Q4"]


def test_edited_table_is_validated_by_row() -> None:
    frame = budgets.parse_csv(GOOD).with_columns(pl.Series("amount", [1.0, -2.0, 3.0]))
    with pytest.raises(budgets.BudgetError, match="edited table: row 2: amount: -2 is negative"):
        budgets.validate_frame(frame)


def test_periods() -> None:
    assert budgets.period_range("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert budgets.period_range("2026-Q4") == (date(2026, 10, 1), date(2026, 12, 31))
    assert budgets.periods_containing(date(2026, 11, 5)) == ("2026-11", "2026-Q4")


def test_saving_makes_a_version_with_who_and_an_audit_entry(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    first = budgets.save(budgets.parse_csv(GOOD), "fin", "b.csv", db)
    second = budgets.save(budgets.parse_csv(GOOD).head(1), "admin", "edited in the app", db)
    assert second == first + 1
    assert budgets.current(db).height == 1 and budgets.current(db, first).height == 3
    assert budgets.versions(db).select("username", "lines").rows() == [("admin", 1), ("fin", 3)]
    log = state.audit_log(db, action="budget_change")
    assert log["username"].to_list() == ["admin", "fin"] and '"version": 2' in log["detail"][0]


def _known_forecast(
    start: date, as_of: date, end: date, actual_per_day: float, forecast_per_day: float
) -> ScopeForecast:
    past = [start + timedelta(days=i) for i in range((as_of - start).days + 1)]
    future = [as_of + timedelta(days=i + 1) for i in range((end - as_of).days)]
    actuals = pl.DataFrame({"day": past, "cost": [actual_per_day] * len(past)})
    daily = pl.DataFrame(
        {
            "day": future,
            "yhat": [forecast_per_day] * len(future),
            **{k: [forecast_per_day] * len(future) for k in forecast.QUANTILES},
        }
    ).cast(forecast.OUTPUT_SCHEMA)  # type: ignore[arg-type]
    return ScopeForecast(actuals, forecast.SeriesForecast(daily, np.full((len(future), 3), forecast_per_day)))


def test_status_variance_and_overrun_date() -> None:
    lines = budgets.parse_csv(
        "team,period,currency,amount\npay,2026-11,USD,3000\nweb,2026-11,USD,10000\nnew,2026-11,USD,5\n"
    )
    start, end = budgets.period_range("2026-11")
    fcs = {
        "pay": _known_forecast(start, date(2026, 11, 10), end, 100, 110),  # 1000 + 20 x 110 = 3200 > 3000
        "web": _known_forecast(start, date(2026, 11, 10), end, 100, 100),
    }
    table = budget_status.status(lines, fcs, start, end)
    pay = table.filter(pl.col("budget line") == "pay").row(0, named=True)
    assert pay["actual to date"] == 1000 and pay["forecast at period end"] == pytest.approx(3200)
    assert pay["variance"] == pytest.approx(200) and pay["variance %"] == pytest.approx(200 / 3000)
    # cumulative: 1000 by the 10th, then +110 a day: 3000 is passed on day 10 + ceil(2000 / 110) = the 29th
    assert pay["overrun on"] == date(2026, 11, 29)
    assert table.filter(pl.col("budget line") == "web")["overrun on"][0] is None
    new = table.filter(pl.col("budget line") == "new").row(0, named=True)  # no forecast (too little history)
    assert new["budget"] == 5 and new["forecast at period end"] is None and table["budget line"][-1] == "new"


def test_outermost_lines_do_not_count_twice() -> None:
    lines = budgets.parse_csv(GOOD)
    assert budget_status.outermost(lines)["product"].to_list() == ["", ""]


def test_which_lines_a_selection_sees_and_its_comparable_budget() -> None:
    lines = budgets.parse_csv(GOOD + "web,,2026-10,USD,5000\npayments,,2026-10,EUR,700\n")
    usd = CostQuery(date(2026, 10, 1), date(2026, 10, 15), filters=((C.BillingCurrency, ("USD",)),))

    def budget(q: CostQuery) -> float | None:
        return budget_status.selection_budget(budget_status.visible_lines(lines, "2026-10", q), q)

    assert budget_status.visible_lines(lines, "2026-10", usd).height == 3
    viewer = replace(usd, scope=Scope(teams=("payments",)))
    assert set(budget_status.visible_lines(lines, "2026-10", viewer)["team"]) == {"payments"}
    assert budget(viewer) == 60000
    picked = usd.with_filter(C.x_Team, ("payments", "web"))
    assert budget(picked) == 65000
    assert budget(usd) is None  # everything: unbudgeted spend too
    assert budget(usd.with_filter(C.x_Team, ("payments", "search"))) is None  # search has no October line
    assert budget(picked.with_filter(C.ServiceName, ("AWS Lambda",))) is None
    assert budget(replace(usd, scope=Scope(sub_accounts=("1",)))) is None


MONTHLY = "team,period,currency,amount\nml,2026-10,USD,10\nml,2026-11,USD,20\nml,2026-12,USD,30\nweb,2026-Q4,USD,100\nweb,2026-11,USD,5\nweb,2027-01,USD,7\n"


def test_month_lines_roll_up_to_the_quarter_and_fiscal_year() -> None:
    """The Q4 budget exists from October-December lines (main said "No USD budgets for 2026-Q4");
    a quarter line is authoritative for its months (web's November line is not added on top)."""
    lines = budgets.parse_csv(MONTHLY)
    usd = CostQuery(date(2026, 10, 1), date(2026, 11, 30), filters=((C.BillingCurrency, ("USD",)),))
    q4 = budget_status.visible_lines(lines, "2026-Q4", usd)
    assert dict(zip(q4["team"], q4["amount"], strict=True)) == {"ml": 60, "web": 100}
    assert q4["months"].to_list() == [3, 3]
    fy = budget_periods.rollup(lines, "FY2027", fiscal_start=4)  # April 2026 to March 2027
    assert dict(zip(fy["team"], fy["amount"], strict=True)) == {"ml": 60, "web": 107}
    assert fy.filter(pl.col("team") == "web")["months"][0] == 4
    assert budget_periods.rollup(lines, "FY2026")["amount"].sum() == 160  # January start: calendar 2026
    assert budget_periods.range_of("FY2027", 4) == (date(2026, 4, 1), date(2027, 3, 31))
    assert budget_periods.periods_around(date(2026, 11, 30)) == [
        "2026-11",
        "2026-12",
        "2026-Q4",
        "2027-Q1",
        "FY2026",
        "FY2027",
    ]


def test_fiscal_quarters_of_a_year_starting_in_april() -> None:
    """FY2027 is April 2026 to March 2027 (named by the year it ends in); its Q1 is April-June 2026."""
    assert budget_periods.range_of("FY2027-Q1", 4) == (date(2026, 4, 1), date(2026, 6, 30))
    assert budget_periods.range_of("FY2027-Q4", 4) == (date(2027, 1, 1), date(2027, 3, 31))
    assert budget_periods.range_of("FY2027-Q1", 2) == (date(2026, 2, 1), date(2026, 4, 30))
    assert budget_periods.periods_around(date(2026, 11, 30), 4) == [
        "2026-11",
        "2026-12",
        "FY2027-Q3",
        "FY2027-Q4",
        "FY2027",
        "FY2028",
    ]
    assert budget_periods.periods_around(date(2026, 3, 31), 4)[2:] == ["FY2026-Q4", "FY2027-Q1", "FY2026", "FY2027"]
    lines = budgets.parse_csv(MONTHLY)  # Oct-Dec 2026 months and a calendar 2026-Q4 line
    q3 = budget_periods.rollup(lines, "FY2027-Q3", fiscal_start=4)  # October to December 2026
    assert dict(zip(q3["team"], q3["amount"], strict=True)) == {"ml": 60, "web": 100}
    # a fiscal quarter not on calendar quarters holds the month lines inside it
    nov_jan = budget_periods.rollup(lines, "FY2027-Q4", fiscal_start=2)  # November 2026 to January 2027
    assert dict(zip(nov_jan["team"], nov_jan["amount"], strict=True)) == {"ml": 50, "web": 12}
    assert outlook.horizon_end(date(2026, 11, 15), "quarter", 2) == date(2027, 1, 31)
    assert outlook.horizon_end(date(2026, 11, 15), "quarter") == date(2026, 12, 31)


def test_the_fiscal_start_comes_from_the_environment_with_a_clear_error() -> None:
    assert budget_periods.fiscal_start({}) == 1
    assert budget_periods.fiscal_start({"FINOPS_FISCAL_START": "4"}) == 4
    for bad in ("0", "13", "April", "4.5", "-1"):
        with pytest.raises(ValueError, match="FINOPS_FISCAL_START"):
            budget_periods.fiscal_start({"FINOPS_FISCAL_START": bad})


def test_status_of_a_rolled_up_quarter_says_how_many_months_it_budgets() -> None:
    lines = budgets.parse_csv("team,period,currency,amount\npay,2026-10,USD,3100\npay,2026-11,USD,3000\n")
    usd = CostQuery(date(2026, 10, 1), date(2026, 11, 10), filters=((C.BillingCurrency, ("USD",)),))
    start, end = budget_periods.range_of("2026-Q4")
    fcs = {"pay": _known_forecast(start, date(2026, 11, 10), end, 100, 100)}
    row = budget_status.status(budget_status.visible_lines(lines, "2026-Q4", usd), fcs, start, end).row(0, named=True)
    assert row["budget"] == 6100 and row["months budgeted"] == "2 of 3"
    assert row["forecast at period end"] == pytest.approx(92 * 100)


def test_the_grid_round_trips_and_keeps_the_lines_it_does_not_show() -> None:
    lines = budgets.parse_csv(GOOD + "web,,2026-11,USD,5000\npayments,,2026-10,EUR,700\n")
    months = [f"2026-{m:02d}" for m in range(10, 13)]
    grid = budget_grid.to_grid(lines, "USD", months)
    assert grid.columns == ["team", *months] and grid["team"].to_list() == ["payments", "web"]
    edited = grid.with_columns(
        pl.when(pl.col("team") == "web").then(6000.0).otherwise(pl.col("2026-12")).alias("2026-12")
    )
    after = budget_grid.from_grid(edited, lines, "USD", months)
    assert after.height == lines.height + 1
    assert budget_grid.changed_teams(lines, after) == {"web"}
    assert (
        after.filter(pl.col("currency") == "EUR").height == 1
        and after.filter(pl.col("product") == "wallet").height == 1
    )
    back = budget_grid.from_grid(grid, lines, "USD", months)
    assert budget_grid.changed_teams(lines, back) == set()


def test_grid_errors_name_the_row_and_month_and_scope_is_checked() -> None:
    lines = budgets.parse_csv(GOOD)
    months = ["2026-10", "2026-11"]
    bad = pl.DataFrame(
        {"team": ["payments", "payments", None], "2026-10": [1.0, 2.0, 3.0], "2026-11": [-1.0, None, None]}
    )
    with pytest.raises(budgets.BudgetError) as err:
        budget_grid.from_grid(bad, lines, "USD", months)
    assert err.value.errors == [
        "budget grid: row 1: 2026-11: -1 is not a non-negative number",
        "budget grid: row 2: team: 'payments' is already on row 1",
        "budget grid: row 3: team: required",
    ]
    after = budget_grid.from_grid(
        pl.DataFrame({"team": ["web"], "2026-10": [9.0], "2026-11": [None]}), lines, "USD", months
    )
    budget_grid.check_scope(lines, after, Scope())
    with pytest.raises(budgets.BudgetError, match="team 'payments': outside your scope"):
        budget_grid.check_scope(lines, after, Scope(teams=("web",)))


def test_plan_export_has_bands_budget_and_totals_that_add_up() -> None:
    lines = budgets.parse_csv(
        "team,period,currency,amount\npay,2026-11,USD,3000\npay,2026-12,USD,3100\nweb,2026-12,USD,50\n"
    )
    fcs = {
        "pay": _known_forecast(date(2026, 9, 1), date(2026, 11, 10), date(2026, 12, 31), 100, 110),
        "web": _known_forecast(date(2026, 9, 1), date(2026, 11, 10), date(2026, 12, 31), 1, 2),
    }
    plan = plan_export.plan_table(fcs, date(2026, 11, 1), date(2026, 12, 31), lines)
    pay_nov = plan.filter((pl.col("team") == "pay") & (pl.col("month") == "2026-11")).row(0, named=True)
    assert pay_nov["expected"] == pytest.approx(1000 + 20 * 110) and pay_nov["budget"] == 3000
    assert pay_nov["basis"] == "actual + forecast" and pay_nov["bands"] == "Prophet's own"
    assert pay_nov["low 80 %"] <= pay_nov["expected"] <= pay_nov["high 80 %"]
    body = plan.filter(pl.col("basis") != "total")
    grand = plan.filter((pl.col("team") == plan_export.ALL_TEAMS) & (pl.col("month") == plan_export.TOTAL)).row(
        0, named=True
    )
    assert grand["expected"] == pytest.approx(body["expected"].sum())
    assert grand["budget"] is None  # web has no November budget: no total that reads as an underspend
    dec = plan.filter((pl.col("team") == plan_export.ALL_TEAMS) & (pl.col("month") == "2026-12")).row(0, named=True)
    assert dec["budget"] == 3150 and dec["low 80 %"] is None
    wide = plan_export.wide(plan)
    assert wide.columns == ["Team", "2026-11", "2026-12", "Total"] and wide["Team"][-1] == plan_export.ALL_TEAMS
