"""Azure Cost Management exports (EA or MCA cost details, actual and amortized) -> FOCUS.

Microsoft's recipe (finops-toolkit ``docs-mslearn/focus/convert.md``, INGEST-MAPPINGS.md §2):
keep every amortized row, and add from the actual-cost file only the Purchase and Refund rows of
reservations and savings plans. BilledCost is 0 on commitment-covered usage, EffectiveCost is 0
on commitment purchases and refunds. EA/MCA end dates are inclusive, so a day is added.
The two files of a pair have the same header; which is which is read from the file's or its
folder's name (``actual`` / ``amortized``), else from the content (covered usage with a cost is
amortized, a commitment purchase with a cost is actual). Each file is staged on its own, the actual
file's commitment purchases apart from its other rows (``role``); the delivery they form keeps the
other rows only until the amortized file is there, whichever comes first or in which command.
"""

from __future__ import annotations

from finops_core.ingest.core import Check, InputFile, Mapper, origin, sql_str
from finops_core.ingest.pipeline import connection
from finops_core.ingest.services import AZURE, category_sql
from finops_core.schema import C

KEY = "azure"
NAME = "Azure cost details export, EA or MCA (actual + amortized pair)"

COMMIT = "('Reservation', 'SavingsPlan')"
UNITS = {
    "1 Hour": "Hours",
    "10 Hours": "10 Hours",
    "100 Hours": "100 Hours",
    "1 GB": "GB",
    "1 GB/Month": "GB-Months",
    "1 GB/Hour": "GB/Hour",
    "10K": "10000 Units",
    "1K": "1000 Units",
    "1/Month": "Units/Month",
    "1/Day": "Units/Day",
    "1/Hour": "Units/Hour",
}

ORIGIN = {
    C.BilledCost: ("CostInBillingCurrency", "Cost", "PreTaxCost"),
    C.EffectiveCost: ("CostInBillingCurrency", "Cost", "PreTaxCost"),
    C.BillingAccountId: ("BillingProfileId", "BillingAccountId", "EnrollmentNumber"),
    C.BillingCurrency: ("BillingCurrency", "BillingCurrencyCode"),
    C.ChargePeriodStart: ("Date", "UsageDate"),
    C.ChargeCategory: ("ChargeType",),
    C.PricingUnit: ("UnitOfMeasure",),
    C.ConsumedUnit: ("UnitOfMeasure",),
    C.ServiceName: ("MeterCategory",),
}
REQUIRED = (
    ("Date", "UsageDate"),
    ("CostInBillingCurrency", "Cost", "PreTaxCost"),
    ("ChargeType",),
    ("PricingModel",),
    ("BillingPeriodStartDate", "BillingPeriodStart"),
    ("BillingPeriodEndDate", "BillingPeriodEnd"),
    ("BillingCurrency", "BillingCurrencyCode"),
    ("BillingAccountId", "BillingProfileId", "EnrollmentNumber"),
)


def detect(columns: list[str]) -> bool:
    lower = {c.lower() for c in columns}
    cost = {"cost", "costinbillingcurrency", "pretaxcost"} & lower
    return bool(cost) and {"chargetype", "pricingmodel", "metercategory", "subscriptionid"} <= lower


def _cost(m: Mapper) -> str:
    return m.num("CostInBillingCurrency", "Cost", "PreTaxCost")


def series(f: InputFile) -> str:
    """'actual' or 'amortized' from the file's or its folder's name, else from the rows, else 'single'."""
    for name in (f.path.name.lower(), f.path.parent.name.lower()):
        if "amortized" in name or "amortised" in name:
            return "amortized"
        if "actual" in name:
            return "actual"
    m = Mapper(f)
    cost, ct, pm = _cost(m), m.text("ChargeType"), m.text("PricingModel")
    con = connection()
    try:
        row = con.execute(
            f"SELECT count(*) FILTER (WHERE {ct} = 'Usage' AND {pm} IN {COMMIT} AND {cost} <> 0), "
            f"count(*) FILTER (WHERE {ct} IN ('Purchase', 'Refund') AND {pm} IN {COMMIT} AND {cost} <> 0) "
            f"FROM {m.wrap(f.relation())}"
        ).fetchone()
    finally:
        con.close()
    if row and row[0] and not row[1]:
        return "amortized"
    if row and row[1] and not row[0]:
        return "actual"
    return "single"


def role(m: Mapper, kind: str) -> str | None:
    """In an actual-cost file, its commitment purchases and refunds ('commit') apart from the rest:
    once the delivery has the amortized file, only the 'commit' rows stay (Microsoft's recipe)."""
    if kind != "actual":
        return None
    keep = f"{m.text('ChargeType')} IN ('Purchase', 'Refund') AND {m.text('PricingModel')} IN {COMMIT}"
    return f"CASE WHEN {keep} THEN 'commit' ELSE 'rest' END"


