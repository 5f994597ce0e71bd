"""Business metrics: daily volumes (requests, customers, orders, tokens ...) that costs are divided by.

A metric line: date (YYYY-MM-DD), metric (a name such as ``orders``), value (>= 0), and optionally
team and product ('' = the whole company). From a CSV or Parquet file, validated whole: a file
that breaks any rule is refused, every error naming the file, the line (CSV) or row (Parquet) and
the field. Each load is a new version in the state database (who, when, source) and an audit-log
entry; the current metrics are the latest version's lines.
"""

from __future__ import annotations

import io
import json
import math
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from finops_core import linefiles, state

COLUMNS = ("date", "metric", "value", "team", "product")
REQUIRED = ("date", "metric", "value")
KEY = ("date", "metric", "team", "product")
SCHEMA = {"date": pl.Date, "metric": pl.String, "value": pl.Float64, "team": pl.String, "product": pl.String}
DB_SCHEMA = """
CREATE TABLE IF NOT EXISTS metric_version (
    version INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, username TEXT NOT NULL,
    source TEXT NOT NULL, lines INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS metric_line (
    version INTEGER NOT NULL, day TEXT NOT NULL, metric TEXT NOT NULL, team TEXT NOT NULL,
    product TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (version, day, metric, team, product)
);
"""
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_ .-]{0,63}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_ERRORS = 20


class MetricsError(ValueError):
    """Metrics that cannot be used; ``errors`` lists every problem, each naming file, line and field."""

    def __init__(self, errors: list[str]) -> None:
        more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        super().__init__("; ".join(errors[:MAX_ERRORS]) + more)
        self.errors = errors


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _clean(raw: dict[str, Any], where: str, errors: list[str]) -> dict[str, Any] | None:
    row = {c: _text(raw.get(c)) for c in COLUMNS}
    bad = len(errors)
    for col in REQUIRED:
        if not row[col]:
            errors.append(f"{where}: {col}: required")
    day = None
    if row["date"]:
        try:
            # Parquet dates arrive as dates, CSV ones as text; both must be a plain calendar day.
            text = row["date"][:10] if isinstance(raw.get("date"), date) else row["date"]
            if not _DATE.match(text):
                raise ValueError
            day = date.fromisoformat(text)
        except ValueError:
            errors.append(f"{where}: date: {row['date']!r} is not a date (YYYY-MM-DD)")
    if row["metric"] and not _NAME.match(row["metric"]):
        errors.append(f"{where}: metric: {row['metric']!r} is not a name (a letter, then letters, digits, _ . - space)")
    value = None
    if row["value"]:
        try:
            value = float(row["value"])
        except ValueError:
            errors.append(f"{where}: value: {row['value']!r} is not a number (no thousands separators or units)")
        else:
            if not math.isfinite(value):
                errors.append(f"{where}: value: {row['value']!r} is not a finite number")
            elif value < 0:
                errors.append(f"{where}: value: {value:g} is negative")
    if len(errors) > bad:
        return None
    return row | {"date": day, "value": value}


def _check_columns(names: list[str], where: str, errors: list[str]) -> list[str]:
    return linefiles.check_columns(names, where, errors, COLUMNS, REQUIRED)


def _finish(rows: list[tuple[str, dict[str, Any] | None]], errors: list[str]) -> pl.DataFrame:
    linefiles.report_duplicates(rows, KEY, errors)
    if errors:
        raise MetricsError(errors)
    if not rows:
        raise MetricsError(["no metric lines"])
    frame = pl.DataFrame([r for _, r in rows if r is not None], schema=SCHEMA, orient="row")
    return frame.sort("metric", "product", "team", "date")


def parse_csv(text: str, name: str = "metrics.csv") -> pl.DataFrame:
    """Metric lines from CSV text (a header row, then one line per value); ``name`` names the file in errors."""
    errors: list[str] = []
    rows = linefiles.csv_rows(text, name, COLUMNS, _check_columns, errors)
    if rows is None:
        raise MetricsError(errors)
    return _finish([(where, _clean(values, where, errors)) for where, values in rows], errors)


