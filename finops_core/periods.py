"""Calendar arithmetic for reporting periods: presets, the period to compare with, and labels.

A period is a pair of inclusive dates. Comparisons follow the calendar the way Cost Explorer does:
a calendar month against the previous calendar month, month to date against the same days of the
previous month, a quarter (or quarter to date) against the previous quarter (same days), a year to
date against the same dates a year before; any other range against the equally long range just
before it (``Comparison.kind == "same-length"``, which the label says). Year over year shifts by
twelve calendar months. Nothing here reads data: the anchors are passed in.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta

PRESETS: dict[str, str] = {
    "mtd": "Month to date",
    "last_month": "Last month",
    "last_3_months": "Last 3 full months",
    "qtd": "Quarter to date",
    "last_quarter": "Last quarter",
    "ytd": "Year to date",
    "last_12_months": "Last 12 full months",
    "last7": "Last 7 days",
    "last30": "Last 30 days",
    "last90": "Last 90 days",
    "custom": "Custom",
}
COMPARE_MODES: dict[str, str] = {"previous": "Previous period", "yoy": "Same period last year"}
LAG_DAYS = 3  # billing exports arrive a day or two late: data this fresh is "as of today"


class PeriodError(ValueError):
    """A period that cannot be built as asked; the message names the preset or dates."""


@dataclass(frozen=True)
class Comparison:
    """The period to compare with, and what kind of comparison it is."""

    start: date
    end: date
    kind: str  # "calendar-month", "month-to-date", "quarter", "quarter-to-date", "year-to-date",
    # "months", "year-over-year", "same-length"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def add_months(d: date, months: int, *, to_end: bool = False) -> date:
    """``d`` moved by ``months`` calendar months; the day is clamped to the month's length
    (31 Mar - 1 month = 28/29 Feb), or is the month's last day with ``to_end``."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, last if to_end else min(d.day, last))


def quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _months_spanned(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def as_of(last_data: date, today: date | None = None) -> date:
    """The reference day of relative presets: the day after the last day with data, or ``today``
    when the data is fresh (ends at most LAG_DAYS before it). On 1 Dec with data through 30 Nov
    it is 1 Dec, so "last month" is November."""
    after = last_data + timedelta(days=1)
    if today is not None and after < today <= last_data + timedelta(days=LAG_DAYS):
        return today
    return after


def period_for(
    preset: str, last_data: date, custom: tuple[date, date] | None = None, today: date | None = None
) -> tuple[date, date]:
    """(start, end) of a preset. To-date presets end on the last day with data; "last ..." presets
    are the full calendar periods before the month or quarter of ``as_of(last_data, today)``."""
    ref = as_of(last_data, today)
    this_month = ref.replace(day=1)
    if preset == "mtd":
        return last_data.replace(day=1), last_data
    if preset == "qtd":
        return quarter_start(last_data), last_data
    if preset == "ytd":
        return date(last_data.year, 1, 1), last_data
    if preset == "last_month":
        return add_months(this_month, -1), this_month - timedelta(days=1)
    if preset == "last_3_months":
        return add_months(this_month, -3), this_month - timedelta(days=1)
    if preset == "last_12_months":
        return add_months(this_month, -12), this_month - timedelta(days=1)
    if preset == "last_quarter":
        start = quarter_start(ref)
        return add_months(start, -3), start - timedelta(days=1)
    rolling = {"last7": 7, "last30": 30, "last90": 90}
    if preset in rolling:
        return last_data - timedelta(days=rolling[preset] - 1), last_data
    if preset == "custom":
        if custom is None:
            raise PeriodError("preset 'custom' needs a start and an end date")
        return custom
    raise PeriodError(f"unknown period {preset!r}; use one of {', '.join(PRESETS)}")


def previous(start: date, end: date, preset: str | None = None) -> Comparison:
    """The calendar period before ``start``..``end`` (see the module docstring). ``preset`` settles
    the ambiguities: a year to date that is also a quarter (1 Jan-15 Mar) is compared with last year,
    a quarter to date of whole months (1 Jan-28 Feb) with the same days of the previous quarter."""
    if start > end:
        raise PeriodError(f"start {start} is after end {end}")
    if preset == "ytd" and (start.month, start.day) == (1, 1) and end.year == start.year:
        return replace(year_before(start, end), kind="year-to-date")
    if preset == "qtd" and start == quarter_start(start) and _months_spanned(start, end) < 3:
        return Comparison(add_months(start, -3), add_months(end, -3), "quarter-to-date")
    if start.day != 1:
        days = (end - start).days + 1
        return Comparison(start - timedelta(days=days), start - timedelta(days=1), "same-length")
    full = end == month_end(end)
    spanned = _months_spanned(start, end)
    if full:
        kind = (
            "calendar-month"
            if spanned == 1
            else "quarter"
            if spanned == 3 and start == quarter_start(start)
            else "months"
        )
        return Comparison(add_months(start, -spanned), add_months(end, -spanned, to_end=True), kind)
    if spanned == 1:
        shift, kind = 1, "month-to-date"
    elif start == quarter_start(start) and spanned <= 3:
        shift, kind = 3, "quarter-to-date"
    elif start.month == 1 and end.year == start.year:
        shift, kind = 12, "year-to-date"
    else:
        shift, kind = spanned, "months"
    return Comparison(add_months(start, -shift), add_months(end, -shift), kind)


def year_before(start: date, end: date) -> Comparison:
    """The same dates twelve calendar months earlier (a full month stays a full month: Feb 2025
    against all of Feb 2024)."""
    full = end == month_end(end)
    return Comparison(add_months(start, -12), add_months(end, -12, to_end=full), "year-over-year")


def compare(start: date, end: date, mode: str = "previous", preset: str | None = None) -> Comparison:
    """The period to compare ``start``..``end`` with: ``previous`` (calendar-aligned) or ``yoy``."""
    if mode == "yoy":
        return year_before(start, end)
    if mode != "previous":
        raise PeriodError(f"unknown comparison {mode!r}; use one of {', '.join(COMPARE_MODES)}")
    return previous(start, end, preset)


def label(start: date, end: date) -> str:
    """'1-30 Nov 2026', '16 Sep - 15 Oct 2026', '1 Dec 2025 - 30 Nov 2026', '3 Nov 2026'."""
    if start == end:
        return f"{end.day} {end:%b %Y}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}-{end.day} {end:%b %Y}"
    if start.year == end.year:
        return f"{start.day} {start:%b} - {end.day} {end:%b %Y}"
    return f"{start.day} {start:%b %Y} - {end.day} {end:%b %Y}"


KIND_NOTES = {
    "calendar-month": "calendar month vs the previous calendar month",
    "month-to-date": "month to date vs the same days of the previous month",
    "quarter": "calendar quarter vs the previous quarter",
    "quarter-to-date": "quarter to date vs the same days of the previous quarter",
    "year-to-date": "year to date vs the same dates last year",
    "months": "calendar months vs the same number of months before",
    "year-over-year": "year over year",
    "same-length": "not a calendar period: compared with the equally long period just before",
}


def month_starts(start: date, end: date) -> int:
    """How many 1sts of a month (when monthly fees are charged) ``start``..``end`` holds."""
    return _months_spanned(start, end) - (1 if start.day != 1 else 0)


def comparison_label(start: date, end: date, other: Comparison) -> str:
    """'1-30 Nov 2026 vs 1-31 Oct 2026 (calendar month vs the previous calendar month)'."""
    return f"{label(start, end)} vs {label(other.start, other.end)} ({KIND_NOTES[other.kind]})"


def buckets(start: date, end: date, grain: str) -> list[tuple[date, int, int]]:
    """The time buckets of ``start``..``end`` at ``grain`` (``day``, ``week`` from Monday, ``month``):
    (bucket start, days of it inside the period, days in the bucket). A first or last week or month
    cut by the period has fewer days than its length: drawn as is it looks like a dip."""
    out: list[tuple[date, int, int]] = []
    day = start
    while day <= end:
        if grain == "day":
            first, nxt = day, day + timedelta(days=1)
        elif grain == "week":
            first = day - timedelta(days=day.weekday())
            nxt = first + timedelta(days=7)
        elif grain == "month":
            first, nxt = day.replace(day=1), month_end(day) + timedelta(days=1)
        else:
            raise PeriodError(f"unknown grain {grain!r}; use day, week or month")
        out.append((first, (min(nxt - timedelta(days=1), end) - day).days + 1, (nxt - first).days))
        day = nxt
    return out
