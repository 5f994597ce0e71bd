"""Shared words of the pack: table ids (the narrative cites them, the tables carry them), the
sentence type and the formatting of amounts, shares, days and lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from finops_core.reports.digest_render import money as money  # re-exported: the pack's one money format

T_VARIANCE, T_CONTRIB, T_BUDGET, T_FORECAST, T_ALLOC, T_ANOM, T_SAVINGS, T_COMMIT = (f"T{i}" for i in range(1, 9))
EFFECT_WORDS = {
    "day_count": "the day count",
    "usage": "usage (quantity at list price)",
    "mix": "mix",
    "rate": "rate",
    "coverage": "commitment coverage",
    "new": "new resources and services",
    "retired": "retired resources and services",
    "credits": "credits and refunds",
    "other": "other charges (purchases, tax)",
}
SPLIT_WORDS = {"usage": "usage", "rate": "rate", "day_count": "day count", "new": "new", "retired": "retired"}
SPLIT_WORDS |= {"coverage": "coverage", "credits": "credits", "other": "other charges"}


@dataclass(frozen=True)
class Sentence:
    text: str
    cite: str  # "T1 Usage": the table and row that hold the figure


def signed(value: float, currency: str) -> str:
    """``+$1,234`` / ``-$1,234``; an amount that rounds to zero is ``$0`` (never ``-$0``)."""
    if abs(value) < 0.5:
        return money(0.0, currency)
    return ("+" if value > 0 else "") + money(value, currency)


def pct(value: float, signed_: bool = False) -> str:
    return f"{value * 100:+.1f}%" if signed_ else f"{value * 100:.1f}%"


def join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def day(d: date) -> str:
    return f"{d.day} {d:%b}"


def budgeted(teams: pl.DataFrame) -> str:
    if teams.height == 1:
        return f"The budgeted team, {teams['team'][0]},"
    return f"The {teams.height} budgeted teams"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def key_label(key: str, account_names: dict[str, str]) -> str:
    """An anomaly's key ("service / sub account id") with the sub account's name for its id."""
    head, sep, tail = key.rpartition(" / ")
    return f"{head}{sep}{account_names.get(tail, tail)}" if sep else account_names.get(key, key)
