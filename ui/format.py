"""One formatting layer: money (with currency, rounded), percentages, dates and column headers,
shared by tiles, tables (``ui.tables.show``) and charts."""

from __future__ import annotations

import re
from datetime import date, datetime

from finops_core.schema import DIMENSION_LABELS, METRIC_LABELS, TAG_PREFIX

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
COLUMN_FORMATS = {"USD": "dollar", "EUR": "euro", "JPY": "yen"}


def money(value: float | None, currency: str, decimals: int = 0) -> str:
    """``$1,234,567`` (or ``CHF 1,234`` for currencies without a symbol); '–' for None."""
    if value is None:
        return "–"
    value = round(value, decimals) + 0.0  # rounded first: -0.004 is $0.00, not -$0.00
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(currency)
    body = f"{abs(value):,.{decimals}f}"
    return f"{sign}{symbol}{body}" if symbol else f"{sign}{currency} {body}"


def compact(value: float, currency: str) -> str:
    """``$1.2M``, ``€340k``: for axis-like, space-starved places."""
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return money(value / div, currency, 1 if abs(value) < 10 * div else 0).rstrip() + suffix
    return money(value, currency)


def percent(value: float | None, decimals: int = 1) -> str:
    if value is None:
        return "–"
    return f"{round(value * 100, decimals) + 0.0:+.{decimals}f}%"


def column_format(currency: str) -> str:
    """A ``st.column_config.NumberColumn`` format for amounts in ``currency``."""
    return COLUMN_FORMATS.get(currency, "accounting")


HEADERS = {  # derived columns the finops_core frames carry
    "current": "This period",
    "previous": "Compared period",
    "delta": "Change",
    "delta_pct": "Change %",
    "share": "Share",
    "mtd": "Month to date",
    "projected": "Projected",
    "period": "Period",
    "EffectiveCost": "Effective cost",
    "BilledCost": "Billed cost",
    "ListCost": "List cost",
    "ContractedCost": "Contracted cost",
    "ConsumedQuantity": "Quantity",
    "ConsumedUnit": "Unit",
    "ChargePeriodStart": "Charge start",
    "ChargePeriodEnd": "Charge end",
    "BillingCurrency": "Currency",
    "cost0": "Cost before",
    "cost1": "Cost",
    "units0": "Units before",
    "units1": "Units",
    "unit_cost0": "Unit cost before",
    "unit_cost1": "Unit cost",
    "change_pct": "Change %",
}


def header(column: str) -> str:
    """'x_Team' -> 'Team', 'SubAccountName' -> 'Sub account name', 'days_to_expiry' -> 'Days to expiry'."""
    if column in HEADERS:
        return HEADERS[column]
    if column in DIMENSION_LABELS:
        return DIMENSION_LABELS[column]
    if column in METRIC_LABELS:
        return METRIC_LABELS[column]
    if column.startswith(TAG_PREFIX):
        return f"Tag: {column[len(TAG_PREFIX) :]}"
    name = column[2:] if column.startswith("x_") else column
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip()
    return words[:1].upper() + words[1:].lower() if words else column


def day(value: date | datetime | None) -> str:
    """'3 Nov 2026' (a datetime at midnight too); '3 Nov 2026 14:05 UTC' when it has a time."""
    if value is None:
        return "–"
    if isinstance(value, datetime) and (value.hour, value.minute, value.second) != (0, 0, 0):
        return f"{value.day} {value:%b %Y %H:%M} UTC"
    return f"{value.day} {value:%b %Y}"
