"""Turn the generator's numeric facts into FOCUS 1.2 rows (strings, periods, commitment columns)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl

from finops_core.demo.catalog import BA_BY_ID, SUB_ACCOUNTS, publisher_of
from finops_core.demo.commitments import Commitment
from finops_core.schema import FOCUS_SCHEMA, UTC_TS, C, conform

SUB_BY_NAME = {s.name: s for s in SUB_ACCOUNTS}


def utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """One billing month of the demo and what every row in it shares."""

    start: date  # first day of the billing month
    end: date  # first day of the next month (exclusive)
    data_start: date  # day offset 0 of the whole dataset
    closed: bool  # the month is over: its invoice is final, else provisional

    def invoice_id(self, billing_account: str) -> str:
        short = billing_account.rsplit("/", 1)[-1].replace(":", "-")
        return f"INV-{short}-{self.start:%Y%m}"

    def day(self, offset: int) -> datetime:
        return utc(self.data_start + timedelta(days=offset))


def commitment_frame(plan: tuple[Commitment, ...]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "cd_idx": list(range(len(plan))),
            C.CommitmentDiscountId: [c.id for c in plan],
            C.CommitmentDiscountName: [c.name for c in plan],
            C.CommitmentDiscountCategory: [c.category for c in plan],
            C.CommitmentDiscountType: [c.type for c in plan],
            C.CommitmentDiscountUnit: [
                ("Hours" if c.category == "Usage" else BA_BY_ID[c.billing_account].currency) for c in plan
            ],
        },
        schema_overrides={"cd_idx": pl.Int32},
    )


def usage_rows(fact: pl.DataFrame, res: pl.DataFrame, cds: pl.DataFrame, period: Period) -> pl.DataFrame:
    """FOCUS rows for resource usage; one per (resource, day)."""
    invoice = {ba: period.invoice_id(ba) for ba in BA_BY_ID}
    df = fact.join(res.drop("list_price", "contracted_price"), on="res_idx", how="left").join(
        cds, on="cd_idx", how="left"
    )
    start = pl.lit(utc(period.data_start), dtype=UTC_TS) + pl.duration(days=pl.col("day"))
    committed = pl.col("cd_idx") >= 0
    price_id = pl.concat_str(
        pl.col("sku"),
        pl.lit(":"),
        pl.when(committed).then(pl.col(C.CommitmentDiscountId)).otherwise(pl.col("billing_account")),
    )
    return conform(
        df.select(
            pl.col("zone").alias(C.AvailabilityZone),
            pl.col("billed").alias(C.BilledCost),
            pl.col("billing_account").alias(C.BillingAccountId),
            pl.col("billing_account_name").alias(C.BillingAccountName),
            pl.col("billing_account_type").alias(C.BillingAccountType),
            pl.col("currency").alias(C.BillingCurrency),
            pl.lit(utc(period.end), dtype=UTC_TS).alias(C.BillingPeriodEnd),
            pl.lit(utc(period.start), dtype=UTC_TS).alias(C.BillingPeriodStart),
            pl.lit("Usage").alias(C.ChargeCategory),
            pl.concat_str(pl.col("service"), pl.lit(" "), pl.col("sku"), pl.lit(" in "), pl.col("region_name")).alias(
                C.ChargeDescription
            ),
            pl.lit("Usage-Based").alias(C.ChargeFrequency),
            (start + pl.duration(days=1)).alias(C.ChargePeriodEnd),
            start.alias(C.ChargePeriodStart),
            pl.col(C.CommitmentDiscountCategory),
            pl.col(C.CommitmentDiscountId),
            pl.col(C.CommitmentDiscountName),
            pl.col("cd_qty").alias(C.CommitmentDiscountQuantity),
            pl.col("cd_status").alias(C.CommitmentDiscountStatus),
            pl.col(C.CommitmentDiscountType),
            pl.col(C.CommitmentDiscountUnit),
            pl.col("qty").alias(C.ConsumedQuantity),
            pl.col("unit").alias(C.ConsumedUnit),
            pl.col("contracted_cost").alias(C.ContractedCost),
            pl.col("contracted_price").alias(C.ContractedUnitPrice),
            pl.col("effective").alias(C.EffectiveCost),
            pl.col("billing_account").replace_strict(invoice, return_dtype=pl.String).alias(C.InvoiceId),
            pl.col("issuer").alias(C.InvoiceIssuerName),
            pl.col("list_cost").alias(C.ListCost),
            pl.col("list_price").alias(C.ListUnitPrice),
            pl.col("pricing_category").alias(C.PricingCategory),
            pl.col("currency").alias(C.PricingCurrency),
            pl.col("contracted_price").alias(C.PricingCurrencyContractedUnitPrice),
            pl.col("effective").alias(C.PricingCurrencyEffectiveCost),
            pl.col("list_price").alias(C.PricingCurrencyListUnitPrice),
            pl.col("qty").alias(C.PricingQuantity),
            pl.col("unit").alias(C.PricingUnit),
            pl.col("provider").alias(C.ProviderName),
            pl.col("publisher").alias(C.PublisherName),
            pl.col("region_id").alias(C.RegionId),
            pl.col("region_name").alias(C.RegionName),
            pl.col("resource_id").alias(C.ResourceId),
            pl.col("resource_name").alias(C.ResourceName),
            pl.col("resource_type").alias(C.ResourceType),
            pl.col("category").alias(C.ServiceCategory),
            pl.col("service").alias(C.ServiceName),
            pl.col("subcategory").alias(C.ServiceSubcategory),
            pl.col("sku").alias(C.SkuId),
            pl.concat_str(pl.col("resource_type"), pl.lit(" usage")).alias(C.SkuMeter),
            pl.col("sku_details").alias(C.SkuPriceDetails),
            price_id.alias(C.SkuPriceId),
            pl.col("sub_account").alias(C.SubAccountId),
            pl.col("sub_account_name").alias(C.SubAccountName),
            pl.col("sub_account_type").alias(C.SubAccountType),
            pl.col("tags").alias(C.Tags),
        )
    )


def _base(period: Period, billing_account: str, sub_account_name: str | None) -> dict[str, object]:
    """Columns every non-resource row of a billing account shares."""
    ba = BA_BY_ID[billing_account]
    sub = SUB_BY_NAME.get(sub_account_name) if sub_account_name else None
    return {
        C.BillingAccountId: ba.id,
        C.BillingAccountName: ba.name,
        C.BillingAccountType: ba.type,
        C.BillingCurrency: ba.currency,
        C.PricingCurrency: ba.currency,
        C.BillingPeriodStart: utc(period.start),
        C.BillingPeriodEnd: utc(period.end),
        C.InvoiceId: period.invoice_id(ba.id),
        C.InvoiceIssuerName: ba.issuer,
        C.ProviderName: ba.provider,
        C.PublisherName: publisher_of(ba.provider),
        C.SubAccountId: sub.id if sub else ba.id,
        C.SubAccountName: sub.name if sub else f"{ba.name} management",
        C.SubAccountType: sub.type if sub else "Account",
    }


def frame(records: list[dict[str, object]]) -> pl.DataFrame:
    """Records (any subset of FOCUS columns each) as a conformed FOCUS frame."""
    if not records:
        return pl.DataFrame(schema=FOCUS_SCHEMA)
    full = [{name: rec.get(name) for name in FOCUS_SCHEMA} for rec in records]
    return pl.DataFrame(full, schema=FOCUS_SCHEMA)


def priced(
    base: dict[str, object],
    quantity: float,
    unit: str,
    unit_price: float,
    billed: float,
    effective: float,
    sku: str,
    price_id: str,
) -> dict[str, object]:
    """A non-resource Usage/Purchase row with the pricing columns FOCUS requires there."""
    return base | {
        C.PricingQuantity: quantity,
        C.PricingUnit: unit,
        C.ListUnitPrice: unit_price,
        C.ContractedUnitPrice: unit_price,
        C.PricingCurrencyListUnitPrice: unit_price,
        C.PricingCurrencyContractedUnitPrice: unit_price,
        C.ListCost: quantity * unit_price,
        C.ContractedCost: quantity * unit_price,
        C.BilledCost: billed,
        C.EffectiveCost: effective,
        C.PricingCurrencyEffectiveCost: effective,
        C.SkuId: sku,
        C.SkuPriceId: price_id,
    }


def commitment_columns(c: Commitment) -> dict[str, object]:
    return {
        C.CommitmentDiscountId: c.id,
        C.CommitmentDiscountName: c.name,
        C.CommitmentDiscountCategory: c.category,
        C.CommitmentDiscountType: c.type,
        C.CommitmentDiscountUnit: "Hours" if c.category == "Usage" else BA_BY_ID[c.billing_account].currency,
        C.ResourceId: c.id,
        C.ResourceName: c.name,
        C.ResourceType: c.type,
        C.ServiceName: c.service_name,
        C.ServiceCategory: c.service_category,
        C.ServiceSubcategory: c.service_subcategory,
        C.RegionId: None,
    }
