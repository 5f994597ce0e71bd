"""Reading a validated line file (budgets, business metrics): the CSV part they share.

Every error names the file, the line and, where one is at fault, the field.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any

CheckColumns = Callable[[list[str], str, list[str]], list[str]]


def csv_rows(
    text: str, name: str, expected: Sequence[str], check_columns: CheckColumns, errors: list[str]
) -> Iterator[tuple[str, dict[str, str]]] | None:
    """(where, values by column) per non-blank data line of CSV ``text``, lazily, so a caller's own
    checks report in line order with these; None when the header is missing or ``check_columns``
    refused it (its errors are in ``errors``). A line with the wrong number of fields is reported in
    ``errors`` and left out."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if not header:
        errors.append(f"{name}:1: empty file (expected a header: {', '.join(expected)})")
        return None
    columns = check_columns(header, f"{name}:1", errors)
    if errors:
        return None

    def lines() -> Iterator[tuple[str, dict[str, str]]]:
        for values in reader:
            where = f"{name}:{reader.line_num}"
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                errors.append(f"{where}: expected {len(columns)} fields, got {len(values)}")
                continue
            yield where, dict(zip(columns, values, strict=True))

    return lines()


def check_columns(
    names: list[str],
    where: str,
    errors: list[str],
    columns: Sequence[str],
    required: Sequence[str],
    aliases: dict[str, str] | None = None,
) -> list[str]:
    """The header's names as canonical columns (lower case, ``aliases`` applied); unknown and
    missing required columns are reported in ``errors``."""
    canonical = [(aliases or {}).get(n.strip().lower(), n.strip().lower()) for n in names]
    for name, canon in zip(names, canonical, strict=True):
        if canon not in columns:
            errors.append(f"{where}: {name}: unknown column (expected {', '.join(columns)})")
    for col in required:
        if col not in canonical:
            errors.append(f"{where}: {col}: missing column")
    return canonical


def report_duplicates(rows: list[tuple[str, dict[str, Any] | None]], key: Sequence[str], errors: list[str]) -> None:
    """A line whose ``key`` repeats an earlier line's is reported with both places."""
    seen: dict[tuple[Any, ...], str] = {}
    for where, row in rows:
        if row is None:
            continue
        k = tuple(row[c] for c in key)
        if k in seen:
            errors.append(f"{where}: {'/'.join(key)}: duplicate of {seen[k]}")
        seen.setdefault(k, where)
