"""The shared machinery of every ingest source: reading a file, SQL helpers that parse and check
provider values, and the error type that names file, row and field.

A source maps provider columns to FOCUS columns as DuckDB SQL expressions built with ``Mapper``.
Each parse helper also records a check (a SQL condition that is true on a bad value). The fast
path folds every check into one CASE that raises ``error()`` inside the streaming COPY; only when
that fires does a slower, single-threaded pass number the rows to say which row was bad.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from finops_core.rollups import quote_path

MAX_FIELD = 1 << 26


class IngestError(Exception):
    """Input refused; the message names the file and, where known, the row and the field."""


@dataclass(frozen=True)
class Check:
    field: str  # provider column (or FOCUS column for output checks)
    bad: str  # SQL condition, true when the row is bad
    value: str  # SQL expression shown in the message
    reason: str


def origin(m: Mapper, columns: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """FOCUS column -> the input's spelling of the source column it is read from (those present)."""
    found = {focus: m.name(*candidates) for focus, candidates in columns.items()}
    return {focus: name for focus, name in found.items() if name is not None}


def where(row: int, line: int | None = None) -> str:
    """A data row (1 = the first below the header) as a spreadsheet shows it, and its file line."""
    return f"row {row + 1}" + (f" (file line {line})" if line is not None else "")


@dataclass(frozen=True)
class InputFile:
    """One file to read: its path, format and columns (name -> DuckDB type)."""

    path: Path
    fmt: str  # "csv", "parquet" or "json"
    columns: dict[str, str]

    def relation(self, row_numbers: bool = False) -> str:
        """A FROM-able SQL expression over the file (``__row`` numbers data rows from 1 if asked)."""
        p = quote_path(self.path)
        if self.fmt == "parquet":
            base = f"read_parquet({p}{', file_row_number = true' if row_numbers else ''})"
            return f"(SELECT *, file_row_number + 1 AS __row FROM {base})" if row_numbers else base
        if self.fmt == "json":
            base = f"read_json({p}, format = 'newline_delimited', columns = {_struct(self.columns)})"
        else:
            base = (
                f"read_csv({p}, header = true, delim = ',', quote = '\"', escape = '\"', strict_mode = true, "
                f"auto_detect = false, nullstr = ['', 'NULL', 'null'], columns = {_struct(self.columns)})"
            )
        return f"(SELECT row_number() OVER () AS __row, * FROM {base})" if row_numbers else base

    def odd_line_end(self) -> str | None:
        """Where the file's line ends stop being one kind (CR CR LF, a stray CR), as 'row R (file
        line L): what', or None. DuckDB's strict reader only says its state machine failed."""
        if self.fmt != "csv":
            return None
        opener = gzip.open if self.path.name.lower().endswith(".gz") else open
        first_kind, record, quoted = None, 0, False
        with opener(self.path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                line = raw.rstrip(b"\n")
                body = line[:-1] if line.endswith(b"\r") else line
                kind = "CR LF" if line.endswith(b"\r") else "LF"
                if not quoted and (b"\r" in body or (first_kind and raw.endswith(b"\n") and kind != first_kind)):
                    what = (
                        "a line ending CR CR LF"
                        if body.endswith(b"\r")
                        else (
                            "a carriage return (CR) inside the line"
                            if b"\r" in body
                            else f"a line ending {kind} in a file whose lines end {first_kind}"
                        )
                    )
                    at = "row 1 (header)" if record == 0 else where(record, number)
                    return f"{at}: {what}; DuckDB's strict CSV reader needs one kind of line end (save it with LF or CR LF)"
                first_kind = first_kind or kind
                quoted ^= line.count(b'"') % 2 == 1
                record += 0 if quoted else 1
        return None

    def lines(self, rows: list[int]) -> list[int | None]:
        """The file line each data row starts on (a quoted field may span lines); None for Parquet."""
        if self.fmt == "parquet" or not rows:
            return [None] * len(rows)
        if self.fmt == "json":
            return list(rows)
        want, found = set(rows), {}
        opener = gzip.open if self.path.name.lower().endswith(".gz") else open
        # fields as long as DuckDB's reader takes (a Tags JSON may be megabytes; Python's default is 128 KB)
        csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD))
        with opener(self.path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
            reader = csv.reader(fh)
            end = 0
            try:
                for i, _ in enumerate(reader):
                    if i in want:
                        found[i] = end + 1
                        if len(found) == len(want):
                            break
                    end = reader.line_num
            except (csv.Error, OSError, EOFError, zlib.error):
                pass  # rows past a broken spot keep no file line; the message still names the row
        return [found.get(r) for r in rows]


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in columns.items()) + "}"


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_header(path: Path) -> list[str]:
    """Column names of a CSV (plain or gzip, with or without a BOM); refuses a duplicate name."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as raw:
            first = raw.readline(1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"{path}: cannot read the header: {exc}") from exc
    if first.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in first:
        raise IngestError(
            f"{path}: row 1 (header): the file is UTF-16 or binary, not UTF-8 text; "
            "export or save it again as CSV in UTF-8"
        )
    text = first.decode("utf-8-sig", errors="replace")
    try:
        names = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as exc:
        raise IngestError(f"{path}: row 1 (header): not a CSV header: {exc}") from exc
    if not names or all(not n.strip() for n in names):
        raise IngestError(f"{path}: row 1 (header): the file is empty or has no header")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise IngestError(f"{path}: row 1 (header): column {n!r} appears twice")
        seen.add(n)
    return names


def describe(con: duckdb.DuckDBPyConnection, path: Path) -> InputFile:
    """Open ``path`` and list its columns; a truncated or unreadable file is refused here."""
    name = path.name.lower()
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    if name.endswith(".parquet"):
        fmt, rel = "parquet", f"read_parquet({quote_path(path)})"
    elif name.endswith((".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz")):
        fmt, rel = "json", f"read_json({quote_path(path)}, format = 'newline_delimited')"
    else:
        cols = {n: "VARCHAR" for n in read_header(path)}
        return InputFile(path, "csv", cols)
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    except duckdb.Error as exc:
        raise IngestError(f"{path}: not a readable {fmt} file: {first_line(exc)}") from exc
    return InputFile(path, fmt, {r[0]: r[1] for r in rows})


def first_line(exc: BaseException) -> str:
    """DuckDB's error message, shortened; CSV shape errors become 'line N: expected X columns, found Y'."""
    text = str(exc).strip()
    shape = re.search(r"CSV Error on Line: (\d+).*?Expected Number of Columns: (\d+) Found: (\d+)", text, re.S)
    if shape:
        line, want, got = shape.groups()
        return f"line {line}: expected {want} columns, found {got} (a shifted or broken row)"
    other = re.match(r"(?:Invalid Input Error: )?CSV Error on Line: (\d+)\n(?:Original Line:.*?\n)?(.*)", text, re.S)
    if other:
        reasons = [r.strip() for r in other[2].split("\n\nPossible fixes")[0].split("\n") if r.strip()]
        reason = reasons[-1] if reasons else "unreadable"
        if "unterminated quote" in reason:
            reason = "a quoted value is never closed (a truncated or broken file?)"
        return f"line {other[1]}: {reason}"
    for prefix in ("Invalid Input Error: ", "IO Error: ", "Conversion Error: "):
        text = text.removeprefix(prefix)
    return text.split("\n\nLINE")[0].replace("\nPossible fixes:", "").split("\n*")[0].strip()


