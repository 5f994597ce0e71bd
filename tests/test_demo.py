from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finops_core.demo import DemoConfig
from finops_core.demo.commitments import Commitment, plan
from finops_core.demo.generator import DemoTruth, generate
from finops_core.schema import COMMITMENT_STATUSES, FOCUS_NAMES, C, subcategories_of


def _generate(cfg: DemoConfig) -> pl.DataFrame:
    return pl.concat([f for _, _, f in generate(cfg, DemoTruth())])


def test_same_seed_and_end_give_identical_rows() -> None:
    cfg = DemoConfig(seed=3, end=date(2026, 3, 31), rows=20_000)
    first, second = _generate(cfg), _generate(cfg)
    assert first.equals(second)
    other = _generate(DemoConfig(seed=4, end=date(2026, 3, 31), rows=20_000))
    assert not first.equals(other)


def test_shape_of_the_demo(demo_rows: pl.DataFrame, demo_config: DemoConfig) -> None:
    assert demo_rows.columns == list(FOCUS_NAMES)
    assert demo_config.n_days > 730  # two years: enough for yearly seasonality
    assert set(demo_rows[C.ProviderName].unique()) == {"AWS", "Microsoft", "Google Cloud", "Snowflake"}
    assert demo_rows[C.SubAccountId].n_unique() >= 30
    assert demo_rows[C.BillingAccountId].n_unique() >= 5
    assert demo_rows[C.ServiceName].n_unique() >= 35
    assert set(demo_rows[C.ChargeCategory].unique()) == {"Usage", "Purchase", "Tax", "Credit"}
    assert demo_rows.filter(pl.col(C.ChargeClass) == "Correction").height >= 1
    assert demo_rows.filter(pl.col(C.PublisherName) != pl.col(C.ProviderName)).height > 0  # marketplace
    assert demo_rows[C.InvoiceId].null_count() == 0


def test_one_category_per_service_and_valid_subcategories(demo_rows: pl.DataFrame) -> None:
    pairs = demo_rows.select(C.ServiceName, C.ServiceCategory, C.ServiceSubcategory).unique()
    assert pairs[C.ServiceName].is_duplicated().sum() == 0
    for _, cat, sub in pairs.iter_rows():
        assert sub in subcategories_of(cat)


def test_prices_list_at_least_contracted_and_costs_are_price_times_quantity(demo_rows: pl.DataFrame) -> None:
    priced = demo_rows.filter(pl.col(C.ListUnitPrice).is_not_null())
    assert (priced[C.ListUnitPrice] >= priced[C.ContractedUnitPrice] - 1e-12).all()
    assert (priced[C.ContractedUnitPrice] < priced[C.ListUnitPrice]).any()  # negotiated discounts exist
    diff = (priced[C.ListUnitPrice] * priced[C.PricingQuantity] - priced[C.ListCost]).abs()
    assert float(diff.max()) < 1e-6  # type: ignore[operator]


def test_tags_are_json_objects_with_realistic_hygiene(demo_rows: pl.DataFrame) -> None:
    tags = demo_rows[C.Tags].drop_nulls().unique().to_list()
    keys: set[str] = set()
    for t in tags:
        parsed = json.loads(t)
        assert isinstance(parsed, dict)
        assert all(not isinstance(v, dict | list) for v in parsed.values())
        keys |= set(parsed)
    assert {"team", "Team", "owner-team"} <= keys
    values = {json.loads(t).get("env") for t in tags}
    assert {"prod", "production", "prd"} <= values
    usage = demo_rows.filter(pl.col(C.ChargeCategory) == "Usage")
    tagged = usage.filter(pl.col(C.Tags).str.contains('"(?i:team|owner-team)":'))
    share = tagged[C.EffectiveCost].sum() / usage[C.EffectiveCost].sum()
    assert 0.6 < share < 0.85


