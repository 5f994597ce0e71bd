"""Once-a-month charges of the demo: commitment purchases, support, credits, refunds, tax."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from finops_core.demo import rows as R
from finops_core.demo.catalog import BILLING_ACCOUNTS
from finops_core.demo.commitments import Commitment
from finops_core.schema import C

if TYPE_CHECKING:
    from finops_core.demo.generator import DemoConfig, DemoTruth

AWS_PAYERS = ("100000000001", "100000000002")
AZURE_EA = "/providers/Microsoft.Billing/billingAccounts/7100001"
GCP = "01A2B3-C4D5E6-F7A8B9"
OTHER = {C.ServiceCategory: "Other", C.ServiceSubcategory: "Other (Other)"}


def _support_fee(billed: float) -> float:
    """AWS Business support's published tiers, applied to the month's AWS charges."""
    tiers = ((10_000, 0.10), (80_000, 0.07), (250_000, 0.05), (float("inf"), 0.03))
    fee, lower = 0.0, 0.0
    for upper, rate in tiers:
        fee += max(0.0, min(billed, upper) - lower) * rate
        lower = upper
    return round(max(fee, 100.0), 2)


def _purchases(
    commitments: tuple[Commitment, ...], sizes: list[tuple[float, float]], period: R.Period, first: int, last: int
) -> list[dict[str, object]]:
    recs = []
    for c, (units, cost) in zip(commitments, sizes, strict=True):
        if c.payment == "upfront":
            if not first <= c.start < last:
                continue
            lo, hi, freq = c.start, c.end(), "One-Time"
        else:
            lo, hi, freq = max(first, c.start), min(last, c.end()), "Recurring"
            if hi <= lo:
                continue
        n = hi - lo
        sku = f"{c.type}:{c.name}"
        rec = R.priced(
            R._base(period, c.billing_account, c.sub_account),
            n * 24.0,
            "Hours",
            cost / 24.0,
            n * cost,
            0.0,
            sku,
            f"{sku}:{c.payment}",
        )
        rec |= R.commitment_columns(c) | {
            C.ChargeCategory: "Purchase",
            C.ChargeFrequency: freq,
            C.PricingCategory: "Standard",
            C.CommitmentDiscountQuantity: n * units,
            C.ChargePeriodStart: period.day(lo),
            C.ChargePeriodEnd: period.day(hi),
            C.ChargeDescription: f"Commitment purchase: {c.name}",
        }
        recs.append(rec)
    return recs


def _one_off(
    period: R.Period,
    ba: str,
    sub: str,
    service: tuple[str, str, str],
    category: str,
    amount: float,
    description: str,
    first: int,
    last: int,
    correction: bool = False,
) -> dict[str, object]:
    return R._base(period, ba, sub) | {
        C.ChargeCategory: category,
        C.ChargeClass: "Correction" if correction else None,
        C.ChargeFrequency: "Usage-Based" if category == "Usage" else "One-Time",
        C.ServiceName: service[0],
        C.ServiceCategory: service[1],
        C.ServiceSubcategory: service[2],
        C.BilledCost: amount,
        C.EffectiveCost: amount,
        C.ListCost: amount,
        C.ContractedCost: amount,
        C.PricingCurrencyEffectiveCost: amount,
        C.ChargePeriodStart: period.day(first),
        C.ChargePeriodEnd: period.day(last),
        C.ChargeDescription: description,
    }


def monthly_records(
    cfg: DemoConfig,
    commitments: tuple[Commitment, ...],
    truth: DemoTruth,
    period: R.Period,
    m_idx: int,
    days: np.ndarray,
) -> list[dict[str, object]]:
    """Every monthly charge of one billing month; updates ``truth.billed_month`` with what it adds."""
    first, last = int(days[0]), int(days[-1]) + 1
    n_months = len(range(0, 1 + (cfg.end.year - cfg.start.year) * 12 + cfg.end.month - cfg.start.month))
    label = f"{period.start:%Y-%m}"
    recs = _purchases(commitments, truth.sizes, period, first, last)
    for ba in AWS_PAYERS:
        fee = _support_fee(truth.billed_month.get((ba, label), 0.0))
        rec = R.priced(
            R._base(period, ba, None), 1.0, "Months", fee, fee, fee, "AWSSupportBusiness", "AWSSupportBusiness:monthly"
        )
        recs.append(
            rec
            | {
                C.ChargeCategory: "Usage",
                C.ChargeFrequency: "Recurring",
                C.PricingCategory: "Standard",
                C.ConsumedQuantity: 1.0,
                C.ConsumedUnit: "Months",
                C.ServiceName: "AWS Support (Business)",
                C.ServiceCategory: "Management and Governance",
                C.ServiceSubcategory: "Support",
                C.ChargePeriodStart: period.day(first),
                C.ChargePeriodEnd: period.day(last),
                C.ChargeDescription: "AWS Business Support plan",
            }
        )
    compute_engine = ("Compute Engine", "Compute", "Virtual Machines")
    if m_idx < 6:
        recs.append(
            _one_off(
                period,
                GCP,
                "acme-analytics-prod",
                compute_engine,
                "Credit",
                -2500.0,
                "Google Cloud promotional credit",
                first,
                last,
            )
        )
    if m_idx == n_months - 6:
        bedrock = ("Amazon Bedrock", "AI and Machine Learning", "Generative AI")
        recs.append(
            _one_off(
                period,
                AWS_PAYERS[1],
                "ml-training",
                bedrock,
                "Credit",
                -5000.0,
                "AWS Generative AI Accelerator credit",
                first,
                last,
            )
        )
    if m_idx == n_months - 8:
        dd = ("Datadog Pro", "Management and Governance", "Observability")
        rec = _one_off(
            period,
            AWS_PAYERS[0],
            "payments-prod",
            dd,
            "Usage",
            -2400.0,
            "Refund: AWS Marketplace Datadog hosts billed twice last month",
            first - 28,
            first,
            correction=True,
        )
        recs.append(rec | {C.PublisherName: "Datadog, Inc."})
    if m_idx == n_months - 4:
        vm = ("Virtual Machines", "Compute", "Virtual Machines")
        recs.append(
            _one_off(
                period,
                AZURE_EA,
                "mobile-backend-prod",
                vm,
                "Credit",
                -1850.0,
                "SLA credit for an outage of mobile-backend VMs",
                first,
                last,
            )
        )
    return recs + _tax(truth, period, label, recs, first, last)


def _tax(
    truth: DemoTruth, period: R.Period, label: str, recs: list[dict[str, object]], first: int, last: int
) -> list[dict[str, object]]:
    for rec in recs:
        key = (str(rec[C.BillingAccountId]), label)
        truth.billed_month[key] = truth.billed_month.get(key, 0.0) + float(rec[C.BilledCost])  # type: ignore[arg-type]
    out = []
    for ba in BILLING_ACCOUNTS:
        if ba.tax_rate <= 0:
            continue
        amount = round(ba.tax_rate * truth.billed_month.get((ba.id, label), 0.0), 2)
        out.append(
            R._base(period, ba.id, None)
            | OTHER
            | {
                C.ChargeCategory: "Tax",
                C.ChargeFrequency: "Recurring",
                C.ServiceName: f"{ba.provider} Tax",
                C.BilledCost: amount,
                C.EffectiveCost: amount,
                C.ListCost: amount,
                C.ContractedCost: amount,
                C.PricingCurrencyEffectiveCost: amount,
                C.ChargePeriodStart: period.day(first),
                C.ChargePeriodEnd: period.day(last),
                C.ChargeDescription: f"VAT {ba.tax_rate:.0%}",
            }
        )
        truth.billed_month[(ba.id, label)] += amount
    return out
