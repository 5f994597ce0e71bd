"""Realized savings: constructed series with known answers (churn and currencies included), and the
demo's planted optimizations on more than one seed and end date."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from finops_core import savings, savings_items, store
from finops_core.backlog import BacklogError
from finops_core.demo import DemoConfig, build_demo
from finops_core.query import CostQuery, QueryError, Scope
from finops_core.schema import ALLOCATION_NAMES, C, conform

D = date(2026, 3, 2)
FIRST = D - timedelta(days=60)


def _con(
    resources: dict[str, tuple[np.ndarray, np.ndarray]], currency: dict[str, str] | None = None
) -> duckdb.DuckDBPyConnection:
    """One scope; per resource, daily (cost, usage) arrays from FIRST (NaN cost: not billed that
    day), billed in ``currency[resource]`` (USD by default)."""
    rows = []
    for rid, (cost, usage) in resources.items():
        cur = (currency or {}).get(rid, "USD")
        for i, (c, u) in enumerate(zip(cost, usage, strict=True)):
            if np.isnan(c):
                continue
            rows.append(
                {
                    C.ResourceId: rid,
                    "d": FIRST + timedelta(days=i),
                    C.EffectiveCost: c,
                    C.ConsumedQuantity: u,
                    C.BillingCurrency: cur,
                }
            )
    frame = conform(
        pl.DataFrame(rows).with_columns(pl.col("d").cast(pl.Datetime("us", "UTC")).alias(C.ChargePeriodStart))
    )
    frame = frame.with_columns(
        pl.lit("Usage").alias(C.ChargeCategory),
        pl.lit("Hours").alias(C.ConsumedUnit),
        pl.lit("Usage-Based").alias(C.ChargeFrequency),
        pl.lit("svc").alias(C.ServiceName),
        pl.lit(FIRST.strftime("%Y-%m")).alias("billing_period"),
    )
    enriched = frame.with_columns(
        pl.col(C.ChargePeriodStart).dt.date().alias(C.x_ChargeDate), *[pl.lit("t").alias(n) for n in ALLOCATION_NAMES]
    )
    con = duckdb.connect()
    con.register("f", enriched)
    con.execute("CREATE VIEW costs AS SELECT * FROM f")
    for view in ("daily", "resource_daily"):
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM f")
    return con


SCOPE = CostQuery(D, D, filters=((C.ServiceName, ("svc",)),))
N = 110
END = FIRST + timedelta(days=N - 1)


def _steady(
    rate: float, hours: float, after_rate: float | None = None, after_hours: float | None = None, growth: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    days = np.arange(N)
    usage = hours * (1 + growth * days)
    if after_hours is not None:
        usage = np.where(days >= 60, after_hours * (1 + growth * days), usage)
    price = np.where(days >= 60, after_rate if after_rate is not None else rate, rate)
    return usage * price, usage


def test_a_usage_cut_is_measured_exactly() -> None:
    r = savings.measure(_con({"a": _steady(1.0, 100, after_hours=40)}), SCOPE, D, END)
    assert r.realized_monthly == pytest.approx(60 * savings.MONTH, rel=1e-6)
    assert r.usage_effect_monthly == pytest.approx(60 * savings.MONTH) and r.rate_effect_monthly == pytest.approx(0)


def test_growth_is_not_mistaken_for_savings_or_losses() -> None:
    # 0.5 %/day growth, rate cut from 1.0 to 0.7 at D: savings are 0.3 x the usage actually run
    cost, usage = _steady(1.0, 100, after_rate=0.7, growth=0.005)
    r = savings.measure(_con({"a": (cost, usage)}), SCOPE, D, END)
    after = usage[67:95]
    assert r.realized_monthly == pytest.approx(0.3 * after.mean() * savings.MONTH, rel=0.02)


def test_a_usage_increase_is_not_counted_as_lost_savings() -> None:
    # rightsizing halves the rate, but the business doubles usage the same day
    cost, usage = _steady(2.0, 100, after_rate=1.0, after_hours=200)
    r = savings.measure(_con({"a": (cost, usage)}), SCOPE, D, END)
    assert r.realized_monthly == pytest.approx(1.0 * 200 * savings.MONTH, rel=1e-6)  # rate effect on actual usage
    assert r.usage_growth_monthly == pytest.approx(100 * 2.0 * savings.MONTH, rel=1e-6)
    assert r.actual_daily >= r.expected_daily  # the bill did not go down, the change still saved


def _window(start: int, end: int, cost: float, usage: float, cut: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A resource billed on days [start, end) of the series, its usage x ``cut`` from D on."""
    days = np.arange(N)
    billed = (days >= start) & (days < end)
    factor = np.where(days >= 60, cut, 1.0)
    return np.where(billed, cost * factor, np.nan), np.where(billed, usage * factor, 0.0)


