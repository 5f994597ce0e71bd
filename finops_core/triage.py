"""Anomaly triage in the state database: status, owner, root cause, history, MTTA and MTTR.

Workflow: New -> Acknowledged -> Investigating -> Resolved | Expected | False positive (an
anomaly may also be closed as Expected or False positive straight from New or Acknowledged).
Every change is a row in ``anomaly_history`` and in the audit log. Changes use optimistic
locking: a writer names the version it saw and is refused if someone changed the case since.
Labelling an anomaly Expected or False positive suppresses later detections of the same kind in
the same scope whose impact is no more than twice the labelled one.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from finops_core import state

STATUSES = ("New", "Acknowledged", "Investigating", "Resolved", "Expected", "False positive")
CLOSED = ("Resolved", "Expected", "False positive")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "New": ("Acknowledged", "Expected", "False positive"),
    "Acknowledged": ("Investigating", "Resolved", "Expected", "False positive"),
    "Investigating": ("Resolved", "Expected", "False positive"),
    "Resolved": ("Investigating",),
    "Expected": ("Investigating",),
    "False positive": ("Investigating",),
}
SUPPRESS_FACTOR = 2.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS anomaly_case (
    id TEXT PRIMARY KEY, scope TEXT NOT NULL, key TEXT NOT NULL, currency TEXT NOT NULL, kind TEXT NOT NULL,
    start TEXT NOT NULL, "end" TEXT NOT NULL, impact REAL NOT NULL, team TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '',
    backlog_item TEXT NOT NULL DEFAULT '', detected_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS anomaly_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT NOT NULL, at TEXT NOT NULL, username TEXT NOT NULL,
    from_status TEXT, to_status TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS anomaly_history_case ON anomaly_history (case_id);
"""


class TriageError(ValueError):
    """A change that cannot be made (bad transition, or the case changed since it was read)."""