def test_commitments_used_plus_unused_equal_purchases(demo_rows: pl.DataFrame) -> None:
    """FOCUS: per commitment, sum EffectiveCost(Usage, Used+Unused) = sum BilledCost(Purchase)."""
    cd = demo_rows.filter(pl.col(C.CommitmentDiscountId).is_not_null())
    usage = (
        cd.filter(pl.col(C.ChargeCategory) == "Usage")
        .group_by(C.CommitmentDiscountId)
        .agg(pl.col(C.EffectiveCost).sum().alias("amortized"), pl.col(C.BilledCost).sum().alias("billed_usage"))
    )
    purchases = (
        cd.filter(pl.col(C.ChargeCategory) == "Purchase")
        .group_by(C.CommitmentDiscountId)
        .agg(pl.col(C.BilledCost).sum().alias("purchased"), pl.col(C.EffectiveCost).sum().alias("purchase_effective"))
    )
    both = usage.join(purchases, on=C.CommitmentDiscountId, how="full", coalesce=True)
    assert both.height == 7
    for row in both.iter_rows(named=True):
        assert row["amortized"] == pytest.approx(row["purchased"], rel=1e-9), row
        assert row["billed_usage"] == 0.0 and row["purchase_effective"] == 0.0
    statuses = cd.filter(pl.col(C.ChargeCategory) == "Usage")[C.CommitmentDiscountStatus].unique().to_list()
    assert sorted(statuses) == sorted(COMMITMENT_STATUSES)
    unused = cd.filter(pl.col(C.CommitmentDiscountStatus) == "Unused")
    assert (unused[C.ResourceId] == unused[C.CommitmentDiscountId]).all()
    assert unused[C.ConsumedQuantity].null_count() == unused.height


def test_commitment_utilization_spread(demo_rows: pl.DataFrame) -> None:
    cd = demo_rows.filter(pl.col(C.CommitmentDiscountStatus).is_not_null())
    util = cd.group_by(C.CommitmentDiscountName).agg(
        (
            pl.col(C.EffectiveCost).filter(pl.col(C.CommitmentDiscountStatus) == "Used").sum()
            / pl.col(C.EffectiveCost).sum()
        ).alias("u")
    )
    values = dict(util.iter_rows())
    assert min(values.values()) < 0.8  # some commitments are under-used
    assert max(values.values()) > 0.9  # some are well used


class _TwoBlocks(DemoConfig):
    """A small dataset of two resource blocks: commitments cover the usage of every block."""

    @property
    def blocks(self) -> int:
        return 2

    @property
    def scale(self) -> float:
        return 0.04


@pytest.fixture(scope="module")
def two_blocks() -> tuple[pl.DataFrame, DemoConfig]:
    cfg = _TwoBlocks(seed=11, end=date(2026, 6, 30), rows=0)
    return _generate(cfg), cfg


def _stores(demo_rows: pl.DataFrame, demo_config: DemoConfig, two_blocks: tuple[pl.DataFrame, DemoConfig]):  # type: ignore[no-untyped-def]
    return [(demo_rows, demo_config), two_blocks]


def _region_in_id(c: Commitment) -> str | None:
    """The region an AWS reservation's ARN or a GCP commitment's path names (None for others)."""
    if c.id.startswith("arn:aws:") and ":savingsplans:" not in c.id:
        return c.id.split(":")[3]
    if "/regions/" in c.id:
        return c.id.split("/regions/")[1].split("/")[0]
    return None


def test_regional_commitments_cover_usage_of_their_region_only(demo_rows, demo_config, two_blocks) -> None:  # type: ignore[no-untyped-def]
    """Reservations and CUDs are regional (savings plans are not): every covered row lies in the
    commitment's region, under its billing account, of an eligible service and SKU."""
    for rows, cfg in _stores(demo_rows, demo_config, two_blocks):
        commitments = {c.id: c for c in plan(cfg.n_days)}
        used = rows.filter(pl.col(C.CommitmentDiscountStatus) == "Used")
        assert used.height
        for cid, c in commitments.items():
            assert _region_in_id(c) in (None, c.region), cid
            if c.type != "Savings Plan":
                assert c.region is not None, cid
            mine = used.filter(pl.col(C.CommitmentDiscountId) == cid)
            if c.region is not None:
                assert set(mine[C.RegionId]) <= {c.region}, (cid, set(mine[C.RegionId]))
            assert set(mine[C.BillingAccountId]) <= {c.billing_account}, cid
            assert set(mine[C.ServiceName]) <= set(c.services), cid
            if c.sku is not None:
                assert set(mine[C.SkuId]) <= {c.sku}, cid


