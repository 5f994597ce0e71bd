"""Commitment analytics on the FOCUS spec's own examples and on the demo's planted commitments."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from finops_core import commitments as cm
from finops_core import db, store
from finops_core.query import CostQuery
from finops_core.schema import ALLOCATION_NAMES, FOCUS_SCHEMA, C, conform

SPEC = Path(__file__).parent / "data" / "focus-spec-examples"


def _spec_rows(name: str) -> pl.DataFrame:
    """A spec example CSV as FOCUS rows ('null' tokens as nulls, missing columns null)."""
    raw = pl.read_csv(SPEC / name, null_values=["null"], infer_schema_length=0).filter(
        pl.col(C.ChargeCategory).is_not_null()
    )
    ts = {
        c: pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
        for c in raw.columns
        if c.endswith(("PeriodStart", "PeriodEnd"))
    }
    nums = {c: pl.col(c).cast(pl.Float64) for c in raw.columns if FOCUS_SCHEMA.get(c) == pl.Float64}
    frame = conform(raw.with_columns(**ts, **nums))
    return frame.with_columns(
        pl.col(C.ContractedCost).fill_null(pl.col(C.ListCost)).fill_null(pl.col(C.BilledCost)),
        pl.lit("Compute Service").alias(C.ServiceName),
        pl.lit("USD").alias(C.BillingCurrency),
    )


def _connection(rows: pl.DataFrame) -> duckdb.DuckDBPyConnection:
    """Views ``costs`` and ``daily`` over a frame, shaped as store.connect shapes them."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    enriched = rows.with_columns(
        pl.col(C.ChargePeriodStart).dt.date().alias(C.x_ChargeDate),
        pl.col(C.ChargePeriodStart).dt.strftime("%Y-%m").alias("billing_period"),
        *[pl.lit("Unallocated").alias(n) for n in ALLOCATION_NAMES],
    )
    con.register("rows_frame", enriched)
    con.execute("CREATE VIEW costs AS SELECT * FROM rows_frame")
    con.execute("CREATE VIEW daily AS SELECT * FROM rows_frame")
    return con


DAY = CostQuery(date(2023, 1, 1), date(2023, 1, 1))


@pytest.mark.parametrize(
    ("name", "utilization"),
    [
        ("commitment_discount_usage_scenario_1.csv", 1.0),
        ("commitment_discount_usage_scenario_2.csv", 0.0),
        ("commitment_discount_usage_scenario_3.csv", 0.75),
        ("commitment_discount_usage_scenario_4.csv", 1.0),
        ("one_hundred_percent_utilization_with_commitment_discount_flexibility_with_1_resource.csv", 1.0),
        ("one_hundred_percent_utilization_with_commitment_discount_flexibility_with_2_resources.csv", 1.0),
        ("one_hundred_percent_utilization_without_commitment_discount_flexibility.csv", 1.0),
        ("zero_percent_utilization_without_commitment_discount_flexibility.csv", 0.0),
    ],
)
def test_utilization_of_the_spec_examples(name: str, utilization: float) -> None:
    out = cm.commitment_utilization(_connection(_spec_rows(name)), DAY)
    assert out.height == 1
    assert out["utilization"][0] == pytest.approx(utilization)


@pytest.mark.parametrize(
    ("name", "coverage"),
    [
        ("one_hundred_percent_utilization_without_commitment_discount_flexibility.csv", 1.0),
        ("one_hundred_percent_utilization_with_commitment_discount_flexibility_with_2_resources.csv", 1.0),
        ("zero_percent_utilization_without_commitment_discount_flexibility.csv", 0.0),
    ],
)
def test_coverage_of_the_spec_examples(name: str, coverage: float) -> None:
    out = cm.commitment_coverage(_connection(_spec_rows(name)), DAY)
    assert out["coverage"][0] == pytest.approx(coverage)


def test_amortized_used_plus_unused_equals_purchase_on_spec_example() -> None:
    """The flexibility example: purchase BilledCost = Used + Unused EffectiveCost of the hour."""
    rows = _spec_rows("one_hundred_percent_utilization_without_commitment_discount_flexibility.csv")
    purchase = rows.filter(pl.col(C.ChargeCategory) == "Purchase")[C.BilledCost].sum()
    amortized = rows.filter(pl.col(C.CommitmentDiscountStatus).is_not_null())[C.EffectiveCost].sum()
    assert amortized == pytest.approx(purchase)


@pytest.fixture(scope="module")
def demo_now(demo_store: Path) -> tuple[duckdb.DuckDBPyConnection, CostQuery]:
    con = store.connect(demo_store)
    end = db.rows(con, f"SELECT max({C.x_ChargeDate}) FROM daily")[0][0]
    return con, CostQuery(end - timedelta(days=29), end, filters=((C.BillingCurrency, ("USD",)),))