AFTER = slice(67, 95)  # the 28 days after the settling week (D is day 60)


def test_a_resource_deployed_after_the_change_counts_with_the_same_relative_saving() -> None:
    # the change halves every resource of the scope; "b" appears five days after it
    a, b = _window(0, N, 100.0, 100.0, cut=0.5), _window(65, N, 80.0, 80.0, cut=0.5)
    r = savings.measure(_con({"a": a, "b": b}), SCOPE, D, END)
    assert r.realized_monthly == pytest.approx((50 + 40) * savings.MONTH, rel=1e-6)
    assert any("scope churned" in f and "deployed after the change" in f for f in r.flags)


def test_a_resource_retired_inside_the_window_is_not_a_saving() -> None:
    # "a" halves at D; "b", untouched by the change, is shut down on day 75, inside the after window
    a, b = _window(0, N, 100.0, 100.0, cut=0.5), _window(0, 75, 30.0, 30.0)
    r = savings.measure(_con({"a": a, "b": b}), SCOPE, D, END)
    assert r.realized_monthly == pytest.approx(50 * savings.MONTH, rel=1e-6)
    assert any("retired inside the after window" in f for f in r.flags)


def test_a_resource_the_change_removed_is_its_whole_cost_saved() -> None:
    # "b" is deleted by the change (no rows from D + 2); "a" carries on unchanged
    a, b = _window(0, N, 100.0, 100.0), _window(0, 62, 30.0, 30.0)
    r = savings.measure(_con({"a": a, "b": b}), SCOPE, D, END)
    assert r.realized_monthly == pytest.approx(30 * savings.MONTH, rel=1e-6)
    assert any("counted as removed by the change" in f for f in r.flags)


def test_never_more_than_the_scope_and_an_untouched_newcomer_is_neither_saving_nor_loss() -> None:
    gone = _steady(1.0, 100, after_hours=0)
    newcomer = _window(70, N, 500.0, 500.0)
    r = savings.measure(_con({"a": gone, "new": newcomer}), SCOPE, D, END)
    assert r.realized_monthly == pytest.approx(100 * savings.MONTH, rel=1e-6)
    r = savings.measure(_con({"a": gone}), SCOPE, D, END)
    assert r.realized_monthly == pytest.approx(100 * savings.MONTH, rel=1e-6)
    assert any("costs nothing" in f for f in r.flags)


def test_too_early_is_said() -> None:
    r = savings.measure(_con({"a": _steady(1.0, 100)}), SCOPE, D, D + timedelta(days=10))
    assert r.realized_monthly is None and "too early" in r.flags[0]


ITEM = {
    "item_id": ["X"],
    "status": ["Implemented"],
    "implemented_on": [D.isoformat()],
    "sub_account_name": [""],
    "service_name": ["svc"],
    "resource_ids": [""],
    "estimated_monthly_saving": [1000.0],
    "currency": ["USD"],
    "team": ["t"],
    "category": ["other"],
    "title": ["x"],
}


def test_an_item_spanning_currencies_is_reported_per_currency_not_summed() -> None:
    # a service-only scope over a USD and a EUR account: each saving stays in its own currency
    con = _con(
        {"us": _window(0, N, 100.0, 100.0, cut=0.5), "eu": _window(0, N, 60.0, 60.0, cut=0.75)},
        currency={"eu": "EUR"},
    )
    with pytest.raises(QueryError, match=r"bills in EUR, USD"):
        savings.measure(con, SCOPE, D, END)
    items = pl.DataFrame(ITEM)
    out = savings_items.realized_for_items(con, CostQuery(FIRST, END), items).sort("currency")
    assert out["currency"].to_list() == ["EUR", "USD"]
    assert out["realized_monthly"].to_list() == pytest.approx([15 * savings.MONTH, 50 * savings.MONTH], rel=1e-6)
    assert out["realization"].to_list() == [None, pytest.approx(50 * savings.MONTH / 1000)]
    totals = savings_items.totals(savings_items.item_table(items, out)).sort("currency")
    assert totals["currency"].to_list() == ["EUR", "USD"]
    assert totals["estimated"].to_list() == [0.0, 1000.0]  # the USD estimate is counted once, in USD
    assert totals["realized"].to_list() == pytest.approx([15 * savings.MONTH, 50 * savings.MONTH], rel=1e-6)


