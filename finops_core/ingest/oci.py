"""Oracle Cloud Infrastructure cost reports (CSV) -> FOCUS, per INGEST-MAPPINGS.md §4.

Differs from focus_converters where the mapping page flags it: BilledCost is ``cost/myCost`` (the
billed amount; ``cost/myCostOverage`` is usually empty), ``lineItem/isCorrection`` sets
ChargeClass, ``cost/unitPrice`` is ContractedUnitPrice and ``tags/*`` columns become Tags.
OCI reports carry no billing period, so it is the calendar month of the charge.
"""

from __future__ import annotations

from finops_core.ingest.core import Check, InputFile, Mapper, origin, sql_str
from finops_core.ingest.services import OCI, category_sql
from finops_core.schema import C

KEY = "oci"
NAME = "Oracle Cloud cost report (CSV)"

ORIGIN = {
    C.BilledCost: ("cost/myCost",),
    C.EffectiveCost: ("cost/myCost",),
    C.BillingAccountId: ("cost/subscriptionId",),
    C.BillingCurrency: ("cost/currencyCode",),
    C.ChargePeriodStart: ("lineItem/intervalUsageStart",),
    C.ChargePeriodEnd: ("lineItem/intervalUsageEnd",),
    C.PricingUnit: ("cost/skuUnitDescription",),
    C.ConsumedUnit: ("cost/skuUnitDescription",),
    C.ServiceName: ("product/service",),
}
REQUIRED = (
    ("lineItem/intervalUsageStart",),
    ("lineItem/intervalUsageEnd",),
    ("cost/myCost",),
    ("cost/currencyCode",),
    ("cost/subscriptionId",),
)


def detect(columns: list[str]) -> bool:
    lower = {c.lower() for c in columns}
    return "lineitem/intervalusagestart" in lower and "cost/mycost" in lower


def _tags(m: Mapper) -> str:
    cols = [c for c in m.file.columns if c.lower().startswith("tags/")]
    if not cols:
        return "NULL"
    pairs = ", ".join(f"struct_pack(k := {sql_str(c.split('/', 1)[1])}, v := {m.text(c)})" for c in cols)
    entries = f"list_filter([{pairs}], lambda x: x.v IS NOT NULL)"
    return f"CASE WHEN len({entries}) > 0 THEN CAST(to_json(map_from_entries({entries})) AS VARCHAR) END"


def build(m: Mapper, files: list[InputFile]) -> dict[str, str]:
    start = m.ts("lineItem/intervalUsageStart")
    period = f"CAST(date_trunc('month', CAST({start} AS TIMESTAMP)) AS TIMESTAMPTZ)"
    cost = m.num("cost/myCost")
    ba = m.text("cost/subscriptionId")
    currency = m.text("cost/currencyCode")
    m.require(C.BillingAccountId, ba)
    m.origin.update(origin(m, ORIGIN))
    correction = m.text("lineItem/isCorrection")
    m.checks.append(
        Check(
            "lineItem/isCorrection",
            f"({correction}) IS NOT NULL AND lower({correction}) NOT IN ('true', 'false')",
            correction,
            "is not true or false",
        )
    )
    service = m.text("product/service")
    svc_cat, svc_sub = category_sql(service, OCI)
    resource = m.text("product/resourceId")
    region = m.text("product/region")
    tenant = m.text("lineItem/tenantId")
    quantity = m.num("usage/billedQuantity")
    unit = m.text("cost/skuUnitDescription")
    sku = m.text("cost/productSku")
    ocid_type = f"nullif(split_part({resource}, '.', 2), '')"
    return {
        C.AvailabilityZone: m.text("product/availabilityDomain"),
        C.BilledCost: cost,
        C.BillingAccountId: ba,
        C.BillingCurrency: currency,
        C.BillingPeriodEnd: f"{period} + INTERVAL 1 MONTH",
        C.BillingPeriodStart: period,
        C.ChargeCategory: "'Usage'",
        C.ChargeClass: f"CASE WHEN lower({correction}) = 'true' THEN 'Correction' END",
        C.ChargeDescription: m.text("product/Description"),
        C.ChargeFrequency: "'Usage-Based'",
        C.ChargePeriodEnd: m.ts("lineItem/intervalUsageEnd"),
        C.ChargePeriodStart: start,
        C.ConsumedQuantity: quantity,
        C.ConsumedUnit: f"CASE WHEN {quantity} IS NOT NULL THEN {unit} END",
        C.ContractedCost: cost,
        C.ContractedUnitPrice: m.num("cost/unitPrice"),
        C.EffectiveCost: cost,
        C.InvoiceIssuerName: "'Oracle'",
        C.ListCost: cost,
        C.PricingCategory: "'Standard'",
        C.PricingCurrency: currency,
        C.PricingCurrencyContractedUnitPrice: m.num("cost/unitPrice"),
        C.PricingCurrencyEffectiveCost: cost,
        C.PricingQuantity: quantity,
        C.PricingUnit: f"CASE WHEN {quantity} IS NOT NULL THEN {unit} END",
        C.ProviderName: "'Oracle'",
        C.PublisherName: "'Oracle'",
        C.RegionId: region,
        C.RegionName: region,
        C.ResourceId: resource,
        C.ResourceType: f"CASE WHEN {resource} IS NOT NULL THEN coalesce({ocid_type}, {service}) END",
        C.ServiceCategory: svc_cat,
        C.ServiceName: service,
        C.ServiceSubcategory: svc_sub,
        C.SkuId: sku,
        C.SkuMeter: f"CASE WHEN {sku} IS NOT NULL THEN {m.text('product/Description')} END",
        C.SubAccountId: tenant,
        C.SubAccountName: f"CASE WHEN {tenant} IS NOT NULL THEN {m.text('product/compartmentName')} END",
        C.SubAccountType: f"CASE WHEN {tenant} IS NOT NULL THEN 'Tenancy' END",
        C.Tags: _tags(m),
    }