def parse_parquet(data: bytes, name: str = "metrics.parquet") -> pl.DataFrame:
    """Metric lines from Parquet bytes; errors name the row (counted from 1)."""
    try:
        raw = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several types for a file that is not Parquet
        raise MetricsError([f"{name}: not a Parquet file: {exc}"]) from exc
    errors: list[str] = []
    columns = _check_columns(list(raw.columns), name, errors)
    if errors:
        raise MetricsError(errors)
    renamed = raw.rename(dict(zip(raw.columns, columns, strict=True)))
    rows = [
        (f"{name}: row {i + 1}", _clean(r, f"{name}: row {i + 1}", errors))
        for i, r in enumerate(renamed.iter_rows(named=True))
    ]
    return _finish(rows, errors)


def parse_upload(data: bytes, name: str) -> pl.DataFrame:
    """Metric lines from an uploaded or read file, by its extension (.csv or .parquet)."""
    if name.lower().endswith(".parquet"):
        return parse_parquet(data, name)
    if name.lower().endswith(".csv"):
        return parse_csv(data.decode("utf-8-sig"), name)
    raise MetricsError([f"{name}: unknown metrics file type (use .csv or .parquet)"])


def load(path: Path) -> pl.DataFrame:
    """Metric lines from a .csv or .parquet file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MetricsError([f"{path}: cannot read: {exc.strerror}"]) from exc
    return parse_upload(data, str(path))


def save(lines: pl.DataFrame, username: str, source: str, path: Path | None = None) -> int:
    """Store ``lines`` (already validated) as a new metrics version; returns its number."""
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with state.transaction(path, DB_SCHEMA) as con:
        cur = con.execute(
            "INSERT INTO metric_version (at, username, source, lines) VALUES (?, ?, ?, ?)",
            (at, username, source, lines.height),
        )
        version = int(cur.lastrowid or 0)
        con.executemany(
            "INSERT INTO metric_line VALUES (?, ?, ?, ?, ?, ?)",
            [
                (version, r["date"].isoformat(), r["metric"], r["team"], r["product"], r["value"])
                for r in lines.iter_rows(named=True)
            ],
        )
        detail = {"version": version, "source": source, "lines": lines.height, "metrics": metric_names(lines)}
        con.execute(
            "INSERT INTO audit_log (at, username, action, detail) VALUES (?, ?, 'metrics_load', ?)",
            (at, username, json.dumps(detail, sort_keys=True)),
        )
    return version


def current(path: Path | None = None, version: int | None = None) -> pl.DataFrame:
    """The metric lines of ``version`` (default: the latest). One row per (date, metric, team, product)."""
    with state.transaction(path, DB_SCHEMA) as con:
        if version is None:
            row = con.execute("SELECT max(version) FROM metric_version").fetchone()
            version = row[0] if row else None
        rows = con.execute(
            "SELECT day, metric, value, team, product FROM metric_line WHERE version = ? "
            "ORDER BY metric, product, team, day",
            (version,),
        ).fetchall()
    frame = pl.DataFrame(rows, schema=SCHEMA | {"date": pl.String}, orient="row")
    return frame.with_columns(pl.col("date").str.to_date())


def versions(path: Path | None = None) -> pl.DataFrame:
    """Metrics versions, newest first: version, at, username, source, lines."""
    with state.transaction(path, DB_SCHEMA) as con:
        rows = con.execute(
            "SELECT version, at, username, source, lines FROM metric_version ORDER BY version DESC"
        ).fetchall()
    schema = {"version": pl.Int64, "at": pl.String, "username": pl.String, "source": pl.String, "lines": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def metric_names(lines: pl.DataFrame) -> list[str]:
    return sorted(lines["metric"].unique().to_list())


def summary(lines: pl.DataFrame) -> pl.DataFrame:
    """One row per (metric, team, product): first and last date, days, total value."""
    return (
        lines.group_by("metric", "team", "product")
        .agg(
            pl.col("date").min().alias("first"),
            pl.col("date").max().alias("last"),
            pl.len().alias("days"),
            pl.col("value").sum().alias("total"),
        )
        .sort("metric", "product", "team")
    )
