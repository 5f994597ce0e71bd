"""Commitment discounts in the demo, modelled the way FOCUS 1.2 models them.

- Purchase rows: one-time (all upfront) or recurring (monthly), EffectiveCost 0.
- Covered usage: BilledCost 0, EffectiveCost = quantity x the commitment's rate,
  CommitmentDiscountStatus ``Used``, PricingCategory ``Committed``.
- One ``Unused`` Usage row per commitment and day carrying what the covered usage left over,
  so that per commitment sum(EffectiveCost of Used + Unused) = sum(BilledCost of Purchases).

What a commitment may cover follows the provider: savings plans (AWS Compute, Azure) are
region-flexible; reserved instances, reservations and CUDs cover one SKU in one region (``region``),
of any account under their billing account. Coverage is applied like the providers do: every
eligible row of every block, while capacity is left that day, so an under-used commitment has no
matching on-demand usage beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Commitment:
    id: str
    name: str
    provider: str
    billing_account: str
    sub_account: str  # where purchases and unused rows land (SubAccountName)
    category: str  # Spend | Usage
    type: str  # provider label
    services: tuple[str, ...]  # eligible ServiceNames
    sku: str | None  # Usage commitments: the one SKU they cover
    discount: float  # rate = contracted price x (1 - discount)
    start: int  # day offset from the data start; negative = before the data
    term_days: int
    payment: str  # upfront | monthly
    size: float  # share of the eligible baseline at start (>1 = oversized, under-used)
    region: str | None  # the one RegionId it covers; None = region-flexible (savings plans)
    service_name: str  # ServiceName of the purchase and unused rows
    service_category: str
    service_subcategory: str

    def end(self) -> int:
        return self.start + self.term_days


def plan(n_days: int) -> tuple[Commitment, ...]:
    """The demo's commitments, placed relative to the data window of ``n_days`` days."""
    aws1, aws2 = "100000000001", "100000000002"
    az, gcp = "/providers/Microsoft.Billing/billingAccounts/7100001", "01A2B3-C4D5E6-F7A8B9"
    sp = ("Savings Plans for AWS Compute usage", "Compute", "Other (Compute)")
    ec2 = ("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines")
    rds = ("Amazon Relational Database Service", "Databases", "Relational Databases")
    azvm = ("Virtual Machines", "Compute", "Virtual Machines")
    azsp = ("Azure Savings Plan for Compute", "Compute", "Other (Compute)")
    gce = ("Compute Engine", "Compute", "Virtual Machines")
    arn = "arn:aws:savingsplans::{}:savingsplan/{}"
    return (
        Commitment(
            arn.format(aws1, "sp-0a1b2c3d"),
            "Compute SP 3yr no-upfront",
            "AWS",
            aws1,
            "payments-prod",
            "Spend",
            "Savings Plan",
            ("Amazon Elastic Compute Cloud", "Amazon EC2 Auto Scaling Fleet"),
            None,
            0.28,
            0,
            3 * 365,
            "monthly",
            0.55,
            None,
            *sp,
        ),
        Commitment(
            arn.format(aws2, "sp-9f8e7d6c"),
            "Compute SP 1yr no-upfront",
            "AWS",
            aws2,
            "data-lake-prod",
            "Spend",
            "Savings Plan",
            ("Amazon Elastic Compute Cloud",),
            None,
            0.22,
            n_days - 365 + 40,
            365,
            "monthly",
            0.8,
            None,
            *sp,
        ),
        Commitment(
            f"arn:aws:ec2:us-east-1:{aws1}:reserved-instances/ri-ec2-m5xl",
            "EC2 RI m5.xlarge 1yr all-upfront",
            "AWS",
            aws1,
            "payments-prod",
            "Usage",
            "Reserved Instance",
            ("Amazon Elastic Compute Cloud",),
            "m5.xlarge",
            0.37,
            30,
            365,
            "upfront",
            0.8,
            "us-east-1",
            *ec2,
        ),
        Commitment(
            f"arn:aws:rds:us-east-1:{aws1}:ri:ri-rds-r5l",
            "RDS RI db.r5.large 3yr no-upfront",
            "AWS",
            aws1,
            "payments-prod",
            "Usage",
            "Reserved Instance",
            ("Amazon Relational Database Service",),
            "db.r5.large",
            0.35,
            100,
            3 * 365,
            "monthly",
            1.7,
            "us-east-1",
            *rds,
        ),
        Commitment(
            "/providers/Microsoft.Capacity/reservationOrders/ro-1001/reservations/res-d4sv5",
            "VM RI D4s v5 1yr",
            "Microsoft",
            az,
            "mobile-backend-prod",
            "Usage",
            "Reservation",
            ("Virtual Machines",),
            "D4s v5",
            0.40,
            n_days - 365 + 25,
            365,
            "monthly",
            0.9,
            "eastus",
            *azvm,
        ),
        Commitment(
            "/providers/Microsoft.BillingBenefits/savingsPlanOrders/spo-2002/savingsPlans/sp-2002",
            "Compute savings plan 3yr",
            "Microsoft",
            az,
            "azure-shared-services",
            "Spend",
            "Savings Plan",
            ("Virtual Machines",),
            None,
            0.25,
            200,
            3 * 365,
            "monthly",
            1.45,
            None,
            *azsp,
        ),
        Commitment(
            "projects/acme-analytics-prod/regions/us-central1/commitments/cud-n2-std-4",
            "CUD n2-standard-4 1yr",
            "Google Cloud",
            gcp,
            "acme-analytics-prod",
            "Usage",
            "Committed Use Discount",
            ("Compute Engine",),
            "n2-standard-4",
            0.37,
            n_days - 365 + 55,
            365,
            "monthly",
            0.95,
            "us-central1",
            *gce,
        ),
    )


def daily_amount(c: Commitment, eligible: pl.DataFrame) -> tuple[float, float]:
    """(units per day, cost per day) a commitment buys, sized from the eligible baseline.

    ``eligible``: the resources it may cover, with ``qty`` (daily quantity) and ``rate`` (its
    committed unit price). Usage commitments buy whole instances (24 hours a day each), as many
    as ``size`` times the eligible hours.
    """
    if c.category == "Usage":
        count = max(1, round(float(eligible["qty"].sum()) * c.size / 24.0))
        rate = float(eligible["rate"].to_numpy().mean()) if eligible.height else 0.0
        return count * 24.0, count * 24.0 * rate
    spend = float((eligible["qty"] * eligible["rate"]).sum()) * c.size
    return spend, spend


def cover(rows: pl.DataFrame, capacity: np.ndarray, first_day: int, category: str) -> np.ndarray:
    """Which eligible rows one commitment covers on each day, filling it in resource order.

    ``rows`` holds ``day``, ``res_idx``, ``qty`` and ``cost`` (at the commitment's rate) of the
    eligible, not yet covered rows; ``capacity[d - first_day]`` the units left on day ``d``.
    Returns a boolean mask aligned with ``rows``. A row is covered whole or not at all (FOCUS: a
    discount covers the whole row).
    """
    if rows.height == 0:
        return np.zeros(0, dtype=bool)
    units = pl.col("qty") if category == "Usage" else pl.col("cost")
    ranked = (
        rows.with_row_index("_pos").sort(["day", "res_idx"]).with_columns(units.cum_sum().over("day").alias("_cum"))
    )
    left = pl.Series(capacity[ranked["day"].to_numpy() - first_day])
    covered = ranked.filter(pl.col("_cum") <= left + 1e-9)["_pos"].to_numpy()
    mask = np.zeros(rows.height, dtype=bool)
    mask[covered] = True
    return mask
