"""Variance analysis: the parts add up exactly, each effect is right on a constructed case, and the
figures on the demo and on the Variance page equal the store's."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finops_core import budgets, drilldown
from finops_core.query import CostQuery, Scope
from finops_core.reports import budget_variance as bv
from finops_core.reports import variance as va
from finops_core.schema import C
from tests.test_pages import _app, _money

SEPT, AUG = va.Period(date(2026, 9, 1), date(2026, 9, 30)), va.Period(date(2026, 8, 1), date(2026, 8, 31))
JUNE, JULY = va.Period(date(2026, 6, 1), date(2026, 6, 30)), va.Period(date(2026, 7, 1), date(2026, 7, 31))
EFFECT_NAMES = [n for n, _ in va.EFFECTS]


def _keys(rows: list[dict[str, object]], currency: str = "USD") -> pl.DataFrame:
    """Key rows as ``key_costs`` returns them; missing fields are 0 / None."""
    out = []
    for i, r in enumerate(rows):
        row: dict[str, object] = {C.BillingCurrency: currency} | {d: None for d in va.KEY_DIMS}
        row |= {C.ResourceId: f"r{i}", C.ServiceName: "Compute", C.ChargeCategory: "Usage", C.x_Team: "t"}
        row |= {f"{m}{p}": 0 for m in "nelc" for p in "01"} | r
        out.append(row)
    schema = {C.BillingCurrency: pl.String} | {d: pl.String for d in va.KEY_DIMS}
    schema |= {f"n{p}": pl.Int64 for p in "01"} | {f"{m}{p}": pl.Float64 for m in "elc" for p in "01"}
    return pl.DataFrame(out, schema=schema)


def _effects(rows: list[dict[str, object]], base: va.Period, current: va.Period) -> dict[str, float]:
    (v,) = va.compare(_keys(rows), base, current)
    return dict(v.effects().select("effect", "amount").iter_rows())


def _only(effects: dict[str, float], name: str, amount: float) -> None:
    assert effects[name] == pytest.approx(amount)
    for other, value in effects.items():
        if other != name:
            assert value == pytest.approx(0.0, abs=1e-9), (other, value)


def test_a_pure_price_change_is_all_rate() -> None:
    # same days, same usage at list price, 10 % higher negotiated price, no commitments
    rows = [{"n0": 30, "n1": 30, "l0": 300.0, "l1": 300.0, "e0": 240.0, "c0": 240.0, "e1": 264.0, "c1": 264.0}]
    _only(_effects(rows, JUNE, SEPT), "rate", 24.0)


def test_a_longer_month_with_flat_daily_usage_is_all_day_count() -> None:
    # 10/day in a 30-day month, then 10/day in a 31-day month (list 12/day)
    rows = [{"n0": 30, "n1": 31, "l0": 360.0, "l1": 372.0, "e0": 300.0, "c0": 300.0, "e1": 310.0, "c1": 310.0}]
    _only(_effects(rows, SEPT, JULY), "day_count", 10.0)


def test_a_new_service_is_all_new_and_a_gone_one_all_retired() -> None:
    _only(_effects([{"n1": 5, "l1": 50.0, "e1": 40.0, "c1": 40.0}], AUG, SEPT), "new", 40.0)
    _only(_effects([{"n0": 5, "l0": 50.0, "e0": 40.0, "c0": 40.0}], AUG, SEPT), "retired", -40.0)


def test_more_usage_at_the_same_rate_is_all_usage_and_a_shift_in_mix_is_mix() -> None:
    rows = [{"n0": 30, "n1": 30, "l0": 100.0, "l1": 150.0, "e0": 80.0, "c0": 80.0, "e1": 120.0, "c1": 120.0}]
    _only(_effects(rows, JUNE, SEPT), "usage", 40.0)
    # the same total usage moves from a resource at 0.5 x list to one at 1.0 x list
    shift = [
        {"n0": 30, "n1": 30, "l0": 100.0, "l1": 50.0, "e0": 50.0, "c0": 50.0, "e1": 25.0, "c1": 25.0},
        {"n0": 30, "n1": 30, "l0": 100.0, "l1": 150.0, "e0": 100.0, "c0": 100.0, "e1": 150.0, "c1": 150.0},
    ]
    _only(_effects(shift, JUNE, SEPT), "mix", 25.0)


def test_more_commitment_coverage_is_all_coverage_and_credits_are_credits() -> None:
    # negotiated cost unchanged, commitments now cover half of it at a 40 % discount
    rows = [{"n0": 30, "n1": 30, "l0": 100.0, "l1": 100.0, "e0": 90.0, "c0": 90.0, "e1": 72.0, "c1": 90.0}]
    _only(_effects(rows, JUNE, SEPT), "coverage", -18.0)
    credit = [{C.ChargeCategory: "Credit", "n0": 1, "n1": 1, "e0": -10.0, "e1": -50.0}]
    _only(_effects(credit, JUNE, SEPT), "credits", -40.0)
    tax = [{C.ChargeCategory: "Tax", "n1": 1, "e1": 7.0}]
    _only(_effects(tax, JUNE, SEPT), "other", 7.0)


money = st.floats(min_value=-50.0, max_value=5000.0, allow_nan=False).map(lambda x: round(x, 2))
positive = st.floats(min_value=0.0, max_value=5000.0, allow_nan=False).map(lambda x: round(x, 2))
key_row = st.fixed_dictionaries(
    {
        C.ChargeCategory: st.sampled_from(["Usage", "Usage", "Usage", "Credit", "Purchase", "Tax", "Adjustment"]),
        C.x_Team: st.sampled_from(["a", "b", "c"]),
        "n0": st.integers(0, 3),
        "n1": st.integers(0, 3),
        "e0": money,
        "e1": money,
        "l0": positive,
        "l1": positive,
        "c0": positive,
        "c1": positive,
    }
).map(
    lambda r: (
        r | {k: 0.0 for k in ("e0", "l0", "c0") if r["n0"] == 0} | {k: 0.0 for k in ("e1", "l1", "c1") if r["n1"] == 0}
    )
)
months = st.sampled_from([JUNE, JULY, AUG, SEPT, va.Period(date(2026, 2, 1), date(2026, 2, 28))])


@settings(max_examples=300, deadline=None)
@given(st.lists(key_row, min_size=1, max_size=12), months, months, st.integers(1, 31))
def test_the_parts_add_up_to_the_change_for_random_months(
    rows: list[dict[str, object]], base: va.Period, current: va.Period, open_days: int
) -> None:
    current = va.Period(current.start, min(current.end, current.start.replace(day=min(open_days, current.days))))
    rows = [r for r in rows if r["n0"] or r["n1"]] or [{"n1": 1, "e1": 1.0}]
    (v,) = va.compare(_keys(rows), base, current)
    scale = 1e-9 * (1 + sum(abs(float(r.get("e0", 0))) + abs(float(r.get("e1", 0))) for r in rows))
    assert float(v.effects()["amount"].sum()) == pytest.approx(v.change, abs=scale)
    per_key = v.keys.select(pl.sum_horizontal(EFFECT_NAMES) - pl.col("change")).to_series()
    assert per_key.abs().max() == pytest.approx(0.0, abs=scale)
    teams = va.contributors(v, C.x_Team)
    split = teams.select(
        pl.sum_horizontal(*(c for c in teams.columns if c not in (C.x_Team, "base", "current", "change")))
    )
    assert split.to_series().to_list() == pytest.approx(teams["change"].to_list(), abs=scale)
    # a rates table: each currency's parts at the base month's rate plus the currency effect
    eur = va.compare(_keys(rows, "EUR"), base, current)
    rates = pl.DataFrame(
        {"currency": ["EUR", "EUR"], "month": [f"{base.start:%Y-%m}", f"{current.start:%Y-%m}"], "rate": [1.1, 1.2]}
    )
    if base.start == current.start:
        rates = rates.head(1)
    frame, before, after = va.with_rates([v, *eur], rates, "USD")
    assert float(frame["amount"].sum()) == pytest.approx(after - before, abs=scale * 3)


def test_demo_months_equal_the_store_and_add_up(con, demo_store: Path) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(date(2026, 8, 1), date(2026, 10, 15))
    found = va.month_over_month(con, q, date(2026, 9, 1), date(2026, 10, 15))
    assert {v.currency for v in found} == {"USD", "EUR"}
    for v in found:
        cq = q.with_filter(C.BillingCurrency, (v.currency,))
        for period, total in ((v.base, v.base_total), (v.current, v.current_total)):
            expected = float(
                drilldown.total(con, CostQuery(period.start, period.end, filters=cq.filters))[q.metric].sum()
            )
            assert total == pytest.approx(expected, abs=0.01)
        assert float(v.effects()["amount"].sum()) == pytest.approx(v.change, abs=1e-6)
        for dim in va.CONTRIBUTOR_DIMS.values():
            everyone = va.contributors(v, dim, top=100_000)
            assert float(everyone["change"].sum()) == pytest.approx(v.change, abs=1e-6)
    # an open month is compared as far as it has data: 15 days against September's 30
    (usd, *_) = va.month_over_month(
        con, q.with_filter(C.BillingCurrency, ("USD",)), date(2026, 10, 1), date(2026, 10, 15)
    )
    assert (usd.base.days, usd.current.days) == (30, 15)
    effects = dict(usd.effects().select("effect", "amount").iter_rows())
    assert effects["day_count"] < 0


def test_scope_keeps_other_teams_out(con) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(date(2026, 8, 1), date(2026, 9, 30), scope=Scope(teams=("checkout",)))
    (usd,) = [v for v in va.month_over_month(con, q, date(2026, 9, 1), date(2026, 9, 30)) if v.currency == "USD"]
    assert set(usd.keys[C.x_Team].unique()) == {"checkout"}


def test_budget_variance_adds_up_and_uses_the_team_lines(con, demo_store: Path) -> None:  # type: ignore[no-untyped-def]
    lines = budgets.load(demo_store / "demo" / "budgets.csv")
    q = CostQuery(date(2026, 8, 1), date(2026, 9, 30), filters=((C.BillingCurrency, ("USD",)),))
    (b,) = bv.vs_budget(con, q, date(2026, 9, 1), date(2026, 9, 30), bv.rows_of(lines))
    sept = lines.filter((pl.col("period") == "2026-09") & (pl.col("currency") == "USD"))
    assert b.budget == pytest.approx(float(sept["amount"].sum()))
    assert float(b.effects()["amount"].sum()) == pytest.approx(b.variance, abs=1e-6)
    assert float(b.teams["variance"].sum()) == pytest.approx(b.variance, abs=1e-6)


def test_links_carry_the_period_currency_and_value() -> None:
    q = CostQuery(date(2026, 9, 1), date(2026, 9, 30), filters=((C.x_Environment, ("prod",)),))
    link = va.spend_link(q, SEPT, "USD", {C.ServiceName: "Amazon EC2"})
    assert (
        link
        == "./spend?period=custom&from=2026-09-01&to=2026-09-30&cur=USD&metric=EffectiveCost&env=prod&service=Amazon+EC2"
    )


def test_variance_page_shows_the_core_figures(demo_store: Path, monkeypatch: pytest.MonkeyPatch, con) -> None:  # type: ignore[no-untyped-def]
    at = _app(demo_store, monkeypatch, user="finops", p_month="2026-09")
    at.switch_page("views/variance.py").run()
    assert not at.exception and at.title[0].value == "Variance"
    q = CostQuery(date(2026, 8, 1), date(2026, 9, 30), filters=((C.BillingCurrency, ("USD",)),))
    (v,) = va.month_over_month(con, q, date(2026, 9, 1), date(2026, 10, 15))
    tiles = {m.label: _money(m.value) for m in at.metric}
    assert tiles["Aug 2026"] == pytest.approx(v.base_total, abs=1)
    assert tiles["Sep 2026"] == pytest.approx(v.current_total, abs=1)
    assert tiles["Change"] == pytest.approx(v.change, abs=1)
    shown = at.dataframe[0].value
    # rounded to the cent before display (so no -$0.00)
    assert shown.iloc[:, 1].tolist() == pytest.approx(va.effects_table(v, q)["amount"].to_list(), abs=0.005)
