"""Realized savings: constructed series with known answers, and the demo's planted optimizations."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from finops_core import savings, store
from finops_core.query import CostQuery
from finops_core.schema import ALLOCATION_NAMES, C, conform

D = date(2026, 3, 2)
FIRST = D - timedelta(days=60)


def _con(resources: dict[str, tuple[np.ndarray, np.ndarray]]) -> duckdb.DuckDBPyConnection:
    """One scope; per resource, daily (cost, usage) arrays from FIRST."""
    rows = []
    for rid, (cost, usage) in resources.items():
        for i, (c, u) in enumerate(zip(cost, usage, strict=True)):
            rows.append({C.ResourceId: rid, "d": FIRST + timedelta(days=i), C.EffectiveCost: c, C.ConsumedQuantity: u})
    frame = conform(
        pl.DataFrame(rows).with_columns(pl.col("d").cast(pl.Datetime("us", "UTC")).alias(C.ChargePeriodStart))
    )
    frame = frame.with_columns(
        pl.lit("Usage").alias(C.ChargeCategory),
        pl.lit("Hours").alias(C.ConsumedUnit),
        pl.lit("Usage-Based").alias(C.ChargeFrequency),
        pl.lit("USD").alias(C.BillingCurrency),
        pl.lit("svc").alias(C.ServiceName),
        pl.lit(FIRST.strftime("%Y-%m")).alias("billing_period"),
    )
    enriched = frame.with_columns(
        pl.col(C.ChargePeriodStart).dt.date().alias(C.x_ChargeDate), *[pl.lit("t").alias(n) for n in ALLOCATION_NAMES]
    )
    con = duckdb.connect()
    con.register("f", enriched)
    con.execute("CREATE VIEW costs AS SELECT * FROM f")
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


def test_never_more_than_the_scope_and_deployments_do_not_count() -> None:
    gone = _steady(1.0, 100, after_hours=0)
    newcomer = (np.where(np.arange(N) >= 70, 500.0, 0.0), np.where(np.arange(N) >= 70, 500.0, 0.0))
    r = savings.measure(_con({"a": gone, "new": newcomer}), SCOPE, D, END)
    assert r.realized_monthly == pytest.approx(100 * savings.MONTH, rel=1e-6)
    assert any("costs nothing" in f for f in r.flags)


def test_too_early_is_said() -> None:
    r = savings.measure(_con({"a": _steady(1.0, 100)}), SCOPE, D, D + timedelta(days=10))
    assert r.realized_monthly is None and "too early" in r.flags[0]


def test_demo_planted_savings_are_measured_within_10_percent(demo_store: Path) -> None:
    con = store.connect(demo_store)
    last = con.execute(f"SELECT max({C.x_ChargeDate}) FROM daily").fetchall()[0][0]
    truth = pl.read_csv(demo_store / "demo" / "savings_truth.csv", try_parse_dates=True)
    for t in truth.iter_rows(named=True):
        scope = CostQuery(
            last, last, filters=((C.SubAccountName, (t["sub_account_name"],)), (C.ServiceName, (t["service_name"],)))
        )
        r = savings.measure(con, scope, t["implemented_on"], last)
        assert r.realized_monthly == pytest.approx(t["true_monthly_saving"], rel=0.10), t["item_id"]


def test_an_anomaly_in_the_window_is_flagged() -> None:
    cost, usage = _steady(1.0, 100)
    cost = cost.copy()
    cost[80] *= 6  # the change saved nothing visible, and something else blew up in the after window
    items = pl.DataFrame(
        {
            "item_id": ["X"],
            "status": ["Implemented"],
            "implemented_on": [D.isoformat()],
            "sub_account_name": [""],
            "service_name": ["svc"],
            "resource_ids": [""],
            "estimated_monthly_saving": [1000.0],
        }
    )
    con = _con({"a": (cost, usage)})
    for view in ("daily", "resource_daily"):
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM f")
    out = savings.realized_for_items(con, CostQuery(FIRST, END), items)
    assert "anomaly in the window" in out["flags"][0]
