"""Number formatting for money and percentages, shared by tiles, tables and charts."""

from __future__ import annotations

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
COLUMN_FORMATS = {"USD": "dollar", "EUR": "euro", "JPY": "yen"}


def money(value: float | None, currency: str, decimals: int = 0) -> str:
    """``$1,234,567`` (or ``CHF 1,234`` for currencies without a symbol); '–' for None."""
    if value is None:
        return "–"
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
    return f"{value * 100:+.{decimals}f}%"


def column_format(currency: str) -> str:
    """A ``st.column_config.NumberColumn`` format for amounts in ``currency``."""
    return COLUMN_FORMATS.get(currency, "accounting")
