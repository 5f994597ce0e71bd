"""FOCUS exports (1.0-preview to 1.4; CSV or Parquet) -> FOCUS 1.2.

The version is told by the columns it introduced (``VERSIONS``) and said in the output, with the
input columns that have no FOCUS 1.2 home and are not carried (1.3's HostProviderName,
ContractApplied and Allocated* columns, 1.4's InvoiceDetailId, a provider's x_ columns). 1.3's
ServiceProviderName replaces the deprecated ProviderName and is read when ProviderName is absent.

Older versions' column IDs are renamed, columns a version lacks are added as nulls (PricingCurrency
and PricingCurrencyEffectiveCost default to the billing currency and EffectiveCost, which is what a
single-currency provider means), empty strings and literal NULL/null become null, enum values are
matched case-insensitively (``usage`` -> ``Usage``), and Tags must be JSON objects.
"""

from __future__ import annotations

from finops_core.ingest import contracts
from finops_core.ingest.core import Check, IngestError, InputFile, Mapper, sql_str
from finops_core.ingest.rules import WARN_EMPTY
from finops_core.schema import FOCUS_COLUMNS, SERVICE_SUBCATEGORIES, C, subcategories_of

KEY = "focus"
NAME = "FOCUS 1.0-1.4 export (CSV or Parquet)"

# the columns each version introduced (FOCUS_Spec CHANGELOG and columns/*.md "Introduced (version)")
VERSIONS = (
    ("1.4", ("InvoiceDetailId", "CommitmentProgramEligibilityDetails")),
    (
        "1.3",
        (
            "ServiceProviderName",
            "HostProviderName",
            "ContractApplied",
            "AllocatedMethodId",
            "AllocatedMethodDetails",
            "AllocatedResourceId",
            "AllocatedResourceName",
            "AllocatedTags",
        ),
    ),
    ("1.2", ("BillingAccountType", "InvoiceId", "PricingCurrency", "PricingCurrencyEffectiveCost", "SubAccountType")),
    (
        "1.1",
        ("CapacityReservationId", "CommitmentDiscountQuantity", "ServiceSubcategory", "SkuMeter", "SkuPriceDetails"),
    ),
    ("1.0", ("ChargeClass", "CommitmentDiscountStatus", "ContractedCost", "RegionId")),
)

# column IDs of earlier versions (1.0-preview and provider previews) -> 1.2
RENAMED = {
    C.ChargeCategory: ("ChargeType",),
    C.EffectiveCost: ("AmortizedCost",),
    C.ConsumedQuantity: ("UsageQuantity",),
    C.ConsumedUnit: ("UsageUnit",),
    C.RegionId: ("Region",),
    C.ProviderName: ("Provider", "ServiceProviderName"),
    C.PublisherName: ("Publisher", "ServiceProviderName"),  # 1.3 deprecates PublisherName
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


def version(columns: list[str]) -> tuple[str, list[str]]:
    """The FOCUS version whose new columns the file has, and those columns (1.0-preview: none)."""
    lower = {c.lower(): c for c in columns}
    for v, markers in VERSIONS:
        found = [lower[c.lower()] for c in markers if c.lower() in lower]
        if found:
            return v, found
    return "1.0-preview", []


def _notes(m: Mapper, names: dict[str, str | None]) -> None:
    v, markers = version(list(m.file.columns))
    used = {n for n in names.values() if n is not None}
    ours = {v for k, v in vars(C).items() if k.startswith("x_")}  # our allocation columns: recomputed
    dropped = [c for c in m.file.columns if c not in used and c not in ours]
    note = f"FOCUS {v}" + (f" (by its columns {', '.join(markers[:4])})" if markers else "")
    if names[C.ProviderName] == m.name("ServiceProviderName") and names[C.ProviderName] is not None:
        note += "; ServiceProviderName carried as ProviderName"
    note += f"; {len(dropped)} column(s) not carried (no FOCUS 1.2 column)" + (
        f": {', '.join(dropped)}" if dropped else ""
    )
    if m.has("ContractApplied"):
        note += "; ContractApplied kept as the contract commitments each charge counts towards"
    m.notes.append(note)


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
    _notes(m, names)
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
    applied = m.name("ContractApplied")
    if applied is not None:  # FOCUS 1.3: the contract commitments a charge counts towards (contracts.py)
        raw = m.text(applied)
        m.checks.append(
            Check(applied, contracts.applied_check_sql(raw), raw, "is not a JSON array of contract commitments applied")
        )
        out[contracts.APPLIED_SOURCE] = raw
    out.setdefault(C.PricingCurrency, out[C.BillingCurrency])
    out.setdefault(C.PricingCurrencyEffectiveCost, out[C.EffectiveCost])
    return out
