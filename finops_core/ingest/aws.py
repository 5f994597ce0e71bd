"""AWS Cost and Usage Reports -> FOCUS: legacy CUR (``lineItem/...`` CSV) and CUR 2.0 / Data Exports
(``line_item_...`` Parquet or CSV, tags in a ``resource_tags`` map).

Mapping per INGEST-MAPPINGS.md §1 with the FOCUS >= 1.0 proposals: line item types give
ChargeCategory; Savings Plan covered usage and its negation both carry BilledCost 0 (they cancel
on the invoice, so totals are unchanged and covered usage gets the FOCUS BilledCost 0); the unused
part of an RI or SP fee becomes its own Usage row with CommitmentDiscountStatus Unused, so fee
rows keep EffectiveCost 0.
"""

from __future__ import annotations

from finops_core.ingest.core import Check, InputFile, Mapper, origin, sql_str
from finops_core.ingest.services import AWS, category_sql
from finops_core.schema import C

KEY = "aws-cur"
NAME = "AWS Cost and Usage Report (legacy CUR or CUR 2.0)"

USAGE_TYPES = (
    "Usage",
    "DiscountedUsage",
    "SavingsPlanCoveredUsage",
    "SavingsPlanNegation",
    "BundledDiscount",
    "Discount",
    "PrivateRateDiscount",
    "EdpDiscount",
)
CATEGORY = {t: "Usage" for t in USAGE_TYPES} | {
    "Fee": "Purchase",
    "RIFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Usage",
}
UNITS = {
    "Hrs": "Hours",
    "hours": "Hours",
    "GB-Mo": "GB-Months",
    "GB-Month": "GB-Months",
    "Request": "Requests",
    "Obj-Month": "Object-Months",
}


EXPANDED = f"{C.CommitmentDiscountStatus} = 'Unused'"  # rows this mapping adds (CUR has no unused rows)
ORIGIN = {
    C.BilledCost: (
        "lineItem/NetUnblendedCost",
        "line_item_net_unblended_cost",
        "lineItem/UnblendedCost",
        "line_item_unblended_cost",
    ),
    C.BillingAccountId: ("bill/PayerAccountId", "bill_payer_account_id"),
    C.BillingCurrency: ("lineItem/CurrencyCode", "line_item_currency_code"),
    C.ChargePeriodStart: ("lineItem/UsageStartDate", "line_item_usage_start_date"),
    C.ChargePeriodEnd: ("lineItem/UsageEndDate", "line_item_usage_end_date"),
    C.PricingUnit: ("pricing/unit", "pricing_unit"),
    C.ConsumedUnit: ("pricing/unit", "pricing_unit"),
    C.ServiceName: ("product/ProductName", "product_product_name"),
}
REQUIRED = (
    ("lineItem/LineItemType", "line_item_line_item_type"),
    ("lineItem/UnblendedCost", "line_item_unblended_cost"),
    ("lineItem/UsageStartDate", "line_item_usage_start_date"),
    ("lineItem/UsageEndDate", "line_item_usage_end_date"),
    ("bill/BillingPeriodStartDate", "bill_billing_period_start_date"),
    ("bill/BillingPeriodEndDate", "bill_billing_period_end_date"),
    ("bill/PayerAccountId", "bill_payer_account_id"),
    ("lineItem/CurrencyCode", "line_item_currency_code"),
)


def detect(columns: list[str]) -> bool:
    lower = {c.lower() for c in columns}
    return "lineitem/lineitemtype" in lower or "line_item_line_item_type" in lower


def _n(m: Mapper, legacy: str, cur2: str) -> str:
    return m.num(legacy, cur2)


def _t(m: Mapper, legacy: str, cur2: str) -> str:
    return m.text(legacy, cur2)


def _unused(m: Mapper) -> str:
    """The unused commitment amount an RI or SP fee row carries (0 on other rows)."""
    lt = _t(m, "lineItem/LineItemType", "line_item_line_item_type")
    # no coalesce: a fee row without these amounts is refused (see build) rather than read as fully used
    ri = f"{_n(m, 'reservation/UnusedAmortizedUpfrontFeeForBillingPeriod', 'reservation_unused_amortized_upfront_fee_for_billing_period')} + {_n(m, 'reservation/UnusedRecurringFee', 'reservation_unused_recurring_fee')}"
    sp = f"{_n(m, 'savingsPlan/TotalCommitmentToDate', 'savings_plan_total_commitment_to_date')} - {_n(m, 'savingsPlan/UsedCommitment', 'savings_plan_used_commitment')}"
    return m.let("unused", f"CASE {lt} WHEN 'RIFee' THEN {ri} WHEN 'SavingsPlanRecurringFee' THEN {sp} ELSE 0 END")


