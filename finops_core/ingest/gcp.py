"""Google Cloud BigQuery billing export (CSV with dotted column names, or JSON lines with nested
records) -> FOCUS, per INGEST-MAPPINGS.md §3.

Google's invoice is net of every credit, so BilledCost is too (docs/ingest.md, "GCP credits"):
discount credits (sustained and committed use, free tier, negotiated discounts) reduce the row
they are on, as FOCUS's BilledCost is "inclusive of all reduced rates and discounts"; PROMOTION
credits become a ChargeCategory Credit row beside it, FOCUS's own example of a Credit. BilledCost
equals EffectiveCost (Google has no upfront purchase to amortize here); their sum is ``cost`` plus
the credits (credit amounts are negative), the same EffectiveCost total as before. In CSV
flattenings ``credits`` and ``labels`` are Python-literal lists (single quotes, ``None``), parsed
here with patterns instead of a JSON reader. ``labels`` become Tags unprefixed; project and system
labels carry the ``gcp-project/`` and ``gcp-system/`` prefixes. Committed use discount credits set
the commitment columns.
"""

from __future__ import annotations

from finops_core.ingest.core import Check, InputFile, Mapper, ident, origin
from finops_core.ingest.services import GCP, category_sql
from finops_core.schema import C

KEY = "gcp"
NAME = "Google Cloud billing export (BigQuery CSV or JSON lines)"

COUNT_INPUTS = True  # a Credit row added beside a row looks like any credit in the output
COST_TYPES = {"regular": "Usage", "tax": "Tax", "adjustment": "Credit", "rounding_error": "Adjustment"}
_NUM = r"-?[0-9.]+(?:[eE][-+]?[0-9]+)?"

ORIGIN = {
    C.BilledCost: ("cost",),
    C.BillingAccountId: ("billing_account_id",),
    C.BillingCurrency: ("currency",),
    C.ChargePeriodStart: ("usage_start_time",),
    C.ChargePeriodEnd: ("usage_end_time",),
    C.BillingPeriodStart: ("invoice.month", "invoice"),
    C.PricingUnit: ("usage.pricing_unit", "usage"),
    C.ConsumedUnit: ("usage.unit", "usage"),
    C.ServiceName: ("service.description", "service"),
}
REQUIRED = (
    ("billing_account_id",),
    ("cost",),
    ("currency",),
    ("usage_start_time",),
    ("usage_end_time",),
    ("invoice.month", "invoice"),
)


def detect(columns: list[str]) -> bool:
    lower = {c.lower() for c in columns}
    return "billing_account_id" in lower and ("service.description" in lower or "service" in lower) and "cost" in lower


def _field(m: Mapper, dotted: str, number: bool = False) -> str:
    """A dotted field, flat (CSV) or nested (JSON lines)."""
    if m.has(dotted):
        return m.num(dotted) if number else m.text(dotted)
    head, _, rest = dotted.partition(".")
    n = m.name(head)
    if n is None or not rest or not m.file.columns[n].startswith("STRUCT"):
        return "CAST(NULL AS DOUBLE)" if number else "CAST(NULL AS VARCHAR)"
    expr = f"{ident(n)}.{ident(rest)}"
    return f"CAST({expr} AS DOUBLE)" if number else f"nullif(CAST({expr} AS VARCHAR), '')"


def _list_kind(m: Mapper, name: str) -> tuple[str, bool] | None:
    """(SQL of a list column, whether it is a Python-literal string) for a flat or nested name."""
    n = m.name(name)
    if n is not None:
        return ident(n), m.file.columns[n] == "VARCHAR"
    head, _, rest = name.partition(".")
    n = m.name(head)
    if n is None or not rest or not m.file.columns[n].startswith("STRUCT"):
        return None
    return f"{ident(n)}.{ident(rest)}", False


def _promotions(m: Mapper) -> str:
    """The sum of a row's PROMOTION credits (free trials, promotional credits): FOCUS Credit charges."""
    found = _list_kind(m, "credits")
    if found is None:
        return "0"
    c, literal = found
    if literal:
        dicts = f"regexp_extract_all({c}, '\\{{[^}}]*\\}}')"
        amount = f"CAST(regexp_extract(d, '[''\"]amount[''\"]\\s*:\\s*({_NUM})', 1) AS DOUBLE)"
        promo = "regexp_matches(d, '[''\"]type[''\"]\\s*:\\s*[''\"]PROMOTION[''\"]')"
        total = f"list_sum(list_transform({dicts}, lambda d: CASE WHEN {promo} THEN {amount} ELSE 0 END))"
    else:
        js = f"to_json({c})"
        pairs = f"list_zip(json_extract_string({js}, '$[*].type'), CAST(json_extract({js}, '$[*].amount') AS DOUBLE[]))"
        total = f"list_sum(list_transform({pairs}, lambda p: CASE WHEN p[1] = 'PROMOTION' THEN p[2] ELSE 0 END))"
    return m.let("promotions", f"coalesce({total}, 0)")


