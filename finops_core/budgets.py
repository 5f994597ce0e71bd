"""Budgets: per team (optionally product or sub account) per month or quarter, from a CSV or YAML
file or edited in the app, validated and versioned in the state database (``budget_status``
compares them with actuals and forecasts).

A budget line: team, product ('' = all), sub_account (SubAccountName, '' = all), period
('YYYY-MM' or 'YYYY-Qn'), currency (ISO 4217), amount (>= 0). A file that breaks any rule is
refused whole; every error names the file, the line and the field. Each save is a new version
(who, when, source) and an audit-log entry; the current budgets are the latest version's lines.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from finops_core import linefiles, state

COLUMNS = ("team", "product", "sub_account", "period", "currency", "amount")
REQUIRED = ("team", "period", "currency", "amount")
ALIASES = {"month": "period", "quarter": "period", "sub_account_name": "sub_account"}
KEY = ("team", "product", "sub_account", "period", "currency")
SCHEMA = {
    "team": pl.String,
    "product": pl.String,
    "sub_account": pl.String,
    "period": pl.String,
    "currency": pl.String,
    "amount": pl.Float64,
}
STORE = state.VersionedLines(
    "budget", SCHEMA, KEY, "budget_change", ("period", "team", "product", "sub_account", "currency")
)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


class BudgetError(ValueError):
    """Budgets that cannot be used; ``errors`` lists every problem, each naming file, line and field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors[:20]) + (f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""))
        self.errors = errors


def period_range(period: str) -> tuple[date, date]:
    """(first day, last day) of 'YYYY-MM' or 'YYYY-Qn'; ValueError otherwise."""
    if m := _MONTH.match(period):
        start = date(int(m[1]), int(m[2]), 1)
        return start, (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if m := _QUARTER.match(period):
        start = date(int(m[1]), 3 * int(m[2]) - 2, 1)
        end_month = start.month + 2
        return start, (date(start.year, end_month, 1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    raise ValueError(f"{period!r} is not a period (YYYY-MM or YYYY-Qn)")


def periods_containing(day: date) -> tuple[str, str]:
    """The month and the quarter that contain ``day``."""
    return f"{day:%Y-%m}", f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _clean(raw: dict[str, Any], where: str, errors: list[str]) -> dict[str, Any] | None:
    row = {c: str(raw.get(c) if raw.get(c) is not None else "").strip() for c in COLUMNS}
    bad = len(errors)
    for col in REQUIRED:
        if not row[col]:
            errors.append(f"{where}: {col}: required")
    if row["period"]:
        try:
            period_range(row["period"])
        except ValueError as exc:
            errors.append(f"{where}: period: {exc}")
    if row["currency"] and not re.fullmatch(r"[A-Z]{3}", row["currency"]):
        errors.append(f"{where}: currency: {row['currency']!r} is not an ISO 4217 code such as USD")
    amount = None
    if row["amount"]:
        try:
            amount = float(row["amount"].replace("_", ""))
        except ValueError:
            errors.append(f"{where}: amount: {row['amount']!r} is not a number (no currency symbols or separators)")
        else:
            if amount != amount or amount in (float("inf"), float("-inf")):
                errors.append(f"{where}: amount: {row['amount']!r} is not a finite number")
            elif amount < 0:
                errors.append(f"{where}: amount: {amount:g} is negative")
    if len(errors) > bad:
        return None
    return row | {"amount": amount}


def _check_columns(names: list[str], where: str, errors: list[str]) -> list[str]:
    return linefiles.check_columns(names, where, errors, COLUMNS, REQUIRED, ALIASES)


def _finish(rows: list[tuple[str, dict[str, Any] | None]], errors: list[str]) -> pl.DataFrame:
    linefiles.report_duplicates(rows, KEY, errors)
    if errors:
        raise BudgetError(errors)
    return pl.DataFrame([r for _, r in rows if r is not None], schema=SCHEMA, orient="row")


def parse_csv(text: str, name: str = "budgets.csv") -> pl.DataFrame:
    """Budget lines from CSV text (header row, then one line per budget); ``name`` names the file in errors."""
    errors: list[str] = []
    rows = linefiles.csv_rows(text, name, COLUMNS, _check_columns, errors)
    if rows is None:
        raise BudgetError(errors)
    return _finish([(where, _clean(values, where, errors)) for where, values in rows], errors)


def parse_yaml(text: str, name: str = "budgets.yaml") -> pl.DataFrame:
    """Budget lines from YAML: a list of mappings (or ``budgets:`` holding one) with the CSV's fields."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise BudgetError([f"{name}: not valid YAML: {exc}"]) from exc
    if isinstance(root, yaml.MappingNode) and [str(k.value) for k, _ in root.value] == ["budgets"]:
        root = root.value[0][1]
    if not isinstance(root, yaml.SequenceNode):
        raise BudgetError([f"{name}:1: expected a list of budget lines (or budgets: [...])"])
    errors: list[str] = []
    rows = []
    for item in root.value:
        where = f"{name}:{item.start_mark.line + 1}"
        if not isinstance(item, yaml.MappingNode):
            errors.append(f"{where}: expected a mapping with {', '.join(REQUIRED)}")
            continue
        names = [str(k.value) for k, _ in item.value]
        columns = _check_columns(names, where, errors)
        values = {
            c: v.value if isinstance(v, yaml.ScalarNode) else None
            for c, (_, v) in zip(columns, item.value, strict=True)
        }
        rows.append((where, _clean(values, where, errors)))
    return _finish(rows, errors)


def load(path: Path) -> pl.DataFrame:
    """Budget lines from a .csv, .yaml or .yml file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        return parse_yaml(text, str(path))
    if path.suffix.lower() == ".csv":
        return parse_csv(text, str(path))
    raise BudgetError([f"{path}: unknown budget file type (use .csv, .yaml or .yml)"])


def parse_upload(data: bytes, name: str) -> pl.DataFrame:
    text = data.decode("utf-8-sig")
    return parse_yaml(text, name) if name.lower().endswith((".yaml", ".yml")) else parse_csv(text, name)


def validate_frame(frame: pl.DataFrame, name: str = "edited table") -> pl.DataFrame:
    """Budget lines edited in a table (row numbers from 1), checked like a file."""
    errors: list[str] = []
    columns = _check_columns(list(frame.columns), name, errors)
    if errors:
        raise BudgetError(errors)
    renamed = frame.rename(dict(zip(frame.columns, columns, strict=True)))
    rows = [
        (f"{name}: row {i + 1}", _clean(r, f"{name}: row {i + 1}", errors))
        for i, r in enumerate(renamed.iter_rows(named=True))
    ]
    return _finish(rows, errors)


def save(lines: pl.DataFrame, username: str, source: str, path: Path | None = None) -> int:
    """Store ``lines`` (already validated) as a new budget version; returns its number."""
    return STORE.save(lines, username, source, path, {"total": float(lines["amount"].sum())})


def current(path: Path | None = None, version: int | None = None) -> pl.DataFrame:
    """The budget lines of ``version`` (default: the latest). One row per budget line."""
    lines = STORE.lines(path, version)
    return lines if lines is not None else pl.DataFrame(schema=SCHEMA)


def versions(path: Path | None = None) -> pl.DataFrame:
    """Budget versions, newest first: version, at, username, source, lines."""
    return STORE.versions(path)
