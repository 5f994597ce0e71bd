"""FOCUS 1.2 columns we carry, their dtypes and allowed values, and the x_ columns we derive.

This module is the one source of truth for column names: other modules import the constants
below (``C.BilledCost``) instead of spelling names as loose strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import polars as pl

FOCUS_VERSION = "1.2"
# x.2: allocation rules, splits, compliance; x.3: missing tags as text; x.4: invoice_lines;
# x.5: company-wide anomaly detection stored at publish
SCHEMA_VERSION = "focus-1.2+x.8"

UTC_TS = pl.Datetime("us", "UTC")


class Level(StrEnum):
    MANDATORY = "Mandatory"
    CONDITIONAL = "Conditional"
    RECOMMENDED = "Recommended"
    DERIVED = "Derived"  # our x_ columns


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    level: Level
    nullable: bool
    kind: str  # "dimension" or "metric"
    allowed: tuple[str, ...] = ()
    help: str = ""


class C:
    """Column name constants (FOCUS PascalCase, ours with the x_ prefix)."""

    AvailabilityZone = "AvailabilityZone"
    BilledCost = "BilledCost"
    BillingAccountId = "BillingAccountId"
    BillingAccountName = "BillingAccountName"
    BillingAccountType = "BillingAccountType"
    BillingCurrency = "BillingCurrency"
    BillingPeriodEnd = "BillingPeriodEnd"
    BillingPeriodStart = "BillingPeriodStart"
    CapacityReservationId = "CapacityReservationId"
    CapacityReservationStatus = "CapacityReservationStatus"
    ChargeCategory = "ChargeCategory"
    ChargeClass = "ChargeClass"
    ChargeDescription = "ChargeDescription"
    ChargeFrequency = "ChargeFrequency"
    ChargePeriodEnd = "ChargePeriodEnd"
    ChargePeriodStart = "ChargePeriodStart"
    CommitmentDiscountCategory = "CommitmentDiscountCategory"
    CommitmentDiscountId = "CommitmentDiscountId"
    CommitmentDiscountName = "CommitmentDiscountName"
    CommitmentDiscountQuantity = "CommitmentDiscountQuantity"
    CommitmentDiscountStatus = "CommitmentDiscountStatus"
    CommitmentDiscountType = "CommitmentDiscountType"
    CommitmentDiscountUnit = "CommitmentDiscountUnit"
    ConsumedQuantity = "ConsumedQuantity"
    ConsumedUnit = "ConsumedUnit"
    ContractedCost = "ContractedCost"
    ContractedUnitPrice = "ContractedUnitPrice"
    EffectiveCost = "EffectiveCost"
    InvoiceId = "InvoiceId"
    InvoiceIssuerName = "InvoiceIssuerName"
    ListCost = "ListCost"
    ListUnitPrice = "ListUnitPrice"
    PricingCategory = "PricingCategory"
    PricingCurrency = "PricingCurrency"
    PricingCurrencyContractedUnitPrice = "PricingCurrencyContractedUnitPrice"
    PricingCurrencyEffectiveCost = "PricingCurrencyEffectiveCost"
    PricingCurrencyListUnitPrice = "PricingCurrencyListUnitPrice"
    PricingQuantity = "PricingQuantity"
    PricingUnit = "PricingUnit"
    ProviderName = "ProviderName"
    PublisherName = "PublisherName"
    RegionId = "RegionId"
    RegionName = "RegionName"
    ResourceId = "ResourceId"
    ResourceName = "ResourceName"
    ResourceType = "ResourceType"
    ServiceCategory = "ServiceCategory"
    ServiceName = "ServiceName"
    ServiceSubcategory = "ServiceSubcategory"
    SkuId = "SkuId"
    SkuMeter = "SkuMeter"
    SkuPriceDetails = "SkuPriceDetails"
    SkuPriceId = "SkuPriceId"
    SubAccountId = "SubAccountId"
    SubAccountName = "SubAccountName"
    SubAccountType = "SubAccountType"
    Tags = "Tags"
    # derived
    x_ChargeDate = "x_ChargeDate"
    x_BillingMonth = "x_BillingMonth"
    x_Team = "x_Team"
    x_Product = "x_Product"
    x_Environment = "x_Environment"
    x_CostCenter = "x_CostCenter"
    x_Owner = "x_Owner"
    x_AllocationRule = "x_AllocationRule"
    x_Pool = "x_Pool"
    x_MissingTags = "x_MissingTags"


CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
CHARGE_CLASSES = ("Correction",)
CHARGE_FREQUENCIES = ("One-Time", "Recurring", "Usage-Based")
PRICING_CATEGORIES = ("Standard", "Dynamic", "Committed", "Other")
COMMITMENT_STATUSES = ("Used", "Unused")
COMMITMENT_CATEGORIES = ("Spend", "Usage")

SERVICE_SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "AI and Machine Learning": (
        "AI Platforms",
        "Bots",
        "Generative AI",
        "Machine Learning",
        "Natural Language Processing",
    ),
    "Analytics": (
        "Analytics Platforms",
        "Business Intelligence",
        "Data Processing",
        "Search",
        "Streaming Analytics",
    ),
    "Business Applications": ("Productivity and Collaboration",),
    "Compute": (
        "Containers",
        "End User Computing",
        "Quantum Compute",
        "Serverless Compute",
        "Virtual Machines",
    ),
    "Databases": (
        "Caching",
        "Data Warehouses",
        "Ledger Databases",
        "NoSQL Databases",
        "Relational Databases",
        "Time Series Databases",
    ),
    "Developer Tools": (
        "Developer Platforms",
        "Continuous Integration and Deployment",
        "Development Environments",
        "Source Code Management",
        "Quality Assurance",
    ),
    "Identity": ("Identity and Access Management",),
    "Integration": ("API Management", "Messaging", "Workflow Orchestration"),
    "Internet of Things": ("IoT Analytics", "IoT Platforms"),
    "Management and Governance": (
        "Architecture",
        "Compliance",
        "Cost Management",
        "Data Governance",
        "Disaster Recovery",
        "Endpoint Management",
        "Observability",
        "Support",
    ),
    "Media": ("Content Creation", "Gaming", "Media Streaming", "Mixed Reality"),
    "Migration": ("Data Migration", "Resource Migration"),
    "Mobile": (),
    "Multicloud": ("Multicloud Integration",),
    "Networking": (
        "Application Networking",
        "Content Delivery",
        "Network Connectivity",
        "Network Infrastructure",
        "Network Routing",
        "Network Security",
    ),
    "Security": (
        "Secret Management",
        "Security Posture Management",
        "Threat Detection and Response",
    ),
    "Storage": (
        "Backup Storage",
        "Block Storage",
        "File Storage",
        "Object Storage",
        "Storage Platforms",
    ),
    "Web": ("Application Platforms",),
    "Other": (),
}
SERVICE_CATEGORIES = tuple(SERVICE_SUBCATEGORIES)


def subcategories_of(category: str) -> tuple[str, ...]:
    """Allowed ServiceSubcategory values for a ServiceCategory, including its Other value."""
    return SERVICE_SUBCATEGORIES[category] + (f"Other ({category})",)


_S = pl.String()
_F = pl.Float64()
M, CO, R, D = Level.MANDATORY, Level.CONDITIONAL, Level.RECOMMENDED, Level.DERIVED


def _d(name: str, level: Level, nullable: bool, allowed: tuple[str, ...] = (), help: str = "") -> Column:
    return Column(name, _S, level, nullable, "dimension", allowed, help)


def _t(name: str, help: str) -> Column:
    return Column(name, UTC_TS, M, False, "dimension", (), help)


def _m(name: str, level: Level, nullable: bool, help: str = "") -> Column:
    return Column(name, _F, level, nullable, "metric", (), help)


FOCUS_COLUMNS: tuple[Column, ...] = (
    _d(C.AvailabilityZone, R, True),
    _m(C.BilledCost, M, False, "Invoiced cost, not amortized"),
    _d(C.BillingAccountId, M, False),
    _d(C.BillingAccountName, M, True),
    _d(C.BillingAccountType, CO, False),
    _d(C.BillingCurrency, M, False),
    _t(C.BillingPeriodEnd, "Exclusive end of the billing period"),
    _t(C.BillingPeriodStart, "Inclusive start of the billing period"),
    _d(C.CapacityReservationId, CO, True),
    _d(C.CapacityReservationStatus, CO, True, COMMITMENT_STATUSES),
    _d(C.ChargeCategory, M, False, CHARGE_CATEGORIES),
    _d(C.ChargeClass, M, True, CHARGE_CLASSES),
    _d(C.ChargeDescription, M, True),
    _d(C.ChargeFrequency, R, False, CHARGE_FREQUENCIES),
    _t(C.ChargePeriodEnd, "Exclusive end of the charge period"),
    _t(C.ChargePeriodStart, "Inclusive start of the charge period"),
    _d(C.CommitmentDiscountCategory, CO, True, COMMITMENT_CATEGORIES),
    _d(C.CommitmentDiscountId, CO, True),
    _d(C.CommitmentDiscountName, CO, True),
    _m(C.CommitmentDiscountQuantity, CO, True),
    _d(C.CommitmentDiscountStatus, CO, True, COMMITMENT_STATUSES),
    _d(C.CommitmentDiscountType, CO, True),
    _d(C.CommitmentDiscountUnit, CO, True),
    _m(C.ConsumedQuantity, CO, True),
    _d(C.ConsumedUnit, CO, True),
    _m(C.ContractedCost, M, False, "Cost at negotiated rates, before commitment discounts"),
    _m(C.ContractedUnitPrice, CO, True),
    _m(C.EffectiveCost, M, False, "Amortized cost: commitment purchases spread over usage"),
    _d(C.InvoiceId, R, True),
    _d(C.InvoiceIssuerName, M, False),
    _m(C.ListCost, M, False, "Cost at public list prices"),
    _m(C.ListUnitPrice, CO, True),
    _d(C.PricingCategory, CO, True, PRICING_CATEGORIES),
    _d(C.PricingCurrency, CO, False),
    _m(C.PricingCurrencyContractedUnitPrice, CO, True),
    _m(C.PricingCurrencyEffectiveCost, CO, False),
    _m(C.PricingCurrencyListUnitPrice, CO, True),
    _m(C.PricingQuantity, M, True),
    _d(C.PricingUnit, M, True),
    _d(C.ProviderName, M, False),
    _d(C.PublisherName, M, False),
    _d(C.RegionId, CO, True),
    _d(C.RegionName, CO, True),
    _d(C.ResourceId, CO, True),
    _d(C.ResourceName, CO, True),
    _d(C.ResourceType, CO, True),
    _d(C.ServiceCategory, M, False, SERVICE_CATEGORIES),
    _d(C.ServiceName, M, False),
    _d(C.ServiceSubcategory, R, False),
    _d(C.SkuId, CO, True),
    _d(C.SkuMeter, CO, True),
    _d(C.SkuPriceDetails, CO, True, help="JSON object"),
    _d(C.SkuPriceId, CO, True),
    _d(C.SubAccountId, CO, True),
    _d(C.SubAccountName, CO, True),
    _d(C.SubAccountType, CO, True),
    _d(C.Tags, CO, True, help="JSON object of finalized tags"),
)

ALLOCATION_COLUMNS: tuple[Column, ...] = (
    _d(C.x_Team, D, False, help="Team the cost is attributed to, or Unallocated"),
    _d(C.x_Product, D, False, help="Product the cost is attributed to, or Unallocated"),
    _d(C.x_Environment, D, False, help="prod / staging / dev, or Unallocated"),
    _d(C.x_CostCenter, D, False, help="Cost center, or Unallocated"),
    _d(C.x_Owner, D, False, help="Owner to contact, or Unallocated"),
)
UNALLOCATED = "Unallocated"

DATE_COLUMNS: tuple[Column, ...] = (
    Column(C.x_ChargeDate, pl.Date(), D, False, "dimension", (), "UTC day of ChargePeriodStart"),
    Column(C.x_BillingMonth, pl.Date(), D, False, "dimension", (), "First day of the billing period"),
)

FOCUS_NAMES: tuple[str, ...] = tuple(c.name for c in FOCUS_COLUMNS)
ALLOCATION_NAMES: tuple[str, ...] = tuple(c.name for c in ALLOCATION_COLUMNS)
COLUMNS: dict[str, Column] = {c.name: c for c in FOCUS_COLUMNS + ALLOCATION_COLUMNS + DATE_COLUMNS}
FOCUS_SCHEMA: dict[str, pl.DataType] = {c.name: c.dtype for c in FOCUS_COLUMNS}

METRICS: tuple[str, ...] = (C.EffectiveCost, C.BilledCost, C.ListCost, C.ContractedCost)
DEFAULT_METRIC = C.EffectiveCost
METRIC_LABELS: dict[str, str] = {
    C.EffectiveCost: "Effective cost (amortized)",
    C.BilledCost: "Billed cost (invoice)",
    C.ListCost: "List cost (on-demand)",
    C.ContractedCost: "Contracted cost (negotiated)",
}

# Dimensions people group and filter by; a rollup carries exactly these (plus date and currency).
ROLLUP_DIMENSIONS: tuple[str, ...] = (
    C.ProviderName,
    C.PublisherName,
    C.InvoiceIssuerName,
    C.BillingAccountId,
    C.BillingAccountName,
    C.SubAccountId,
    C.SubAccountName,
    C.ServiceCategory,
    C.ServiceSubcategory,
    C.ServiceName,
    C.RegionId,
    C.RegionName,
    C.ChargeCategory,
    C.ChargeClass,
    C.ChargeFrequency,
    C.PricingCategory,
    C.CommitmentDiscountStatus,
    C.CommitmentDiscountType,
    C.x_Team,
    C.x_Product,
    C.x_Environment,
    C.x_CostCenter,
    C.x_Owner,
    C.x_AllocationRule,
)
# Resource-grain rollup: the dimensions a resource drilldown filters or groups by.
RESOURCE_DIMENSIONS: tuple[str, ...] = (
    C.ResourceId,
    C.ResourceName,
    C.ResourceType,
    C.ProviderName,
    C.BillingAccountId,
    C.SubAccountId,
    C.SubAccountName,
    C.ServiceCategory,
    C.ServiceName,
    C.RegionId,
    C.ChargeCategory,
    C.x_Team,
    C.x_Product,
    C.x_Environment,
    C.x_CostCenter,
)
# Dimensions a query may filter or group on, besides ``tag:<key>``.
QUERY_DIMENSIONS: tuple[str, ...] = tuple(
    dict.fromkeys(
        ROLLUP_DIMENSIONS
        + RESOURCE_DIMENSIONS
        + (
            C.AvailabilityZone,
            C.SkuId,
            C.SkuPriceId,
            C.SkuMeter,
            C.CommitmentDiscountId,
            C.CommitmentDiscountName,
            C.CommitmentDiscountCategory,
            C.InvoiceId,
            C.BillingCurrency,
            C.SubAccountType,
            C.BillingAccountType,
            C.ChargeDescription,
        )
    )
)
TAG_PREFIX = "tag:"

DIMENSION_LABELS: dict[str, str] = {
    C.ProviderName: "Provider",
    C.PublisherName: "Publisher",
    C.InvoiceIssuerName: "Invoice issuer",
    C.BillingAccountId: "Billing account",
    C.BillingAccountName: "Billing account name",
    C.SubAccountId: "Sub account",
    C.SubAccountName: "Sub account name",
    C.ServiceCategory: "Service category",
    C.ServiceSubcategory: "Service subcategory",
    C.ServiceName: "Service",
    C.RegionId: "Region",
    C.RegionName: "Region name",
    C.ChargeCategory: "Charge category",
    C.ChargeClass: "Charge class",
    C.ChargeFrequency: "Charge frequency",
    C.PricingCategory: "Pricing category",
    C.CommitmentDiscountStatus: "Commitment status",
    C.CommitmentDiscountType: "Commitment type",
    C.ResourceId: "Resource",
    C.ResourceName: "Resource name",
    C.ResourceType: "Resource type",
    C.SkuId: "SKU",
    C.x_Team: "Team",
    C.x_Product: "Product",
    C.x_Environment: "Environment",
    C.x_CostCenter: "Cost center",
    C.x_Owner: "Owner",
    C.x_AllocationRule: "Allocation rule",
}


def label(dimension: str) -> str:
    """Human label for a dimension or ``tag:<key>``."""
    if dimension.startswith(TAG_PREFIX):
        return f"Tag {dimension[len(TAG_PREFIX) :]}"
    return DIMENSION_LABELS.get(dimension, dimension)


def empty_focus_frame() -> pl.DataFrame:
    """A zero-row frame with every FOCUS column in schema order and dtype."""
    return pl.DataFrame(schema=FOCUS_SCHEMA)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast a frame to the FOCUS schema: missing columns as nulls, schema order, extra x_ columns after."""
    exprs = []
    for col in FOCUS_COLUMNS:
        if col.name in frame.columns:
            exprs.append(pl.col(col.name).cast(col.dtype))
        else:
            exprs.append(pl.lit(None, dtype=col.dtype).alias(col.name))
    extras = [pl.col(n) for n in frame.columns if n.startswith("x_") and n not in FOCUS_NAMES]
    return frame.select(exprs + extras)
