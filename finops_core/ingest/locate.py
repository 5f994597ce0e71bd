"""Where a refused row is: the first bad row of an input, named as every message names it.

The streaming COPY only knows that some check fired; a second, single-threaded pass numbers the
rows and finds the first bad one. Rows are counted as a spreadsheet shows them (the header is
row 1) with the file line they start on; a column is named with its source or FOCUS counterpart.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import duckdb

from finops_core.ingest.core import Check, InputFile, Mapper, where
from finops_core.ingest.rules import WARN_EMPTY
from finops_core.schema import FOCUS_COLUMNS

if TYPE_CHECKING:
    from finops_core.ingest.pipeline import Plan

# FOCUS's non-nullable Mandatory columns that decide a total: refused when empty (the others warn)
REQUIRED_OUT = tuple(
    c.name for c in FOCUS_COLUMNS if not c.nullable and c.level.value == "Mandatory" and c.name not in WARN_EMPTY
)
EMPTY = "has no value (empty or NULL) but FOCUS requires one"


def output_checks(exprs: dict[str, str]) -> list[Check]:
    """Null checks on the mapped values of FOCUS's non-nullable Mandatory columns (slow path)."""
    return [Check(n, f"({exprs.get(n, 'NULL')}) IS NULL", "NULL", EMPTY) for n in REQUIRED_OUT]


def diagnose(
    con: duckdb.DuckDBPyConnection, plan: Plan, mapper: Mapper, checks: list[Check]
) -> tuple[str, Check] | None:
    """The first bad row as 'file: row N (file line L): column X (source column S): value reason'."""
    if not checks:
        return None
    which = " ".join(f"WHEN {c.bad} THEN {i}" for i, c in enumerate(checks))
    values = " ".join(f"WHEN {c.bad} THEN CAST({c.value} AS VARCHAR)" for c in checks)
    rel = plan.mapped(mapper, row_numbers=True)
    sql = (
        f"SELECT __row, CASE {which} END AS k, CASE {values} END FROM {rel} AS src "
        f"WHERE CASE {which} END IS NOT NULL ORDER BY __row LIMIT 1"
    )
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    try:
        found = con.execute(sql).fetchone()
    except duckdb.Error:
        return None
    finally:
        con.execute("RESET threads")
    if found is None:
        return None
    row, k, value = found
    c = checks[int(k)]
    shown = "" if value is None else repr(value) + " "  # a null check's reason says "has no value"
    (line,) = plan.files[0].lines([int(row)])
    return f"{plan.files[0].path}: {where(int(row), line)}: column {column_name(mapper, c.field)}: {shown}{c.reason}", c


def column_name(mapper: Mapper, name: str) -> str:
    """A column as the message names it: the FOCUS column with the source's, or the reverse."""
    source = mapper.origin.get(name)
    if source and source != name:
        return f"{name} (source column {source})"
    focus = [f for f, s in mapper.origin.items() if s == name and f != name]
    return name + (f" (FOCUS {', '.join(focus)})" if focus else "")


def with_row(f: InputFile, message: str) -> str:
    """A CSV shape error as 'row R (file line L): ...', as every message counts. DuckDB's "Line"
    counts records (the header is 1), so a quoted field over several lines makes L larger."""
    shape = re.match(r"line (\d+): (.*)", message, re.S)
    if shape is None or f.fmt != "csv":
        return message
    row = int(shape[1]) - 1
    if row == 0:
        return f"row 1 (header): {shape[2]}"
    (line,) = f.lines([row])
    return f"{where(row, line)}: {shape[2]}"
