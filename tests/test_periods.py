"""Calendar arithmetic of reporting periods over awkward calendars (Feb, leap years, month ends)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from finops_core import periods
from finops_core.periods import Comparison, PeriodError, compare, period_for, previous


def d(text: str) -> date:
    return date.fromisoformat(text)


@pytest.mark.parametrize(
    ("start", "end", "want"),
    [
        ("2026-11-01", "2026-11-30", ("2026-10-01", "2026-10-31", "calendar-month")),  # 30 days vs 31
        ("2026-03-01", "2026-03-31", ("2026-02-01", "2026-02-28", "calendar-month")),
        ("2024-03-01", "2024-03-31", ("2024-02-01", "2024-02-29", "calendar-month")),  # leap February
        ("2024-02-01", "2024-02-29", ("2024-01-01", "2024-01-31", "calendar-month")),
        ("2026-03-01", "2026-03-30", ("2026-02-01", "2026-02-28", "month-to-date")),  # day clamped to Feb
        ("2024-03-01", "2024-03-29", ("2024-02-01", "2024-02-29", "month-to-date")),
        ("2026-10-01", "2026-10-15", ("2026-09-01", "2026-09-15", "month-to-date")),
        ("2026-12-01", "2026-12-01", ("2026-11-01", "2026-11-01", "month-to-date")),
        ("2026-10-01", "2026-12-31", ("2026-07-01", "2026-09-30", "quarter")),
        ("2026-10-01", "2026-11-15", ("2026-07-01", "2026-08-15", "quarter-to-date")),
        ("2026-01-01", "2026-02-28", ("2025-11-01", "2025-12-31", "months")),  # two whole months
        ("2026-01-01", "2026-03-31", ("2025-10-01", "2025-12-31", "quarter")),
        ("2026-01-01", "2026-08-19", ("2025-01-01", "2025-08-19", "year-to-date")),
        ("2025-12-01", "2026-11-30", ("2024-12-01", "2025-11-30", "months")),  # twelve full months
        ("2026-09-01", "2026-11-30", ("2026-06-01", "2026-08-31", "months")),
        ("2026-09-16", "2026-10-15", ("2026-08-17", "2026-09-15", "same-length")),
        ("2025-02-28", "2025-03-01", ("2025-02-26", "2025-02-27", "same-length")),
    ],
)
def test_previous_follows_the_calendar(start: str, end: str, want: tuple[str, str, str]) -> None:
    assert previous(d(start), d(end)) == Comparison(d(want[0]), d(want[1]), want[2])


def test_same_length_comparisons_keep_the_length() -> None:
    for start in (d("2026-01-31"), d("2024-02-28"), d("2026-05-17")):
        for days in (1, 7, 30, 90):
            end = start + timedelta(days=days - 1)
            other = previous(start, end)
            assert other.kind == "same-length" and other.days == days and other.end == start - timedelta(days=1)


def test_year_to_date_preset_compares_with_last_year_even_when_it_is_a_quarter() -> None:
    assert previous(d("2026-01-01"), d("2026-03-15"), "ytd") == Comparison(
        d("2025-01-01"), d("2025-03-15"), "year-to-date"
    )
    assert previous(d("2026-01-01"), d("2026-03-31"), "ytd").start == d("2025-01-01")
    assert previous(d("2026-01-01"), d("2026-02-28"), "qtd") == Comparison(
        d("2025-10-01"), d("2025-11-28"), "quarter-to-date"
    )


@pytest.mark.parametrize(
    ("start", "end", "want"),
    [
        ("2024-02-01", "2024-02-29", ("2023-02-01", "2023-02-28")),
        ("2025-02-01", "2025-02-28", ("2024-02-01", "2024-02-29")),  # a full month stays full
        ("2024-02-29", "2024-02-29", ("2023-02-28", "2023-02-28")),
        ("2026-09-16", "2026-10-15", ("2025-09-16", "2025-10-15")),
    ],
)
def test_year_over_year(start: str, end: str, want: tuple[str, str]) -> None:
    other = compare(d(start), d(end), "yoy")
    assert (other.start, other.end, other.kind) == (d(want[0]), d(want[1]), "year-over-year")


@pytest.mark.parametrize(
    ("last", "today", "preset", "want"),
    [
        # 1 Dec with data complete through 30 Nov: last month is November, the month just ended
        ("2026-11-30", "2026-12-01", "last_month", ("2026-11-01", "2026-11-30")),
        ("2026-11-30", None, "last_month", ("2026-11-01", "2026-11-30")),
        # data a day or two late on the 1st: still November (the period is cut at the data's end later)
        ("2026-11-29", "2026-12-01", "last_month", ("2026-11-01", "2026-11-30")),
        # stale data (a demo store read weeks later): relative to the data, not the wall clock
        ("2026-10-15", "2026-12-02", "last_month", ("2026-09-01", "2026-09-30")),
        ("2024-03-31", None, "last_month", ("2024-03-01", "2024-03-31")),
        ("2024-03-15", None, "last_month", ("2024-02-01", "2024-02-29")),
        ("2026-11-30", None, "last_quarter", ("2026-07-01", "2026-09-30")),
        ("2026-12-31", None, "last_quarter", ("2026-10-01", "2026-12-31")),
        ("2026-01-10", None, "last_quarter", ("2025-10-01", "2025-12-31")),
        ("2026-11-30", None, "last_3_months", ("2026-09-01", "2026-11-30")),
        ("2026-03-10", None, "last_3_months", ("2025-12-01", "2026-02-28")),
        ("2026-11-30", None, "last_12_months", ("2025-12-01", "2026-11-30")),
        ("2026-11-30", None, "mtd", ("2026-11-01", "2026-11-30")),
        ("2026-11-30", None, "qtd", ("2026-10-01", "2026-11-30")),
        ("2026-11-30", None, "ytd", ("2026-01-01", "2026-11-30")),
        ("2026-03-01", None, "last30", ("2026-01-31", "2026-03-01")),
    ],
)
def test_presets(last: str, today: str | None, preset: str, want: tuple[str, str]) -> None:
    assert period_for(preset, d(last), today=d(today) if today else None) == (d(want[0]), d(want[1]))


def test_history_starting_on_a_weekend_month_end() -> None:
    """A store whose first day is Sat 31 Jan 2026 and last is Sun 1 Mar 2026: February is whole,
    the previous month (January) holds one day of data; the 30 days hold two month starts."""
    assert period_for("last_month", d("2026-03-01")) == (d("2026-02-01"), d("2026-02-28"))
    assert previous(d("2026-02-01"), d("2026-02-28")) == Comparison(d("2026-01-01"), d("2026-01-31"), "calendar-month")
    start, end = period_for("last30", d("2026-03-01"))
    assert periods.month_starts(start, end) == 2 and periods.month_starts(d("2026-02-02"), d("2026-02-28")) == 0


def test_labels_say_which_dates() -> None:
    nov, oct_ = (d("2026-11-01"), d("2026-11-30")), previous(d("2026-11-01"), d("2026-11-30"))
    assert periods.comparison_label(*nov, oct_) == (
        "1-30 Nov 2026 vs 1-31 Oct 2026 (calendar month vs the previous calendar month)"
    )
    assert periods.label(d("2026-09-16"), d("2026-10-15")) == "16 Sep - 15 Oct 2026"
    assert periods.label(d("2025-12-01"), d("2026-11-30")) == "1 Dec 2025 - 30 Nov 2026"
    assert periods.label(d("2026-11-03"), d("2026-11-03")) == "3 Nov 2026"
    assert "not a calendar period" in periods.comparison_label(
        d("2026-09-16"), d("2026-10-15"), previous(d("2026-09-16"), d("2026-10-15"))
    )


def test_bad_requests_name_the_problem() -> None:
    with pytest.raises(PeriodError, match="unknown period 'fortnight'"):
        period_for("fortnight", d("2026-11-30"))
    with pytest.raises(PeriodError, match="needs a start"):
        period_for("custom", d("2026-11-30"))
    with pytest.raises(PeriodError, match="unknown comparison"):
        compare(d("2026-11-01"), d("2026-11-30"), "lastweek")


def test_buckets_mark_partial_weeks_and_months() -> None:
    # Sun 1 Nov 2026 .. Mon 30 Nov 2026: the week of Mon 26 Oct holds 1 day, the week of 30 Nov 1 day
    weeks = periods.buckets(d("2026-11-01"), d("2026-11-30"), "week")
    assert weeks[0] == (d("2026-10-26"), 1, 7) and weeks[-1] == (d("2026-11-30"), 1, 7)
    assert sum(inside for _, inside, _ in weeks) == 30
    months = periods.buckets(d("2024-01-15"), d("2024-03-31"), "month")
    assert months == [(d("2024-01-01"), 17, 31), (d("2024-02-01"), 29, 29), (d("2024-03-01"), 31, 31)]
    assert len(periods.buckets(d("2026-02-27"), d("2026-03-02"), "day")) == 4
