"""The line between refusing a row and keeping it with a warning (docs/ingest.md, rule by rule).

A row is refused when a value that decides a total is missing or cannot be read: BilledCost,
EffectiveCost, the charge and billing period dates, BillingCurrency on a row with a cost,
BillingAccountId and ChargeCategory (they place the row in the store and in a total), any value
that is not a number or a date where one is due, an enum value FOCUS does not list. A row that
breaks a FOCUS rule while its cost stays unambiguous is kept as given and counted here, per rule,
with the first rows located; the counts are stored in the manifest for the data-quality checks.

Each rule is a SQL condition over FOCUS columns written ``{Column}``: it is counted on the written
Parquet (cheap) and, only when it fires, located in the input by a second, ordered pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from finops_core.schema import C

# ISO 4217 alphabetic codes (current list, with the fund and precious-metal codes it includes)
_ISO_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG
XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
"""
ISO_4217 = frozenset(_ISO_CODES.split())
# FOCUS UnitFormat: [quantity ]base[-base][/[quantity ]base[-base]], a base being a data-size
# abbreviation or a capitalized noun; abbreviations the spec names as invalid are listed apart
_BASE = r"(?:b|[A-Z][A-Za-z]*|[a-z]+[A-Z][A-Za-z]*)"  # a capitalized noun, or a product term (vCPU)
_SIDE = rf"(?:[1-9][0-9]* )?{_BASE}(?:-{_BASE})?"
UNIT_PATTERN = rf"{_SIDE}(?:/{_SIDE})?"
NOT_UNITS = ("Hrs", "Hr", "Mo", "Mos", "Sec", "Secs", "Min", "Mins", "Yr", "Yrs", "GBs", "MBs", "TBs", "KBs", "PBs")


@dataclass(frozen=True)
class Rule:
    id: str
    column: str  # the FOCUS column the message names
    bad: str  # SQL over FOCUS columns written {Column}: true on a nonconforming row
    reason: str


def _empty(column: str) -> Rule:
    return Rule(
        f"{column}-null",
        column,
        f"{{{column}}} IS NULL",
        "has no value (empty or NULL); FOCUS requires one (kept empty)",
    )


def _unit(column: str) -> Rule:
    denied = "|".join(NOT_UNITS)
    return Rule(
        f"{column}-format",
        column,
        f"{{{column}}} IS NOT NULL AND (NOT regexp_full_match({{{column}}}, '{UNIT_PATTERN}') "
        f"OR regexp_matches({{{column}}}, '(^|[- /0-9])({denied})($|[-/])'))",
        "does not follow FOCUS UnitFormat (kept as given)",
    )


# required FOCUS columns whose emptiness leaves every total intact: kept, with a warning
WARN_EMPTY = (
    C.ContractedCost,
    C.ListCost,
    C.InvoiceIssuerName,
    C.ProviderName,
    C.PublisherName,
    C.ServiceCategory,
    C.ServiceName,
)
RULES = (
    *(_empty(c) for c in WARN_EMPTY),
    Rule(
        "ChargePeriod-reversed",
        C.ChargePeriodEnd,
        f"{{{C.ChargePeriodEnd}}} < {{{C.ChargePeriodStart}}}",
        "is before ChargePeriodStart (kept as given; the charge counts on its start day)",
    ),
    Rule(
        "BillingCurrency-not-ISO-4217",
        C.BillingCurrency,
        f"{{{C.BillingCurrency}}} NOT IN ({', '.join(repr(c) for c in sorted(ISO_4217))})",
        "is not an ISO 4217 currency code (kept as given; its costs are summed apart)",
    ),
    _unit(C.PricingUnit),
    _unit(C.ConsumedUnit),
)
# a zero-cost row without a currency takes its billing account's (a rule of its own, see pipeline)
CURRENCY_FILLED = Rule(
    "BillingCurrency-null-zero-cost",
    C.BillingCurrency,
    "",
    "has no value on a row with no cost; set to the billing account's currency",
)