def test_an_under_used_reservation_has_no_matching_usage_on_demand(demo_rows, demo_config, two_blocks) -> None:  # type: ignore[no-untyped-def]
    """The oversized RDS reservation is under-used because nothing is left for it to cover: on a day
    it has unused hours, no usage of its instance type, region and billing account is on demand."""
    for rows, cfg in _stores(demo_rows, demo_config, two_blocks):
        oversized = [c for c in plan(cfg.n_days) if c.category == "Usage" and c.size > 1]
        assert [c.sku for c in oversized] == ["db.r5.large"]
        for c in oversized:
            day = pl.col(C.ChargePeriodStart).dt.date()
            idle = rows.filter(pl.col(C.CommitmentDiscountId) == c.id, pl.col(C.CommitmentDiscountStatus) == "Unused")
            idle_days = set(idle.select(day)[C.ChargePeriodStart])
            matching = rows.filter(
                pl.col(C.ChargeCategory) == "Usage",
                pl.col(C.BillingAccountId) == c.billing_account,
                pl.col(C.ServiceName).is_in(list(c.services)),
                pl.col(C.SkuId) == c.sku,
                pl.col(C.RegionId) == c.region,
            )
            on_demand = matching.filter(pl.col(C.CommitmentDiscountId).is_null() & day.is_in(list(idle_days)))
            assert len(idle_days) > 300 and matching[C.CommitmentDiscountId].null_count() < matching.height
            assert on_demand.is_empty(), on_demand.select(C.ChargePeriodStart, C.SubAccountName, C.ResourceId).head()


def test_commitments_of_two_blocks_still_balance(two_blocks: tuple[pl.DataFrame, DemoConfig]) -> None:
    """Used + Unused EffectiveCost = purchases' BilledCost per commitment when several blocks draw
    on the same capacity; a day's covered hours never exceed what was bought."""
    rows, _ = two_blocks
    cd = rows.filter(pl.col(C.CommitmentDiscountId).is_not_null())
    usage = (
        cd.filter(pl.col(C.ChargeCategory) == "Usage")
        .group_by(C.CommitmentDiscountId)
        .agg(pl.col(C.EffectiveCost).sum())
    )
    bought = (
        cd.filter(pl.col(C.ChargeCategory) == "Purchase")
        .group_by(C.CommitmentDiscountId)
        .agg(pl.col(C.BilledCost).sum())
    )
    both = usage.join(bought, on=C.CommitmentDiscountId)
    assert both.height == 7
    for _, used, paid in both.iter_rows():
        assert used == pytest.approx(paid, rel=1e-9)
    blocks = cd.filter(pl.col(C.CommitmentDiscountStatus) == "Used")[C.ResourceName].str.ends_with("-b1")
    assert blocks.any()  # the second block's usage is covered too


def test_side_files(demo_store: Path, demo_rows: pl.DataFrame) -> None:
    folder = demo_store / "demo"
    org = pl.read_csv(folder / "org_mapping.csv")
    assert org.height == 30 and org["team"].drop_nulls().n_unique() >= 8
    assert pl.read_csv(folder / "teams.csv")["product"].n_unique() >= 4
    assert pl.read_csv(folder / "anomalies_truth.csv").height >= 10
    assert pl.read_csv(folder / "commitments.csv").height == 7
    backlog = pl.read_csv(folder / "backlog.csv")
    truth = pl.read_csv(folder / "savings_truth.csv")
    assert set(truth["item_id"]) <= set(backlog.filter(pl.col("status") == "Implemented")["item_id"])
    assert (truth["true_monthly_saving"] > 0).all()
    budgets = pl.read_csv(folder / "budgets.csv")
    assert budgets["team"].n_unique() >= 8


def test_invoices_match_billed_cost_but_for_the_documented_discrepancy(
    demo_store: Path, demo_rows: pl.DataFrame
) -> None:
    from finops_core.demo.sidefiles import INVOICE_DISCREPANCY

    invoices = pl.read_csv(demo_store / "demo" / "invoices.csv", schema_overrides={"billing_account_id": pl.String})
    billed = demo_rows.group_by(C.InvoiceId).agg(pl.col(C.BilledCost).sum().alias("billed"))
    joined = invoices.join(billed, left_on="invoice_id", right_on=C.InvoiceId, how="left")
    off = joined.filter((pl.col("amount") - pl.col("billed")).abs() > 0.01)
    assert off.height == 1
    assert off["billing_account_id"][0] == INVOICE_DISCREPANCY.billing_account_id
    assert off["amount"][0] - off["billed"][0] == pytest.approx(INVOICE_DISCREPANCY.amount, abs=0.01)
