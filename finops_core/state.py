"""The app's state database: SQLite in WAL mode, safe for several processes at once.

Holds what people create in the app (audit log now; backlog, triage, budgets and rule edits
later). Tables are created on first connect.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from finops_core.access import state_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,              -- UTC, ISO 8601
    username TEXT NOT NULL,        -- who (or the name typed at a failed login)
    action TEXT NOT NULL,          -- login, login_failed, logout, download, ingest, user_change, ...
    detail TEXT NOT NULL DEFAULT '{}'  -- JSON object
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
"""


def db_path() -> Path:
    return state_dir() / "state.sqlite"


def connect(path: Path | None = None) -> sqlite3.Connection:
    target = path or db_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(target, timeout=10, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA busy_timeout=10000")
    con.executescript(SCHEMA)
    return con


@contextlib.contextmanager
def transaction(path: Path | None = None, schema: str = "") -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE, so concurrent writers queue instead of failing
    late); commits on success, rolls back on any error."""
    con = connect(path)
    try:
        if schema:
            con.executescript(schema)
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()


def record(
    action: str,
    username: str,
    detail: dict[str, Any] | None = None,
    path: Path | None = None,
    now: datetime | None = None,
) -> None:
    """Append one audit event (one transaction), at ``now`` (default: the clock)."""
    con = connect(path)
    try:
        con.execute(
            "INSERT INTO audit_log (at, username, action, detail) VALUES (?, ?, ?, ?)",
            (
                (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                username,
                action,
                json.dumps(detail or {}, sort_keys=True, default=str),
            ),
        )
    finally:
        con.close()


def audit_log(
    path: Path | None = None, action: str | None = None, username: str | None = None, limit: int = 10_000
) -> pl.DataFrame:
    """Audit events, newest first. One row per event: id, at, username, action, detail."""
    con = connect(path)
    try:
        sql = "SELECT id, at, username, action, detail FROM audit_log WHERE 1=1"
        params: list[Any] = []
        if action:
            sql += " AND action = ?"
            params.append(action)
        if username:
            sql += " AND username = ?"
            params.append(username)
        rows = con.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]).fetchall()
    finally:
        con.close()
    schema = {"id": pl.Int64, "at": pl.String, "username": pl.String, "action": pl.String, "detail": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def audit_actions(path: Path | None = None) -> list[str]:
    """The actions the audit log holds, alphabetically (what the Audit page offers to filter on)."""
    con = connect(path)
    try:
        return [r[0] for r in con.execute("SELECT DISTINCT action FROM audit_log ORDER BY 1").fetchall()]
    finally:
        con.close()


def last_logout(username: str, path: Path | None = None) -> datetime | None:
    """When ``username`` last logged out (UTC), or None. Sessions issued before it are revoked."""
    con = connect(path)
    try:
        row = con.execute(
            "SELECT max(at) FROM audit_log WHERE action = 'logout' AND username = ?", (username,)
        ).fetchone()
    finally:
        con.close()
    if not row or row[0] is None:
        return None
    return datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class VersionedLines:
    """A set of validated lines (budgets, invoices) saved whole as numbered versions: who, when,
    from which source; each save is one transaction with its audit-log entry."""

    name: str  # table prefix: <name>_version, <name>_line
    schema: dict[str, Any]  # the lines' columns in order -> Polars dtype
    key: tuple[str, ...]  # primary key within a version
    action: str  # audit-log action of a save
    order: tuple[str, ...] = ()  # how lines are listed (default: the key)

    def ddl(self) -> str:
        cols = ", ".join(f"{c} {'REAL' if t == pl.Float64 else 'TEXT'} NOT NULL" for c, t in self.schema.items())
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name}_version (version INTEGER PRIMARY KEY AUTOINCREMENT, "
            "at TEXT NOT NULL, username TEXT NOT NULL, source TEXT NOT NULL, lines INTEGER NOT NULL);"
            f"CREATE TABLE IF NOT EXISTS {self.name}_line (version INTEGER NOT NULL, {cols}, "
            f"PRIMARY KEY (version, {', '.join(self.key)}));"
        )

    def save(
        self,
        lines: pl.DataFrame,
        username: str,
        source: str,
        path: Path | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Store ``lines`` (already validated) as a new version; returns its number."""
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with transaction(path, self.ddl()) as con:
            cur = con.execute(
                f"INSERT INTO {self.name}_version (at, username, source, lines) VALUES (?, ?, ?, ?)",
                (at, username, source, lines.height),
            )
            version = int(cur.lastrowid or 0)
            marks = ", ".join("?" * (len(self.schema) + 1))
            con.executemany(
                f"INSERT INTO {self.name}_line VALUES ({marks})",
                [(version, *(r[c] for c in self.schema)) for r in lines.iter_rows(named=True)],
            )
            about = {"version": version, "source": source, "lines": lines.height} | (detail or {})
            con.execute(
                "INSERT INTO audit_log (at, username, action, detail) VALUES (?, ?, ?, ?)",
                (at, username, self.action, json.dumps(about, sort_keys=True)),
            )
        return version

    def lines(self, path: Path | None = None, version: int | None = None) -> pl.DataFrame | None:
        """The lines of ``version`` (default: the latest), ordered by their key; None when none was saved."""
        with transaction(path, self.ddl()) as con:
            if version is None:
                row = con.execute(f"SELECT max(version) FROM {self.name}_version").fetchone()
                version = row[0] if row else None
            if version is None:
                return None
            rows = con.execute(
                f"SELECT {', '.join(self.schema)} FROM {self.name}_line WHERE version = ? ORDER BY {', '.join(self.order or self.key)}",
                (version,),
            ).fetchall()
        return pl.DataFrame(rows, schema=self.schema, orient="row")

    def versions(self, path: Path | None = None) -> pl.DataFrame:
        """Versions, newest first: version, at, username, source, lines."""
        with transaction(path, self.ddl()) as con:
            rows = con.execute(
                f"SELECT version, at, username, source, lines FROM {self.name}_version ORDER BY version DESC"
            ).fetchall()
        schema = {"version": pl.Int64, "at": pl.String, "username": pl.String, "source": pl.String, "lines": pl.Int64}
        return pl.DataFrame(rows, schema=schema, orient="row")