def expand(m: Mapper) -> str:
    """Each row once, plus a second copy (``__part`` 1) of fee rows that carry an unused amount."""
    return f"CASE WHEN coalesce({_unused(m)} <> 0, false) THEN [0, 1] ELSE [0] END"


def _tags(m: Mapper) -> str:
    user = [c for c in m.file.columns if c.lower().startswith("resourcetags/")]
    if user:
        pairs = ", ".join(f"struct_pack(k := {sql_str(c.split('/', 1)[1])}, v := {m.text(c)})" for c in user)
        entries = f"list_filter([{pairs}], lambda x: x.v IS NOT NULL)"
        return f"CASE WHEN len({entries}) > 0 THEN CAST(to_json(map_from_entries({entries})) AS VARCHAR) END"
    tags = m.name("resource_tags")
    if tags is None:
        return "NULL"
    if m.file.columns[tags].startswith("MAP"):
        return f"CASE WHEN cardinality({m.col(tags)}) > 0 THEN CAST(to_json({m.col(tags)}) AS VARCHAR) END"
    raw = m.text(tags)
    m.checks.append(Check(tags, f"({raw}) IS NOT NULL AND NOT coalesce(json_valid({raw}), false)", raw, "is not JSON"))
    return f"CASE WHEN ({raw}) NOT IN ('{{}}', '') THEN {raw} END"


