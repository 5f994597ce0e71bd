"""Reading a validated line file (budgets, business metrics): the CSV part they share.

Every error names the file, the line and, where one is at fault, the field.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence

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