def test_an_item_measured_within_the_callers_scope_only() -> None:
    con = _con({"a": _window(0, N, 100.0, 100.0, cut=0.5)})
    items = pl.DataFrame(ITEM)
    mine = savings_items.realized_for_items(con, CostQuery(FIRST, END, scope=Scope(teams=("t",))), items)
    other = savings_items.realized_for_items(con, CostQuery(FIRST, END, scope=Scope(teams=("other",))), items)
    assert mine["realized_monthly"][0] == pytest.approx(50 * savings.MONTH, rel=1e-6)
    assert other["realized_monthly"][0] is None  # no rows of the scope are the caller's to see


STORES = ((11, date(2026, 6, 30)), (101, date(2026, 8, 19)))


@pytest.fixture(scope="module")
def small_stores(tmp_path_factory: pytest.TempPathFactory, demo_store: Path) -> list[Path]:
    """The session store plus two small ones on other seeds and end dates."""
    out = [demo_store]
    for seed, end in STORES:
        root = tmp_path_factory.mktemp(f"sav{seed}")
        build_demo(root, DemoConfig(seed=seed, end=end, rows=60_000))
        out.append(root)
    return out


def test_demo_planted_savings_are_measured_within_10_percent(small_stores: list[Path]) -> None:
    measured = 0
    for root in small_stores:
        con = store.connect(root)
        first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchall()[0]
        items = pl.read_csv(root / "demo" / "backlog.csv", schema_overrides={"implemented_on": pl.String})
        out = savings_items.realized_for_items(con, CostQuery(first, last), items.with_columns(resource_ids=pl.lit("")))
        truth = pl.read_csv(root / "demo" / "savings_truth.csv")
        assert truth.height == 5
        for t in truth.iter_rows(named=True):
            got = out.filter((pl.col("item_id") == t["item_id"]) & (pl.col("currency") == t["currency"]))
            assert got.height == 1, (root, t["item_id"])
            if t["true_monthly_saving"] == 0:  # a small store whose scope had no resource around the change
                assert got["realized_monthly"][0] is None and "no billing rows" in got["flags"][0]
                continue
            assert got["realized_monthly"][0] == pytest.approx(t["true_monthly_saving"], rel=0.10), (root, t["item_id"])
            measured += 1
    assert measured >= 12  # most items of the three stores had something to save


def test_an_anomaly_in_the_window_is_flagged() -> None:
    cost, usage = _steady(1.0, 100)
    cost = cost.copy()
    cost[80] *= 6  # the change saved nothing visible, and something else blew up in the after window
    con = _con({"a": (cost, usage)})
    out = savings_items.realized_for_items(con, CostQuery(FIRST, END), pl.DataFrame(ITEM))
    assert "anomaly in the window" in out["flags"][0]


def test_an_item_whose_scope_matches_no_billing_rows_is_refused(demo_store: Path) -> None:
    con = store.connect(demo_store)
    try:
        first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchall()[0]
        sub, service = con.execute(
            f"SELECT {C.SubAccountName}, {C.ServiceName} FROM costs WHERE {C.ChargeCategory} = 'Usage' LIMIT 1"
        ).fetchall()[0]
        whole = CostQuery(first, last)
        real = {"sub_account_name": sub, "service_name": service}
        direct = con.execute(
            f"SELECT count(*) FROM costs WHERE {C.SubAccountName} = ? AND {C.ServiceName} = ?", [sub, service]
        ).fetchall()[0][0]
        assert savings_items.scope_row_count(con, real, whole) == direct > 0
        savings_items.require_billing_rows(con, real, whole, "item OPT-9")  # accepted
        typo = real | {"service_name": service.lower() + " typo"}
        with pytest.raises(BacklogError, match=r"item OPT-9: scope .* matches no billing rows from"):
            savings_items.require_billing_rows(con, typo, whole, "item OPT-9")
        viewer = CostQuery(first, last, scope=Scope(teams=("no-such-team",)))
        with pytest.raises(BacklogError, match="in your scope"):
            savings_items.require_billing_rows(con, real, viewer, "item OPT-9")
    finally:
        con.close()