class StaleVersion(TriageError):
    """A change from a version that someone else has changed since (optimistic locking)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _connect(path: Path | None) -> sqlite3.Connection:
    con = state.connect(path)
    con.executescript(SCHEMA)
    return con


def sync(
    detected: pl.DataFrame, owners: dict[str, str] | None = None, path: Path | None = None, now: str | None = None
) -> int:
    """Record newly detected anomalies as cases (status New, or Expected when a label suppresses
    them); known ones keep their triage state but get the latest end date and impact.
    Returns the number of new cases."""
    owners = owners or {}
    created = 0
    with state.transaction(path, SCHEMA) as con:
        labelled = con.execute(
            "SELECT scope, key, kind, max(impact) FROM anomaly_case WHERE status IN ('Expected', 'False positive') "
            "GROUP BY 1, 2, 3"
        ).fetchall()
        suppress = {(s, k, kind): imp for s, k, kind, imp in labelled}
        for row in detected.iter_rows(named=True):
            team = row.get("x_Team") or ""
            existing = con.execute("SELECT id FROM anomaly_case WHERE id = ?", (row["id"],)).fetchone()
            if existing:
                con.execute(
                    'UPDATE anomaly_case SET "end" = ?, impact = ? WHERE id = ?',
                    (str(row["end"]), float(row["impact"]), row["id"]),
                )
                continue
            limit = suppress.get((row["scope"], row["key"], row["kind"]))
            status = "Expected" if limit is not None and row["impact"] <= SUPPRESS_FACTOR * limit else "New"
            at = now or _now()
            con.execute(
                'INSERT INTO anomaly_case (id, scope, key, currency, kind, start, "end", impact, team, status, owner, '
                "detected_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    row["scope"],
                    row["key"],
                    row["BillingCurrency"],
                    row["kind"],
                    str(row["start"]),
                    str(row["end"]),
                    float(row["impact"]),
                    team,
                    status,
                    owners.get(team, ""),
                    at,
                    at,
                ),
            )
            con.execute(
                "INSERT INTO anomaly_history (case_id, at, username, from_status, to_status, note) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    at,
                    "detector",
                    None,
                    status,
                    "suppressed by an earlier Expected/False positive label" if status == "Expected" else "",
                ),
            )
            created += 1
    return created


def cases(path: Path | None = None) -> pl.DataFrame:
    """Every case, newest first."""
    con = _connect(path)
    try:
        cur = con.execute("SELECT * FROM anomaly_case ORDER BY start DESC, impact DESC")
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def history(case_id: str, path: Path | None = None) -> pl.DataFrame:
    con = _connect(path)
    try:
        rows = con.execute(
            "SELECT at, username, from_status, to_status, owner, note FROM anomaly_history "
            "WHERE case_id = ? ORDER BY id",
            (case_id,),
        ).fetchall()
    finally:
        con.close()
    names = ["at", "username", "from_status", "to_status", "owner", "note"]
    return pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")


def update(
    case_id: str,
    version: int,
    username: str,
    status: str | None = None,
    owner: str | None = None,
    note: str | None = None,
    backlog_item: str | None = None,
    path: Path | None = None,
    now: str | None = None,
) -> int:
    """Change a case as ``username`` who read it at ``version``; returns the new version."""
    with state.transaction(path, SCHEMA) as con:
        row = con.execute(
            "SELECT status, owner, note, backlog_item, version FROM anomaly_case WHERE id = ?", (case_id,)
        ).fetchone()
        if row is None:
            raise TriageError(f"anomaly {case_id}: no such case")
        current, cur_owner, cur_note, cur_item, cur_version = row
        if cur_version != version:
            raise StaleVersion(
                f"anomaly {case_id} was changed by someone else since you opened it "
                f"(version {cur_version}, you had {version}): reload and try again"
            )
        new_status = status or current
        if new_status != current and new_status not in TRANSITIONS[current]:
            raise TriageError(
                f"anomaly {case_id}: cannot go from {current} to {new_status}; "
                f"allowed: {', '.join(TRANSITIONS[current])}"
            )
        at = now or _now()
        values = (
            new_status,
            owner if owner is not None else cur_owner,
            note if note is not None else cur_note,
            backlog_item if backlog_item is not None else cur_item,
        )
        con.execute(
            "UPDATE anomaly_case SET status = ?, owner = ?, note = ?, backlog_item = ?, updated_at = ?, "
            "version = version + 1 WHERE id = ?",
            (*values, at, case_id),
        )
        con.execute(
            "INSERT INTO anomaly_history (case_id, at, username, from_status, to_status, owner, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (case_id, at, username, current, new_status, values[1], note or ""),
        )
        con.execute(
            "INSERT INTO audit_log (at, username, action, detail) VALUES (?, ?, 'anomaly_change', ?)",
            (
                at,
                username,
                json.dumps({"case": case_id, "from": current, "to": new_status, "owner": values[1]}, sort_keys=True),
            ),
        )
    return version + 1


def response_times(path: Path | None = None) -> pl.DataFrame:
    """MTTA and MTTR in hours by team and month of the anomaly's start.

    Both are counted from the anomaly's start (the detected first day, 00:00 UTC), not from when the
    app first saw it: a spike found a week late has a week of response time already. Time to
    acknowledge: start to the first move out of New. Time to resolve: start to the first move into
    Resolved, Expected or False positive (by a person, not the detector's suppression).
    One row per (team, month): cases, acknowledged, resolved, mtta_hours, mttr_hours.
    """
    con = _connect(path)
    try:
        rows = con.execute(
            "SELECT c.id, c.team, c.start, "
            "min(h.at) FILTER (WHERE h.from_status = 'New' AND h.username <> 'detector'), "
            "min(h.at) FILTER (WHERE h.to_status IN ('Resolved', 'Expected', 'False positive') "
            "AND h.username <> 'detector') "
            "FROM anomaly_case c LEFT JOIN anomaly_history h ON h.case_id = c.id GROUP BY 1, 2, 3"
        ).fetchall()
    finally:
        con.close()
    frame = pl.DataFrame(
        rows, schema=dict.fromkeys(["id", "team", "start", "acked_at", "resolved_at"], pl.String), orient="row"
    )
    ts = {c: pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC") for c in ("acked_at", "resolved_at")}
    hours = 3600.0
    return (
        frame.with_columns(**ts, start=pl.col("start").str.to_date().cast(pl.Datetime("us", "UTC")))
        .with_columns(
            pl.col("start").dt.strftime("%Y-%m").alias("month"),
            ((pl.col("acked_at") - pl.col("start")).dt.total_seconds() / hours).alias("tta"),
            ((pl.col("resolved_at") - pl.col("start")).dt.total_seconds() / hours).alias("ttr"),
        )
        .group_by("team", "month")
        .agg(
            pl.len().alias("cases"),
            pl.col("tta").count().alias("acknowledged"),
            pl.col("ttr").count().alias("resolved"),
            pl.col("tta").mean().alias("mtta_hours"),
            pl.col("ttr").mean().alias("mttr_hours"),
        )
        .sort("month", "team", descending=[True, False])
    )


def summary(frame: pl.DataFrame) -> dict[str, Any]:
    """Open cases and their impact, for tiles."""
    open_cases = frame.filter(~pl.col("status").is_in(list(CLOSED))) if frame.height else frame
    return {
        "open": open_cases.height,
        "open_impact": float(open_cases["impact"].sum()) if open_cases.height else 0.0,
        "new": int((frame["status"] == "New").sum()) if frame.height else 0,
    }