@dataclass
class Mapper:
    """SQL expressions over one input's columns, collecting the checks their parsing needs.

    Each provider column is parsed once, as a column of an inner projection (``wrap``), and the
    mapping refers to it by name; ``let`` does the same for a derived value used in many places.
    Without this, DuckDB evaluates a value once per reference, and the references are many.
    """

    file: InputFile
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the output should say that is not a problem
    origin: dict[str, str] = field(default_factory=dict)  # FOCUS column -> the source column it is read from
    stages: tuple[dict[str, str], dict[str, str]] = field(default_factory=lambda: ({}, {}))

    def __post_init__(self) -> None:
        self._lower = {k.lower(): k for k in self.file.columns}
        self._keys: dict[tuple[str, ...], str] = {}

    def _column(self, stage: int, key: tuple[str, ...], expr: str, check: Check | None = None) -> str:
        name = self._keys.get(key)
        if name is None:
            name = self._keys[key] = f"__v{len(self._keys)}"
            self.stages[stage][name] = expr
            if check is not None:
                self.checks.append(check)
        return ident(name)

    def wrap(self, relation: str) -> str:
        """``relation`` plus the parsed (stage 0) and derived (stage 1) columns."""
        for stage in self.stages:
            if stage:
                cols = ", ".join(f"{e} AS {ident(n)}" for n, e in stage.items())
                relation = f"(SELECT *, {cols} FROM {relation})"
        return relation

    def let(self, key: str, expr: str) -> str:
        """A derived value (over parsed columns) computed once per row."""
        return self._column(1, ("let", key), expr)

    def name(self, *candidates: str) -> str | None:
        """The file's spelling of the first candidate column present (case-insensitive)."""
        for c in candidates:
            if c in self.file.columns:
                return c
            if c.lower() in self._lower:
                return self._lower[c.lower()]
        return None

    def has(self, *candidates: str) -> bool:
        return self.name(*candidates) is not None

    def col(self, *candidates: str) -> str:
        """The raw column (first candidate present), or NULL."""
        n = self.name(*candidates)
        return ident(n) if n else "NULL"

    def text(self, *candidates: str) -> str:
        """A string column with empty strings and literal NULL/null as null."""
        n = self.name(*candidates)
        if n is None:
            return "CAST(NULL AS VARCHAR)"
        c = ident(n)
        if self.file.columns[n] != "VARCHAR":
            return self._column(0, ("t", n), f"CAST({c} AS VARCHAR)")
        if self.file.fmt == "csv":
            return c  # the CSV reader already turns '', NULL and null into null
        return self._column(0, ("t", n), f"CASE WHEN trim({c}) IN ('', 'NULL', 'null') THEN NULL ELSE {c} END")

    def num(self, *candidates: str) -> str:
        """A decimal column; anything that is not a plain finite number is refused."""
        n = self.name(*candidates)
        if n is None:
            return "CAST(NULL AS DOUBLE)"
        c = ident(n)
        if self.file.columns[n] != "VARCHAR":
            return self._column(0, ("n", n), f"CAST({c} AS DOUBLE)")
        t = self.text(n)
        v = ident(self._keys.get(("n", n), f"__v{len(self._keys)}"))
        check = Check(
            n,
            # DuckDB's cast also takes spaces, '+' and '_'; FOCUS NumericFormat does not
            f"{t} IS NOT NULL AND (NOT coalesce(isfinite({v}), false) OR regexp_matches({c}, '[^-0-9.eE]'))",
            c,
            "is not a number (FOCUS NumericFormat: digits, '.', '-', E-notation)",
        )
        return self._column(0, ("n", n), f"TRY_CAST({c} AS DOUBLE)", check)

    def ts(self, *candidates: str, us_date: bool = False) -> str:
        """A UTC timestamp: ISO 8601 (``Z`` or an offset), or ``MM/DD/YYYY`` when ``us_date``."""
        n = self.name(*candidates)
        if n is None:
            return "CAST(NULL AS TIMESTAMPTZ)"
        c = ident(n)
        kind = self.file.columns[n]
        if kind.startswith("TIMESTAMP WITH"):
            return c
        if kind in ("TIMESTAMP", "DATE"):
            return self._column(0, ("ts", n), f"CAST({c} AS TIMESTAMPTZ)")
        t = self.text(n)
        iso = f"CASE WHEN substr({c}, 5, 1) = '-' THEN TRY_CAST({c} AS TIMESTAMPTZ) END"
        if us_date:
            parsed = f"coalesce(CAST(try_strptime({c}, '%m/%d/%Y') AS TIMESTAMPTZ), {iso})"
            reason = "is not a date (MM/DD/YYYY or YYYY-MM-DD)"
        else:
            parsed = iso  # the substr test stops DuckDB reading '11/1/25' as the year 11
            reason = "is not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SSZ)"
        v = ident(self._keys.get(("ts", n), f"__v{len(self._keys)}"))
        check = Check(n, f"{t} IS NOT NULL AND {v} IS NULL", c, reason)
        return self._column(0, ("ts", n), parsed, check)

    def require(
        self, focus_column: str, expr: str, reason: str = "has no value (empty or NULL) but FOCUS requires one"
    ) -> None:
        """Refuse rows whose mapped value for a non-nullable column is null."""
        self.checks.append(Check(focus_column, f"({expr}) IS NULL", "NULL", reason))

    def allowed(self, focus_column: str, expr: str, values: tuple[str, ...], raw: str) -> None:
        """Refuse rows whose mapped value is not one of ``values`` (null passes)."""
        listed = ", ".join(sql_str(v) for v in values)
        self.checks.append(
            Check(focus_column, f"({expr}) IS NOT NULL AND ({expr}) NOT IN ({listed})", raw, f"is not one of {values}")
        )