def _credits(m: Mapper) -> tuple[str, str, str]:
    """(sum of credit amounts, CUD credit id, CUD category) expressions."""
    found = _list_kind(m, "credits")
    if found is None:
        return "0", "NULL", "NULL"
    c, literal = found
    if literal:
        amounts = f"regexp_extract_all({c}, '[''\"]amount[''\"]\\s*:\\s*({_NUM})', 1)"
        m.checks.append(
            Check(
                "credits",
                f"({c}) IS NOT NULL AND trim({c}) NOT IN ('', '[]') AND "
                f"len({amounts}) <> len(regexp_extract_all({c}, '[''\"]amount[''\"]', 0))",
                c,
                "has a credit whose amount is not a number",
            )
        )
        amounts = m.let("credit_amounts", amounts)
        total = f"coalesce(list_sum(list_transform({amounts}, lambda x: CAST(x AS DOUBLE))), 0)"
        kind = f"regexp_extract({c}, '[''\"]type[''\"]\\s*:\\s*[''\"](COMMITTED_USAGE_DISCOUNT(_DOLLAR_BASE)?)', 1)"
        cud_id = f"nullif(regexp_extract({c}, '[''\"]id[''\"]\\s*:\\s*[''\"]([^''\"]*)[''\"][^}}]*COMMITTED_USAGE_DISCOUNT', 1), '')"
    else:  # a nested list: through JSON, since an all-empty column is typed JSON[] rather than a struct list
        js = f"to_json({c})"
        total = f"coalesce(list_sum(CAST(json_extract({js}, '$[*].amount') AS DOUBLE[])), 0)"
        types = f"json_extract_string({js}, '$[*].type')"
        kind = f"coalesce(list_filter({types}, lambda t: t LIKE 'COMMITTED_USAGE_DISCOUNT%')[1], '')"
        cud_id = f"json_extract_string({js}, '$[*].id')[list_position({types}, {kind})]"
    category = f"CASE {kind} WHEN 'COMMITTED_USAGE_DISCOUNT' THEN 'Usage' WHEN 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE' THEN 'Spend' END"
    return total, m.let("cud_id", cud_id), m.let("cud_category", category)


def _labels(m: Mapper, name: str, prefix: str) -> str:
    """A list of {'key','value'} pairs as a list of (k, v) structs."""
    found = _list_kind(m, name)
    if found is None:
        return "[]"
    c, literal = found
    if literal:
        pairs = f"regexp_extract_all({c}, '''key'': ''([^'']*)'', ''value'': ''([^'']*)''', 0)"
        return (
            f"list_transform({pairs}, lambda p: struct_pack(k := '{prefix}' || regexp_extract(p, '''key'': ''([^'']*)''', 1), "
            f"v := regexp_extract(p, '''value'': ''([^'']*)''', 1)))"
        )
    js = f"to_json({c})"
    pairs = f"list_zip(json_extract_string({js}, '$[*].key'), json_extract_string({js}, '$[*].value'))"
    return f"list_transform(coalesce({pairs}, []), lambda p: struct_pack(k := '{prefix}' || p[1], v := p[2]))"


def expand(m: Mapper) -> str:
    """Each row once, plus a FOCUS Credit row (``__part`` 1) for a row's promotional credits."""
    return f"CASE WHEN coalesce({_promotions(m)} <> 0, false) THEN [0, 1] ELSE [0] END"


