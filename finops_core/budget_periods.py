"""Budget periods for FP&A: calendar months and quarters, fiscal years, and budget lines rolled up to
any of them.

Period names: 'YYYY-MM' (a month), 'YYYY-Qn' (a calendar quarter), 'FYyyyy' (a fiscal year, named by
the calendar year it ends in, as most companies do: with the fiscal year starting in April, FY2027 is
April 2026 to March 2027; starting in January, FY2026 is the calendar year 2026) and 'FYyyyy-Qn' (a
fiscal quarter: with an April start, FY2027-Q1 is April to June 2026). The fiscal year's first month
is ``FINOPS_FISCAL_START`` (1-12, default 1); with a January start the quarters seen from a day are
the calendar ones, otherwise the fiscal ones. A budget file holds month or quarter
lines; a quarter's or a fiscal year's budget is the sum of the lines inside it, one row per
(team, product, sub_account, currency). A quarter line is authoritative for its months: month lines
of the same key inside a budgeted quarter are not added on top of it.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta

import polars as pl

from finops_core import budgets
from finops_core.budgets import KEY, period_range

_FY = re.compile(r"^FY(\d{4})$")
_FQ = re.compile(r"^FY(\d{4})-Q([1-4])$")
ENV = "FINOPS_FISCAL_START"
GROUP = tuple(k for k in KEY if k != "period")
SCHEMA = budgets.SCHEMA | {"months": pl.Int64}  # a line, and how many months of its period are budgeted


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    return date(y, m + 1, 1)


def fiscal_start(environ: dict[str, str] | None = None) -> int:
    """The month the fiscal year starts in, from ``FINOPS_FISCAL_START`` (1-12; unset or empty: 1)."""
    raw = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= 12:
        raise ValueError(f"{ENV}={raw!r}: the month the fiscal year starts in, a number from 1 (January) to 12")
    return int(raw)


def fiscal_year_of(day: date, fiscal_start: int = 1) -> str:
    """'FYyyyy' holding ``day`` (named by the calendar year the fiscal year ends in)."""
    start_year = day.year if day.month >= fiscal_start else day.year - 1
    end = _add_months(date(start_year, fiscal_start, 1), 11)
    return f"FY{end.year}"


def range_of(period: str, fiscal_start: int = 1) -> tuple[date, date]:
    """(first day, last day) of a month, calendar quarter or fiscal year; ValueError otherwise."""
    if not 1 <= fiscal_start <= 12:
        raise ValueError(f"fiscal year start month {fiscal_start} is not 1 to 12")
    if m := _FQ.match(period):
        first = range_of(f"FY{m[1]}", fiscal_start)[0]
        start = _add_months(first, 3 * (int(m[2]) - 1))
        return start, _add_months(start, 3) - timedelta(days=1)
    if m := _FY.match(period):
        end_month = _add_months(date(int(m[1]), fiscal_start, 1), -1)  # the month before next year's start
        if end_month.year != int(m[1]):
            end_month = _add_months(end_month, 12)
        start = _add_months(end_month, -11)
        return start, _add_months(end_month, 1) - timedelta(days=1)
    return period_range(period)


def quarter_of(day: date, fiscal_start: int = 1) -> str:
    """The quarter holding ``day``: 'YYYY-Qn' with a January fiscal start, else 'FYyyyy-Qn'."""
    if fiscal_start == 1:
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    fy = fiscal_year_of(day, fiscal_start)
    first = range_of(fy, fiscal_start)[0]
    return f"{fy}-Q{(months_in(first, day) - 1) // 3 + 1}"


def periods_around(day: date, fiscal_start: int = 1) -> list[str]:
    """The current and next month, quarter (fiscal, unless the year starts in January) and fiscal
    year seen from ``day``, in that order."""
    month = day.replace(day=1)
    quarter_start = range_of(quarter_of(day, fiscal_start), fiscal_start)[0]
    fy_start = range_of(fiscal_year_of(day, fiscal_start), fiscal_start)[0]
    return [
        f"{month:%Y-%m}",
        f"{_add_months(month, 1):%Y-%m}",
        quarter_of(day, fiscal_start),
        quarter_of(_add_months(quarter_start, 3), fiscal_start),
        fiscal_year_of(day, fiscal_start),
        fiscal_year_of(_add_months(fy_start, 12), fiscal_start),
    ]


def months_in(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def rollup(lines: pl.DataFrame, period: str, fiscal_start: int = 1) -> pl.DataFrame:
    """The budget of ``period`` per (team, product, sub_account, currency): the lines whose own period
    lies inside it, added up (month lines under a quarter line of the same key left out). One row per
    key with ``period`` set to ``period`` and ``months``: how many of its months the lines cover."""
    start, end = range_of(period, fiscal_start)
    rows: list[dict[str, object]] = []
    for row in lines.iter_rows(named=True):
        s, e = period_range(row["period"])
        if start <= s and e <= end:
            rows.append(row | {"_s": s, "_e": e, "_months": months_in(s, e)})
    if not rows:
        return pl.DataFrame(schema=SCHEMA)
    inside = pl.DataFrame(rows)
    quarters = inside.filter(pl.col("_months") > 1).select(*GROUP, pl.col("_s").alias("_qs"), pl.col("_e").alias("_qe"))
    covered = (
        inside.filter(pl.col("_months") == 1)
        .join(quarters, on=list(GROUP))
        .filter(pl.col("_s").is_between(pl.col("_qs"), pl.col("_qe")))
        .select(*GROUP, "_s")
    )
    kept = inside.join(covered, on=[*GROUP, "_s"], how="anti")
    return (
        kept.group_by(list(GROUP))
        .agg(pl.col("amount").sum(), pl.col("_months").sum().alias("months"))
        .with_columns(pl.lit(period).alias("period"))
        .select(list(SCHEMA))
        .cast(SCHEMA)  # type: ignore[arg-type]
        .sort(list(GROUP))
    )
