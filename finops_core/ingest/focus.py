"""FOCUS exports (1.0, 1.1, 1.2; CSV or Parquet) -> FOCUS 1.2.

Older versions' column IDs are renamed, columns a version lacks are added as nulls (PricingCurrency
and PricingCurrencyEffectiveCost default to the billing currency and EffectiveCost, which is what a
single-currency provider means), empty strings and literal NULL/null become null, enum values are
matched case-insensitively (``usage`` -> ``Usage``), and Tags must be JSON objects.
"""

from __future__ import annotations

from finops_core.ingest.core import Check, IngestError, InputFile, Mapper, sql_str
from finops_core.ingest.rules import WARN_EMPTY
from finops_core.schema import FOCUS_COLUMNS, SERVICE_SUBCATEGORIES, C, subcategories_of

KEY = "focus"
NAME = "FOCUS 1.0-1.2 export (CSV or Parquet)"

# column IDs of earlier versions (1.0-preview and provider previews) -> 1.2
RENAMED = {
    C.ChargeCategory: ("ChargeType",),
    C.EffectiveCost: ("AmortizedCost",),
    C.ConsumedQuantity: ("UsageQuantity",),
    C.ConsumedUnit: ("UsageUnit",),
    C.RegionId: ("Region",),
    C.ProviderName: ("Provider",),
    C.PublisherName: ("Publisher",),
    C.InvoiceIssuerName: ("InvoiceIssuer",),
    C.InvoiceId: ("x_InvoiceId",),
}
# Mandatory in every version we read, non-null: refuse the file when one is missing
MANDATORY = (
    C.BilledCost,
    C.BillingAccountId,
    C.BillingCurrency,
    C.BillingPeriodEnd,
    C.BillingPeriodStart,
    C.ChargeCategory,
    C.ChargePeriodEnd,
    C.ChargePeriodStart,
    C.ContractedCost,
    C.EffectiveCost,
    C.InvoiceIssuerName,
    C.ListCost,
    C.ProviderName,
    C.PublisherName,
    C.ServiceCategory,
    C.ServiceName,
)
SUBCATEGORIES = tuple(sorted({s for c in SERVICE_SUBCATEGORIES for s in subcategories_of(c)}))


def detect(columns: list[str]) -> bool:
    lower = {c.lower() for c in columns}
    return "billedcost" in lower and "chargeperiodstart" in lower


def _enum(expr: str, values: tuple[str, ...]) -> str:
    """Case-insensitive match to the spec's spelling; other values pass through to the check."""
    whens = " ".join(f"WHEN {sql_str(v.lower())} THEN {sql_str(v)}" for v in values)
    return f"CASE lower({expr}) {whens} ELSE {expr} END"


def _json_object(m: Mapper, name: str) -> str:
    raw = m.text(name)
    m.checks.append(
        Check(
            name,
            f"({raw}) IS NOT NULL AND NOT (coalesce(json_valid({raw}), false) AND json_type({raw}) = 'OBJECT')",
            raw,
            "is not a JSON object",
        )
    )
    return raw


def build(m: Mapper, files: list[InputFile]) -> dict[str, str]:
    names = {col.name: m.name(col.name, *RENAMED.get(col.name, ())) for col in FOCUS_COLUMNS}
    missing = [c for c in MANDATORY if names[c] is None]
    if missing:
        raise IngestError(f"{m.file.path}: row 1 (header): missing mandatory FOCUS column(s) {', '.join(missing)}")
    out: dict[str, str] = {}
    for col in FOCUS_COLUMNS:
        n = names[col.name]
        if n is None:
            continue
        if col.name in (C.Tags, C.SkuPriceDetails):
            expr = _json_object(m, n)
        elif str(col.dtype) == "Float64":
            expr = m.num(n)
        elif str(col.dtype) == "String":
            expr = m.text(n)
        else:
            expr = m.ts(n)
        allowed = SUBCATEGORIES if col.name == C.ServiceSubcategory else col.allowed
        if allowed:
            expr = _enum(expr, allowed)
            m.allowed(col.name, expr, allowed, m.col(n))
        m.origin[col.name] = n
        if not col.nullable and col.level.value == "Mandatory" and col.name not in (*WARN_EMPTY, C.BillingCurrency):
            m.require(col.name, expr)  # the others warn (rules.py) or are checked after mapping (currency)
        out[col.name] = expr
    out.setdefault(C.PricingCurrency, out[C.BillingCurrency])
    out.setdefault(C.PricingCurrencyEffectiveCost, out[C.EffectiveCost])
    return out