def build(m: Mapper, files: list[InputFile]) -> dict[str, str]:
    cost = _cost(m)
    ct, pm = m.text("ChargeType"), m.text("PricingModel")
    committed = f"{pm} IN {COMMIT}"
    category = m.let(
        "category",
        f"CASE WHEN {ct} IN ('Usage', 'Purchase', 'Credit', 'Tax') THEN {ct} "
        f"WHEN {ct} IN ('UnusedReservation', 'UnusedSavingsPlan') THEN 'Usage' WHEN {ct} = 'Refund' THEN 'Purchase' "
        f"WHEN {ct} IS NOT NULL THEN 'Adjustment' END",
    )
    m.require(C.ChargeCategory, category)
    is_mca = not m.has("AccountOwnerId") and m.has("BillingProfileId")
    ba = m.text("BillingProfileId") if is_mca else m.text("BillingAccountId", "EnrollmentNumber")
    ba_name = m.text("BillingProfileName") if is_mca else m.text("BillingAccountName")
    currency = m.text("BillingCurrency", "BillingCurrencyCode")
    m.require(C.BillingAccountId, ba)
    m.origin.update(origin(m, ORIGIN))
    date = m.ts("Date", "UsageDate", us_date=True)
    m.require(C.ChargePeriodStart, date)
    # covered usage and the unused part of a commitment were invoiced with its purchase
    billed = (
        f"CASE WHEN ({ct} = 'Usage' AND {committed}) OR {ct} IN ('UnusedReservation', 'UnusedSavingsPlan') "
        f"THEN 0 ELSE {cost} END"
    )
    effective = f"CASE WHEN {ct} IN ('Purchase', 'Refund') AND {committed} THEN 0 ELSE {cost} END"
    benefit = m.text("benefitId", "BenefitId", "ReservationId")
    cd_cat = (
        f"CASE WHEN lower({benefit}) LIKE '%/microsoft.capacity/%' THEN 'Usage' "
        f"WHEN lower({benefit}) LIKE '%/microsoft.billingbenefits/%' THEN 'Spend' "
        f"WHEN {benefit} IS NOT NULL THEN (CASE {pm} WHEN 'SavingsPlan' THEN 'Spend' ELSE 'Usage' END) END"
    )
    quantity, unit_price, payg = m.num("Quantity"), m.num("UnitPrice"), m.num("PayGPrice")
    uom = m.text("UnitOfMeasure")
    unit = "CASE " + " ".join(f"WHEN {uom} = {sql_str(k)} THEN {sql_str(v)}" for k, v in UNITS.items())
    unit += f" ELSE {uom} END"
    is_usage = f"({category}) = 'Usage' AND {ct} NOT IN ('UnusedReservation', 'UnusedSavingsPlan')"
    location = m.text("ResourceLocation")
    # an unused-commitment row is the commitment's own: FOCUS sets its ResourceId to the commitment
    resource = m.let(
        "resource",
        f"CASE WHEN {ct} IN ('UnusedReservation', 'UnusedSavingsPlan') THEN coalesce({m.text('ResourceId')}, "
        f"{m.text('benefitId', 'BenefitId', 'ReservationId')}) ELSE {m.text('ResourceId')} END",
    )
    meter_category = m.text("MeterCategory")
    svc_cat, svc_sub = category_sql(meter_category, AZURE)
    sub = m.text("SubscriptionId")
    tags = m.text("Tags")
    wrapped = f"CASE WHEN left(trim({tags}), 1) = '{{' THEN {tags} ELSE '{{' || {tags} || '}}' END"
    m.checks.append(
        Check(
            "Tags", f"({tags}) IS NOT NULL AND NOT coalesce(json_valid({wrapped}), false)", tags, "is not a JSON object"
        )
    )
    list_price = f"CASE WHEN {payg} > 0 OR ({category}) = 'Usage' THEN {payg} END"
    contracted = f"coalesce({unit_price} * {quantity}, {cost})"
    period_start = m.ts("BillingPeriodStartDate", "BillingPeriodStart", us_date=True)
    period_end = m.ts("BillingPeriodEndDate", "BillingPeriodEnd", us_date=True)
    return {
        C.AvailabilityZone: m.text("AvailabilityZone"),
        C.BilledCost: billed,
        C.BillingAccountId: ba,
        C.BillingAccountName: ba_name,
        C.BillingAccountType: sql_str("Billing Profile" if is_mca else "Billing Account"),
        C.BillingCurrency: currency,
        C.BillingPeriodEnd: f"{period_end} + INTERVAL 1 DAY",
        C.BillingPeriodStart: period_start,
        C.ChargeCategory: category,
        C.ChargeClass: f"CASE WHEN {ct} = 'Refund' THEN 'Correction' END",
        C.ChargeDescription: m.text("ProductName", "Product"),
        C.ChargeFrequency: (
            f"CASE {m.text('Frequency')} WHEN 'OneTime' THEN 'One-Time' WHEN 'Recurring' THEN 'Recurring' "
            f"WHEN 'UsageBased' THEN (CASE WHEN ({category}) = 'Purchase' THEN 'One-Time' ELSE 'Usage-Based' END) END"
        ),
        C.ChargePeriodEnd: f"{date} + INTERVAL 1 DAY",
        C.ChargePeriodStart: date,
        C.CommitmentDiscountCategory: cd_cat,
        C.CommitmentDiscountId: benefit,
        C.CommitmentDiscountName: f"CASE WHEN {benefit} IS NOT NULL THEN {m.text('benefitName', 'BenefitName', 'ReservationName')} END",
        C.CommitmentDiscountStatus: (
            f"CASE WHEN {ct} IN ('UnusedReservation', 'UnusedSavingsPlan') THEN 'Unused' "
            f"WHEN {benefit} IS NOT NULL AND ({category}) = 'Usage' THEN 'Used' END"
        ),
        C.CommitmentDiscountType: (
            f"CASE WHEN ({cd_cat}) = 'Spend' THEN 'Savings Plan' WHEN ({cd_cat}) = 'Usage' THEN 'Reservation' END"
        ),
        C.ConsumedQuantity: f"CASE WHEN {is_usage} THEN {quantity} END",
        C.ConsumedUnit: f"CASE WHEN {is_usage} AND {quantity} IS NOT NULL THEN {unit} END",
        C.ContractedCost: contracted,
        C.ContractedUnitPrice: unit_price,
        C.EffectiveCost: effective,
        C.InvoiceId: m.text("InvoiceId"),
        C.InvoiceIssuerName: f"coalesce({m.text('PartnerName')}, 'Microsoft')",
        C.ListCost: f"coalesce(({list_price}) * {quantity}, {contracted})",
        C.ListUnitPrice: list_price,
        C.PricingCategory: (
            f"CASE WHEN ({category}) = 'Purchase' THEN 'Standard' WHEN {committed} THEN 'Committed' "
            f"WHEN {pm} = 'OnDemand' THEN 'Standard' WHEN {pm} = 'Spot' THEN 'Dynamic' END"
        ),
        C.PricingCurrency: f"coalesce({m.text('PricingCurrency', 'PricingCurrencyCode')}, {currency})",
        C.PricingCurrencyContractedUnitPrice: unit_price,
        C.PricingCurrencyEffectiveCost: effective,
        C.PricingCurrencyListUnitPrice: list_price,
        C.PricingQuantity: quantity,
        C.PricingUnit: f"CASE WHEN {quantity} IS NOT NULL THEN {unit} END",
        C.ProviderName: "'Microsoft'",
        C.PublisherName: f"coalesce({m.text('PublisherName')}, 'Microsoft')",
        C.RegionId: f"nullif(lower(replace({location}, ' ', '')), '')",
        C.RegionName: location,
        C.ResourceId: resource,
        C.ResourceName: f"CASE WHEN {resource} IS NOT NULL THEN coalesce({m.text('ResourceName')}, split_part({resource}, '/', -1)) END",
        C.ResourceType: (
            f"CASE WHEN {resource} IS NOT NULL THEN coalesce(nullif(lower(regexp_extract({resource}, "
            f"'/providers/([^/]+/[^/]+)', 1)), ''), lower({m.text('ConsumedService')})) END"
        ),
        C.ServiceCategory: svc_cat,
        C.ServiceName: f"coalesce({meter_category}, 'Azure')",
        C.ServiceSubcategory: svc_sub,
        C.SkuId: m.text("ProductId"),
        C.SkuMeter: f"CASE WHEN {m.text('ProductId')} IS NOT NULL THEN {m.text('MeterName')} END",
        C.SubAccountId: sub,
        C.SubAccountName: f"CASE WHEN {sub} IS NOT NULL THEN {m.text('SubscriptionName')} END",
        C.SubAccountType: f"CASE WHEN {sub} IS NOT NULL THEN 'Subscription' END",
        C.Tags: f"CASE WHEN {tags} IS NOT NULL THEN {wrapped} END",
    }
