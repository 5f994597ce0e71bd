"""Invoice totals to reconcile the billing rows against: read from a CSV or XLSX file, validated,
and versioned in the state database.

An invoice line: billing_account_id, billing_period ('YYYY-MM'), invoice_id, currency (ISO 4217),
amount (the invoice total in that currency, tax included, may be negative for a credit note). A
file that breaks any rule is refused whole; every error names the file, the line and the field.
Each save is a new version (who, when, source file) and an audit-log entry.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from finops_core import state

COLUMNS = ("billing_account_id", "billing_period", "invoice_id", "currency", "amount")
SCHEMA = {
    "billing_account_id": pl.String,
    "billing_period": pl.String,
    "invoice_id": pl.String,
    "currency": pl.String,
    "amount": pl.Float64,
}
STORE = state.VersionedLines(
    "invoice", SCHEMA, ("billing_account_id", "billing_period", "invoice_id", "currency"), "invoices_upload"
)
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


class InvoiceError(ValueError):
    """An invoices file that cannot be used; ``errors`` lists every problem (file, line, field)."""

    def __init__(self, errors: list[str]) -> None:
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__("; ".join(errors[:20]) + more)
        self.errors = errors


def _value(raw: object) -> str:
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw)) if abs(raw) < 1e15 else repr(raw)
    if isinstance(raw, datetime):
        return f"{raw:%Y-%m}"
    return str(raw).strip()


def _line(values: dict[str, str], where: str, errors: list[str]) -> dict[str, Any] | None:
    bad = len(errors)
    for col in COLUMNS:
        if not values.get(col):
            errors.append(f"{where}: {col}: required, but empty")
    period, currency, amount = values.get("billing_period", ""), values.get("currency", ""), values.get("amount", "")
    if period and not _PERIOD.match(period):
        errors.append(f"{where}: billing_period: {period!r} is not a month (YYYY-MM)")
    if currency and not _CURRENCY.match(currency):
        errors.append(f"{where}: currency: {currency!r} is not an ISO 4217 code such as USD")
    number = None
    if amount:
        if not _NUMBER.match(amount):
            errors.append(f"{where}: amount: {amount!r} is not a plain number (no currency symbols or separators)")
        else:
            number = float(amount)
            if not math.isfinite(number):
                errors.append(f"{where}: amount: {amount!r} is not a finite number")
    if len(errors) > bad:
        return None
    return {c: values[c] for c in COLUMNS[:-1]} | {"amount": number}


def _frame(header: Sequence[object], rows: Iterable[tuple[int, Sequence[object]]], name: str) -> pl.DataFrame:
    """Checked invoice lines from a header and (line number, values) pairs."""
    names = [_value(h).lower() for h in header]
    errors = [f"{name}:1: {c}: missing column" for c in COLUMNS if c not in names]
    errors += [f"{name}:1: {n}: unknown column (expected {', '.join(COLUMNS)})" for n in names if n not in COLUMNS]
    if errors:
        raise InvoiceError(errors)
    lines: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, values in rows:
        where = f"{name}:{number}"
        if not any(_value(v) for v in values):
            continue
        if len(values) != len(names):
            errors.append(f"{where}: expected {len(names)} fields, got {len(values)}")
            continue
        line = _line({n: _value(v) for n, v in zip(names, values, strict=True)}, where, errors)
        if line is None:
            continue
        key = (line["billing_account_id"], line["invoice_id"], line["currency"])
        if key in seen:
            errors.append(f"{where}: invoice_id: {key[1]!r} of {key[0]} in {key[2]} repeats line {seen[key]}")
        seen.setdefault(key, number)
        lines.append(line)
    if errors:
        raise InvoiceError(errors)
    return pl.DataFrame(lines, schema=SCHEMA, orient="row")


def parse(data: bytes, name: str) -> pl.DataFrame:
    """Invoice lines from the bytes of a .csv or .xlsx file; ``name`` names the file in errors."""
    if name.lower().endswith(".xlsx"):
        return _parse_xlsx(data, name)
    if not name.lower().endswith(".csv"):
        raise InvoiceError([f"{name}: unknown invoices file type (use .csv or .xlsx)"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvoiceError([f"{name}: byte {exc.start}: not UTF-8 text (save the file as UTF-8 CSV)"]) from exc
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise InvoiceError([f"{name}:1: empty file (expected a header: {', '.join(COLUMNS)})"])
    return _frame(header, ((reader.line_num, values) for values in reader), name)


def _parse_xlsx(data: bytes, name: str) -> pl.DataFrame:
    import openpyxl  # only XLSX uploads need it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a file that is not XLSX
        raise InvoiceError([f"{name}: not a readable XLSX workbook ({type(exc).__name__})"]) from exc
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if not header:
        raise InvoiceError([f"{name}:1: empty sheet {sheet.title!r} (expected a header: {', '.join(COLUMNS)})"])
    width = max((i + 1 for i, h in enumerate(header) if h is not None), default=0)
    body = ((n, tuple(r[:width]) + (None,) * (width - len(r))) for n, r in enumerate(rows, start=2))
    return _frame(header[:width], body, f"{name} (sheet {sheet.title})")


def load(path: Path) -> pl.DataFrame:
    return parse(path.read_bytes(), str(path))


def save(lines: pl.DataFrame, username: str, source: str, path: Path | None = None) -> int:
    """Store checked ``lines`` as a new invoices version; returns its number."""
    return STORE.save(lines, username, source, path)


def current(path: Path | None = None) -> pl.DataFrame | None:
    """The latest saved invoice lines, or None when none were ever saved."""
    return STORE.lines(path)


def versions(path: Path | None = None) -> pl.DataFrame:
    """Invoice file versions, newest first: version, at, username, source, lines."""
    return STORE.versions(path)


def resolve(root: Path, explicit: Path | None = None, path: Path | None = None) -> tuple[pl.DataFrame | None, str]:
    """The invoices to reconcile ``root`` against, and where they came from: ``explicit`` if
    given, else the latest saved version, else the demo's ``invoices.csv`` beside the store, else
    None (reconciliation then lists the InvoiceId values of the rows, with no totals)."""
    if explicit is not None:
        return load(explicit), str(explicit)
    saved = current(path)
    if saved is not None:
        latest = versions(path).row(0, named=True)
        return saved, f"invoices saved by {latest['username']} at {latest['at']} ({latest['source']})"
    demo = root / "demo" / "invoices.csv"
    if demo.exists():
        return load(demo), str(demo)
    return None, "no invoices file: invoice ids from the billing rows, no totals to compare"