def build(m: Mapper, files: list[InputFile]) -> dict[str, str]:
    cost = _field(m, "cost", number=True) if not m.has("cost") else m.num("cost")
    credits, cud_id, cud_cat = _credits(m)
    cost_type = m.text("cost_type")
    category = "CASE " + " ".join(f"WHEN {cost_type} = '{k}' THEN '{v}'" for k, v in COST_TYPES.items())
    category = m.let("category", category + f" WHEN {cost_type} IS NULL THEN 'Usage' END")
    m.checks.append(
        Check("cost_type", f"({category}) IS NULL", m.col("cost_type"), f"is not one of {tuple(COST_TYPES)}")
    )
    month = m.text("invoice.month") if m.has("invoice.month") else _field(m, "invoice.month")
    period = f"CAST(try_strptime({month}, '%Y%m') AS TIMESTAMPTZ)"
    m.checks.append(Check("invoice.month", f"({period}) IS NULL", month, "is not a month in YYYYMM form"))
    service = _field(m, "service.description")
    svc_cat, svc_sub = category_sql(service, GCP)
    region = f"coalesce({_field(m, 'location.region')}, {_field(m, 'location.location')})"
    project = _field(m, "project.id")
    resource = _field(m, "resource.global_name")
    entries = f"list_filter({_labels(m, 'labels', '')} || {_labels(m, 'project.labels', 'gcp-project/')} || {_labels(m, 'system_labels', 'gcp-system/')}, lambda x: x.k <> '')"
    tags = f"CASE WHEN len({entries}) > 0 THEN CAST(to_json(map_from_entries({entries})) AS VARCHAR) END"
    currency = m.text("currency")
    ba = m.text("billing_account_id")
    m.require(C.BillingAccountId, ba)
    m.origin.update(origin(m, ORIGIN))
    promo, credit = _promotions(m), "src.__part = 1"
    # the invoice is net of every credit: discounts (sustained and committed use, free tier) reduce
    # the row they are on; promotions become a Credit row of their own beside it
    net = f"CASE WHEN {credit} THEN {promo} ELSE {cost} + {credits} - {promo} END"
    effective = net
    is_usage = f"({category}) = 'Usage' AND NOT {credit}"
    amount = _field(m, "usage.amount", number=True)
    p_amount = _field(m, "usage.amount_in_pricing_units", number=True)
    list_cost = f"CASE WHEN {credit} THEN {promo} ELSE {m.num('cost_at_list') if m.has('cost_at_list') else cost} END"
    no_cud = f"CASE WHEN NOT {credit} THEN {cud_cat} END"
    seller = m.text("seller_name")
    return {
        C.AvailabilityZone: _field(m, "location.zone"),
        C.BilledCost: net,
        C.BillingAccountId: ba,
        C.BillingAccountType: "'Billing Account'",
        C.BillingCurrency: currency,
        C.BillingPeriodEnd: f"{period} + INTERVAL 1 MONTH",
        C.BillingPeriodStart: period,
        C.ChargeCategory: f"CASE WHEN {credit} THEN 'Credit' ELSE {category} END",
        C.ChargeDescription: _field(m, "sku.description"),
        C.ChargeFrequency: f"CASE WHEN {is_usage} THEN 'Usage-Based' ELSE 'One-Time' END",
        C.ChargePeriodEnd: m.ts("usage_end_time"),
        C.ChargePeriodStart: m.ts("usage_start_time"),
        C.CommitmentDiscountCategory: no_cud,
        C.CommitmentDiscountId: f"CASE WHEN ({no_cud}) IS NOT NULL THEN {cud_id} END",
        C.CommitmentDiscountStatus: f"CASE WHEN ({no_cud}) IS NOT NULL THEN 'Used' END",
        C.CommitmentDiscountType: f"CASE WHEN ({no_cud}) IS NOT NULL THEN 'Committed Use Discount' END",
        C.ConsumedQuantity: f"CASE WHEN {is_usage} THEN {amount} END",
        C.ConsumedUnit: f"CASE WHEN {is_usage} AND {amount} IS NOT NULL THEN {_field(m, 'usage.unit')} END",
        C.ContractedCost: f"CASE WHEN {credit} THEN {promo} ELSE {cost} END",
        C.EffectiveCost: effective,
        C.InvoiceIssuerName: "'Google Cloud'",
        C.ListCost: list_cost,
        C.PricingCategory: f"CASE WHEN ({no_cud}) IS NOT NULL THEN 'Committed' WHEN {is_usage} THEN 'Standard' END",
        C.PricingCurrency: currency,
        C.PricingCurrencyEffectiveCost: effective,
        C.PricingQuantity: f"CASE WHEN {is_usage} THEN {p_amount} END",  # null on a Credit row
        C.PricingUnit: f"CASE WHEN {is_usage} AND {p_amount} IS NOT NULL THEN {_field(m, 'usage.pricing_unit')} END",
        C.ProviderName: "'Google Cloud'",
        C.PublisherName: f"coalesce({seller}, 'Google Cloud')",
        C.RegionId: region,
        C.RegionName: region,
        C.ResourceId: resource,
        C.ResourceName: f"CASE WHEN ({resource}) IS NOT NULL THEN {_field(m, 'resource.name')} END",
        C.ResourceType: f"CASE WHEN ({resource}) IS NOT NULL THEN coalesce(nullif(split_part({resource}, '/', -2), ''), {service}) END",
        C.ServiceCategory: svc_cat,
        C.ServiceName: f"coalesce({service}, 'Google Cloud')",
        C.ServiceSubcategory: svc_sub,
        C.SkuId: _field(m, "sku.id"),
        C.SkuMeter: _field(m, "sku.description"),
        C.SubAccountId: project,
        C.SubAccountName: f"CASE WHEN ({project}) IS NOT NULL THEN {_field(m, 'project.name')} END",
        C.SubAccountType: f"CASE WHEN ({project}) IS NOT NULL THEN 'Project' END",
        C.Tags: tags,
    }