def test_planted_commitments_are_flagged(
    demo_now: tuple[duckdb.DuckDBPyConnection, CostQuery], demo_store: Path
) -> None:
    con, q = demo_now
    inventory = cm.load_inventory(demo_store / "demo" / "commitments.csv")
    exp = cm.expirations(con, q, inventory)
    flags = dict(zip(exp[C.CommitmentDiscountName], exp["flags"], strict=True))
    days = dict(zip(exp[C.CommitmentDiscountName], exp["days_to_expiry"], strict=True))
    assert "< 90%" in flags["RDS RI db.r5.large 3yr no-upfront"]
    assert "< 90%" in flags["Compute savings plan 3yr"]
    assert days["VM RI D4s v5 1yr"] == 26 and "within 30" in flags["VM RI D4s v5 1yr"]
    assert days["Compute SP 1yr no-upfront"] == 41 and "within 60" in flags["Compute SP 1yr no-upfront"]
    assert days["CUD n2-standard-4 1yr"] == 56 and "within 60" in flags["CUD n2-standard-4 1yr"]
    assert flags["EC2 RI m5.xlarge 1yr all-upfront"] == "expired"
    assert (exp.filter(pl.col("days_to_expiry") > 90)["flags"].str.contains("expires")).sum() == 0


def test_utilization_matches_the_rows(
    demo_now: tuple[duckdb.DuckDBPyConnection, CostQuery], demo_rows: pl.DataFrame
) -> None:
    con, q = demo_now
    out = cm.commitment_utilization(con, q)
    sel = demo_rows.filter(
        pl.col(C.ChargePeriodStart).dt.date().is_between(q.start, q.end)
        & pl.col(C.CommitmentDiscountStatus).is_not_null()
        & (pl.col(C.BillingCurrency) == "USD")
    )
    for cid, used in (
        sel.filter(pl.col(C.CommitmentDiscountStatus) == "Used")
        .group_by(C.CommitmentDiscountId)
        .agg(pl.col(C.EffectiveCost).sum())
        .iter_rows()
    ):
        assert out.filter(pl.col(C.CommitmentDiscountId) == cid)["used"][0] == pytest.approx(used, rel=1e-9)


def test_coverage_parts_sum_and_esr_split(demo_now: tuple[duckdb.DuckDBPyConnection, CostQuery]) -> None:
    con, q = demo_now
    total = cm.commitment_coverage(con, q)
    by_service = cm.commitment_coverage(con, q, C.ServiceName)
    assert by_service["covered"].sum() == pytest.approx(total["covered"][0], rel=1e-9)
    assert by_service["eligible"].sum() == pytest.approx(total["eligible"][0], rel=1e-9)
    assert 0 < total["coverage"][0] < 1
    esr = cm.effective_savings_rate(con, q).row(0, named=True)
    assert esr["negotiated_savings"] + esr["commitment_savings"] == pytest.approx(
        esr["list_cost"] - esr["effective_cost"]
    )
    assert 0 < esr["esr"] < 0.5


def test_coverage_by_region_only_where_a_commitment_may_cover(demo_store: Path) -> None:
    """Coverage per region (the page's breakdown) is above zero only in a region a commitment of
    that provider may cover: its own region, or any for a region-flexible savings plan."""
    from finops_core.demo.commitments import plan

    con = store.connect(demo_store)
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    q = CostQuery(first, last, filters=((C.BillingCurrency, ("USD",)),))
    by = cm.commitment_coverage(con, q, C.RegionId).join(
        db.frame(con, f"SELECT DISTINCT {C.RegionId}, {C.ProviderName} FROM daily"), on=C.RegionId
    )
    commitments = plan((last - first).days + 1)
    flexible = {c.provider for c in commitments if c.region is None}
    regional = {(c.provider, c.region) for c in commitments if c.region is not None}
    covered = by.filter(pl.col("covered") > 0)
    assert covered.height
    for region, provider in covered.select(C.RegionId, C.ProviderName).iter_rows():
        assert provider in flexible or (provider, region) in regional, (provider, region)
    con.close()


def test_purchase_sizing_on_a_known_series() -> None:
    """Demand of 100/day on 20 days and 40/day on 10 days at a 30 % discount: commit what the low days use."""
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(30)]
    demand = [100.0] * 20 + [40.0] * 10
    rows = pl.DataFrame({C.ChargePeriodStart: days, C.ContractedCost: demand}).with_columns(
        pl.col(C.ChargePeriodStart).cast(pl.Datetime("us", "UTC"))
    )
    frame = conform(rows).with_columns(
        pl.lit("Usage").alias(C.ChargeCategory),
        pl.lit("Standard").alias(C.PricingCategory),
        pl.lit("VMs").alias(C.ServiceName),
        pl.lit("USD").alias(C.BillingCurrency),
    )
    covered = frame.head(1).with_columns(
        pl.lit("Used").alias(C.CommitmentDiscountStatus),
        pl.lit("Committed").alias(C.PricingCategory),
        pl.lit(0.0).alias(C.ContractedCost),
    )
    con = _connection(pl.concat([frame, covered]))
    result = cm.purchase_sizing(con, CostQuery(days[0], days[-1]), discount=0.3)
    # savings(C) = sum(min(E, C/0.7)) - 30 C: rises while C/0.7 <= 40 (all days), then 20 days only: 20/0.7 < 30
    assert result["commit_per_day"] == pytest.approx(40 * 0.7, rel=0.02)
    assert result["break_even_utilization"] == pytest.approx(0.7)
    assert result["expected_utilization"] == pytest.approx(1.0, rel=0.02)
