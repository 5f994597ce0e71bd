"""Sync runs and the files they have seen, in the state database (``state.py``).

``sync_run``: one row per source per sync: started, finished, status (running, ok, refused,
failed, interrupted), files seen / ingested / skipped / refused, the error, the data version it
published. ``sync_file``: per source and file path, the fingerprint (size + ETag or mtime) and the
sha256 last ingested, so an unchanged file is recognised without downloading it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from finops_core import state

SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_run (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    url TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL,
    seen INTEGER NOT NULL DEFAULT 0,
    ingested INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    data_version TEXT,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS sync_run_source ON sync_run (source, started);
CREATE TABLE IF NOT EXISTS sync_file (
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (source, path)
);
"""
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def now() -> str:
    return datetime.now(UTC).strftime(STAMP)


@dataclass
class Outcome:
    """What one sync did for one source."""

    source: str
    url: str
    seen: int = 0
    ingested: int = 0
    skipped: int = 0
    refused: list[str] = field(default_factory=list)  # one message per refused delivery, with its location
    error: str = ""  # the source could not be listed or read at all
    data_version: str | None = None

    @property
    def status(self) -> str:
        return "failed" if self.error else "refused" if self.refused else "ok"


def start(source: str, url: str, pid: int, path: Path | None = None) -> int:
    with state.transaction(path, SCHEMA) as con:
        cur = con.execute(
            "INSERT INTO sync_run (source, url, started, status, pid) VALUES (?, ?, ?, 'running', ?)",
            (source, url, now(), pid),
        )
        return int(cur.lastrowid or 0)


def finish(run: int, o: Outcome, path: Path | None = None) -> None:
    error = o.error or "\n".join(o.refused)
    with state.transaction(path, SCHEMA) as con:
        con.execute(
            "UPDATE sync_run SET finished = ?, status = ?, seen = ?, ingested = ?, skipped = ?, refused = ?, "
            "error = ?, data_version = ? WHERE id = ?",
            (now(), o.status, o.seen, o.ingested, o.skipped, len(o.refused), error, o.data_version, run),
        )
        con.execute(
            "INSERT INTO audit_log (at, username, action, detail) VALUES (?, 'sync', 'sync', ?)",
            (now(), json.dumps({"source": o.source, "status": o.status, "ingested": o.ingested, "run": run})),
        )


def interrupt_stale(path: Path | None = None) -> int:
    """Mark runs left 'running' by a killed sync (called while holding the sync lock); returns how many."""
    with state.transaction(path, SCHEMA) as con:
        cur = con.execute(
            "UPDATE sync_run SET status = 'interrupted', finished = ?, "
            "error = 'the sync process ended before finishing (killed?); nothing it staged was published' "
            "WHERE status = 'running'",
            (now(),),
        )
        return cur.rowcount


def known(source: str, path: Path | None = None) -> dict[str, tuple[str, str]]:
    """File path -> (fingerprint, sha256) last ingested from ``source``."""
    with state.transaction(path, SCHEMA) as con:
        rows = con.execute("SELECT path, fingerprint, sha256 FROM sync_file WHERE source = ?", (source,)).fetchall()
    return {p: (f, s) for p, f, s in rows}


def remember(source: str, files: list[tuple[str, str, str]], path: Path | None = None) -> None:
    """Record (path, fingerprint, sha256) of files now in the store."""
    with state.transaction(path, SCHEMA) as con:
        con.executemany(
            "INSERT OR REPLACE INTO sync_file (source, path, fingerprint, sha256, at) VALUES (?, ?, ?, ?, ?)",
            [(source, p, f, s, now()) for p, f, s in files],
        )


RUN_SCHEMA = {
    "id": pl.Int64,
    "source": pl.String,
    "url": pl.String,
    "started": pl.String,
    "finished": pl.String,
    "status": pl.String,
    "seen": pl.Int64,
    "ingested": pl.Int64,
    "skipped": pl.Int64,
    "refused": pl.Int64,
    "error": pl.String,
    "data_version": pl.String,
}


def runs(path: Path | None = None, limit: int = 50) -> pl.DataFrame:
    """Sync runs, newest first: one row per source and sync."""
    with state.transaction(path, SCHEMA) as con:
        rows = con.execute(
            f"SELECT {', '.join(RUN_SCHEMA)} FROM sync_run ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
    return pl.DataFrame(rows, schema=RUN_SCHEMA, orient="row")


def latest(path: Path | None = None) -> pl.DataFrame:
    """Per source: its last run (status, finished, error) and when it last synced without failing.
    One row per source."""
    with state.transaction(path, SCHEMA) as con:
        rows = con.execute(
            "SELECT r.source, r.started, r.finished, r.status, r.error, "
            "(SELECT max(finished) FROM sync_run o WHERE o.source = r.source AND o.status IN ('ok', 'refused')) "
            "FROM sync_run r WHERE r.id = (SELECT max(id) FROM sync_run x WHERE x.source = r.source) ORDER BY 1"
        ).fetchall()
    schema = ["source", "started", "finished", "status", "error", "last_success"]
    return pl.DataFrame(rows, schema={c: pl.String for c in schema}, orient="row")


def last_start(source: str, path: Path | None = None) -> datetime | None:
    """When ``source`` last started a sync (naive UTC), for the worker's schedule."""
    with state.transaction(path, SCHEMA) as con:
        row = con.execute("SELECT max(started) FROM sync_run WHERE source = ?", (source,)).fetchone()
    return datetime.strptime(row[0], STAMP) if row and row[0] else None