def build(m: Mapper, files: list[InputFile]) -> dict[str, str]:
    lt_raw = m.col("lineItem/LineItemType", "line_item_line_item_type")
    lt = _t(m, "lineItem/LineItemType", "line_item_line_item_type")
    category = m.let(
        "category",
        "CASE " + " ".join(f"WHEN {lt} = {sql_str(k)} THEN {sql_str(v)}" for k, v in CATEGORY.items()) + " END",
    )
    m.checks.append(
        Check("LineItemType", f"({category}) IS NULL", lt_raw, f"is not a known CUR line item type {tuple(CATEGORY)}")
    )
    m.checks.append(
        Check(
            "LineItemType",
            f"{lt} IN ('RIFee', 'SavingsPlanRecurringFee') AND ({_unused(m)}) IS NULL",
            lt_raw,
            "row lacks its unused-commitment amounts (reservation/Unused* or savingsPlan/TotalCommitmentToDate, UsedCommitment)",
        )
    )
    unused = "src.__part = 1"
    unblended = _n(m, "lineItem/UnblendedCost", "line_item_unblended_cost")
    net = _n(m, "lineItem/NetUnblendedCost", "line_item_net_unblended_cost")
    billed_raw = f"coalesce({net}, {unblended})"
    sp_arn = _t(m, "savingsPlan/SavingsPlanARN", "savings_plan_savings_plan_a_r_n")
    ri_arn = _t(m, "reservation/ReservationARN", "reservation_reservation_a_r_n")
    cd_id = f"coalesce({sp_arn}, {ri_arn})"
    covered = f"{lt} IN ('SavingsPlanCoveredUsage', 'DiscountedUsage')"
    # an RI up-front fee: its ARN, or AWS's HeavyUsage usage type when reservation columns are absent
    usage_type = _t(m, "lineItem/UsageType", "line_item_usage_type")
    ri_upfront = f"({lt} = 'Fee' AND ({ri_arn} IS NOT NULL OR coalesce({usage_type} LIKE '%HeavyUsage%', false)))"
    billed = (
        f"CASE WHEN {unused} THEN 0 WHEN {lt} IN ('SavingsPlanCoveredUsage', 'SavingsPlanNegation') THEN 0 "
        f"ELSE {billed_raw} END"
    )
    effective = (
        f"CASE WHEN {unused} THEN {_unused(m)} "
        f"WHEN {lt} = 'SavingsPlanCoveredUsage' THEN {_n(m, 'savingsPlan/SavingsPlanEffectiveCost', 'savings_plan_savings_plan_effective_cost')} "
        f"WHEN {lt} = 'DiscountedUsage' THEN {_n(m, 'reservation/EffectiveCost', 'reservation_effective_cost')} "
        f"WHEN {lt} IN ('SavingsPlanNegation', 'SavingsPlanUpfrontFee', 'RIFee', 'SavingsPlanRecurringFee') THEN 0 "
        f"WHEN {ri_upfront} THEN 0 ELSE {unblended} END"
    )
    amount = _n(m, "lineItem/UsageAmount", "line_item_usage_amount")
    rate = _n(m, "pricing/publicOnDemandRate", "pricing_public_on_demand_rate")
    od_cost = _n(m, "pricing/publicOnDemandCost", "pricing_public_on_demand_cost")
    unit_raw = _t(m, "pricing/unit", "pricing_unit")
    unit = "CASE " + " ".join(f"WHEN {unit_raw} = {sql_str(k)} THEN {sql_str(v)}" for k, v in UNITS.items())
    unit += f" ELSE {unit_raw} END"
    is_usage = f"({category}) = 'Usage' AND NOT {unused}"
    code = _t(m, "lineItem/ProductCode", "line_item_product_code")
    svc_cat, svc_sub = category_sql(code, AWS)
    resource = _t(m, "lineItem/ResourceId", "line_item_resource_id")
    bill_type = _t(m, "bill/BillType", "bill_bill_type")
    frequency = (
        f"CASE WHEN {unused} THEN 'Usage-Based' WHEN {lt} IN ('RIFee', 'SavingsPlanRecurringFee') THEN 'Recurring' "
        f"WHEN {lt} IN ('Fee', 'SavingsPlanUpfrontFee', 'Credit', 'Refund') THEN 'One-Time' "
        f"WHEN {lt} = 'Tax' THEN (CASE WHEN {bill_type} = 'Anniversary' THEN 'Recurring' ELSE 'One-Time' END) "
        "ELSE 'Usage-Based' END"
    )
    term = _t(m, "pricing/term", "pricing_term")
    pricing_cat = (
        f"CASE WHEN {unused} OR {covered} THEN 'Committed' WHEN ({category}) <> 'Usage' THEN NULL "
        f"WHEN {term} = 'Spot' THEN 'Dynamic' ELSE 'Standard' END"
    )
    list_cost = f"CASE WHEN {unused} THEN {_unused(m)} WHEN {lt} = 'SavingsPlanNegation' THEN 0 ELSE coalesce({od_cost}, {rate} * {amount}, {unblended}) END"
    contracted = (
        f"CASE WHEN {unused} THEN {_unused(m)} WHEN {lt} = 'SavingsPlanNegation' THEN 0 "
        f"WHEN {lt} = 'DiscountedUsage' THEN coalesce({od_cost}, {unblended}) ELSE {unblended} END"
    )
    ba = _t(m, "bill/PayerAccountId", "bill_payer_account_id")
    sub = _t(m, "lineItem/UsageAccountId", "line_item_usage_account_id")
    currency = _t(m, "lineItem/CurrencyCode", "line_item_currency_code")
    arn_type = f"nullif(split_part(split_part({resource}, ':', 6), '/', 1), '')"
    product_family = _t(m, "product/productFamily", "product_product_family")
    has_cd = f"({unused} OR {covered} OR {lt} IN ('RIFee', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee', 'Fee'))"
    m.require(C.BillingAccountId, ba)  # BillingCurrency: required by the pipeline (zero-cost rows may inherit it)
    m.origin.update(origin(m, ORIGIN))
    return {
        C.AvailabilityZone: _t(m, "lineItem/AvailabilityZone", "line_item_availability_zone"),
        C.BilledCost: billed,
        C.BillingAccountId: ba,
        C.BillingAccountName: _t(m, "bill/PayerAccountName", "bill_payer_account_name"),
        C.BillingCurrency: currency,
        C.BillingPeriodEnd: m.ts("bill/BillingPeriodEndDate", "bill_billing_period_end_date"),
        C.BillingPeriodStart: m.ts("bill/BillingPeriodStartDate", "bill_billing_period_start_date"),
        C.ChargeCategory: f"CASE WHEN {unused} THEN 'Usage' ELSE {category} END",
        C.ChargeClass: (
            f"CASE WHEN {lt} = 'Refund' AND {m.ts('lineItem/UsageStartDate', 'line_item_usage_start_date')} < "
            f"{m.ts('bill/BillingPeriodStartDate', 'bill_billing_period_start_date')} THEN 'Correction' END"
        ),
        C.ChargeDescription: _t(m, "lineItem/LineItemDescription", "line_item_line_item_description"),
        C.ChargeFrequency: frequency,
        C.ChargePeriodEnd: m.ts("lineItem/UsageEndDate", "line_item_usage_end_date"),
        C.ChargePeriodStart: m.ts("lineItem/UsageStartDate", "line_item_usage_start_date"),
        C.CommitmentDiscountCategory: (
            f"CASE WHEN {has_cd} AND {sp_arn} IS NOT NULL THEN 'Spend' WHEN {has_cd} AND {ri_arn} IS NOT NULL THEN 'Usage' END"
        ),
        C.CommitmentDiscountId: f"CASE WHEN {has_cd} THEN {cd_id} END",
        C.CommitmentDiscountStatus: (
            f"CASE WHEN {unused} THEN 'Unused' WHEN {covered} AND ({cd_id}) IS NOT NULL THEN 'Used' END"
        ),
        C.CommitmentDiscountType: (
            f"CASE WHEN {has_cd} AND {sp_arn} IS NOT NULL THEN 'Savings Plan' "
            f"WHEN {has_cd} AND {ri_arn} IS NOT NULL THEN 'Reserved Instance' END"
        ),
        C.ConsumedQuantity: f"CASE WHEN {is_usage} AND {unit_raw} IS NOT NULL THEN {amount} END",
        C.ConsumedUnit: f"CASE WHEN {is_usage} AND {amount} IS NOT NULL THEN {unit} END",
        C.ContractedCost: contracted,
        C.ContractedUnitPrice: f"CASE WHEN NOT {unused} THEN {_n(m, 'lineItem/UnblendedRate', 'line_item_unblended_rate')} END",
        C.EffectiveCost: effective,
        C.InvoiceId: _t(m, "bill/InvoiceId", "bill_invoice_id"),
        C.InvoiceIssuerName: f"coalesce({_t(m, 'bill/InvoicingEntity', 'bill_invoicing_entity')}, 'AWS')",
        C.ListCost: list_cost,
        C.ListUnitPrice: f"CASE WHEN NOT {unused} THEN {rate} END",
        C.PricingCategory: pricing_cat,
        C.PricingCurrency: f"coalesce({_t(m, 'pricing/currency', 'pricing_currency')}, {currency})",
        C.PricingCurrencyContractedUnitPrice: f"CASE WHEN NOT {unused} THEN {_n(m, 'lineItem/UnblendedRate', 'line_item_unblended_rate')} END",
        C.PricingCurrencyEffectiveCost: effective,
        C.PricingCurrencyListUnitPrice: f"CASE WHEN NOT {unused} THEN {rate} END",
        C.PricingQuantity: f"CASE WHEN NOT {unused} AND {lt} <> 'Tax' AND {unit_raw} IS NOT NULL THEN {amount} END",
        C.PricingUnit: f"CASE WHEN NOT {unused} AND {lt} <> 'Tax' AND {amount} IS NOT NULL THEN {unit} END",
        C.ProviderName: "'AWS'",
        C.PublisherName: f"coalesce({_t(m, 'lineItem/LegalEntity', 'line_item_legal_entity')}, 'AWS')",
        C.RegionId: _t(m, "product/regionCode", "product_region_code"),
        C.RegionName: f"CASE WHEN {_t(m, 'product/regionCode', 'product_region_code')} IS NOT NULL THEN {_t(m, 'product/location', 'product_location')} END",
        C.ResourceId: f"CASE WHEN {unused} THEN {cd_id} ELSE {resource} END",
        C.ResourceType: (
            f"CASE WHEN {unused} THEN (CASE WHEN {sp_arn} IS NOT NULL THEN 'Savings Plan' ELSE 'Reserved Instance' END) "
            f"WHEN {resource} IS NOT NULL THEN coalesce({arn_type}, {product_family}, {code}) END"
        ),
        C.ServiceCategory: svc_cat,
        C.ServiceName: f"coalesce({_t(m, 'product/ProductName', 'product_product_name')}, {code}, 'AWS')",
        C.ServiceSubcategory: svc_sub,
        C.SkuId: _t(m, "product/sku", "product_sku"),
        C.SkuMeter: f"CASE WHEN {_t(m, 'product/sku', 'product_sku')} IS NOT NULL THEN {_t(m, 'lineItem/UsageType', 'line_item_usage_type')} END",
        C.SkuPriceId: f"coalesce({_t(m, 'pricing/RateCode', 'pricing_rate_code')}, {_t(m, 'pricing/RateId', 'pricing_rate_id')})",
        C.SubAccountId: sub,
        C.SubAccountName: _t(m, "lineItem/UsageAccountName", "line_item_usage_account_name"),
        C.SubAccountType: f"CASE WHEN {sub} IS NOT NULL THEN 'Account' END",
        C.Tags: _tags(m),
    }
