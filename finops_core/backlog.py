"""The optimization backlog in the state database: items, workflow, comments, history, CSV.

Workflow: Proposed -> Approved -> In progress -> Implemented -> Validated, and Rejected / Won't do
from any open state. Changes use optimistic locking (a writer names the version it read) and are
recorded in ``backlog_history`` and the audit log. An item's scope is a sub account and a service
(and optionally resource ids), which ``savings.measure`` reads realized savings from; its
``currency`` (ISO 4217) is the currency of its estimate. Readers pass the caller's ``Scope``: a
viewer sees the items of their teams and sub accounts only.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from finops_core import state
from finops_core.query import ALL, Scope

CATEGORIES = (
    "rightsizing",
    "idle/orphaned",
    "storage lifecycle",
    "data transfer",
    "commitment",
    "licensing",
    "architecture",
    "other",
)
STATUSES = ("Proposed", "Approved", "In progress", "Implemented", "Validated", "Rejected", "Won't do")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "Proposed": ("Approved", "Rejected", "Won't do"),
    "Approved": ("In progress", "Rejected", "Won't do"),
    "In progress": ("Implemented", "Won't do"),
    "Implemented": ("Validated", "In progress"),
    "Validated": ("Implemented",),
    "Rejected": ("Proposed",),
    "Won't do": ("Proposed",),
}
FIELDS = (
    "title",
    "category",
    "team",
    "sub_account_name",
    "service_name",
    "resource_ids",
    "owner",
    "estimated_monthly_saving",
    "currency",
    "method_note",
    "effort",
    "risk",
    "status",
    "implemented_on",
    "ticket_url",
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS backlog_item (
    item_id TEXT PRIMARY KEY, title TEXT NOT NULL, category TEXT NOT NULL, team TEXT NOT NULL DEFAULT '',
    sub_account_name TEXT NOT NULL DEFAULT '', service_name TEXT NOT NULL DEFAULT '',
    resource_ids TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT '',
    estimated_monthly_saving REAL NOT NULL DEFAULT 0, method_note TEXT NOT NULL DEFAULT '',
    effort TEXT NOT NULL DEFAULT '', risk TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
    implemented_on TEXT NOT NULL DEFAULT '', ticket_url TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 1,
    currency TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS backlog_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL, at TEXT NOT NULL, username TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS backlog_comment (
    id INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL, at TEXT NOT NULL, username TEXT NOT NULL,
    text TEXT NOT NULL
);
"""


def _migrate(con: Any) -> None:
    """Bring an older state database up to SCHEMA: items made before items carried a currency get
    '' (savings then read it from the scope's billing rows, and an edit must set it)."""
    cols = {row[1] for row in con.execute("PRAGMA table_info(backlog_item)").fetchall()}
    if "currency" not in cols:
        con.execute("ALTER TABLE backlog_item ADD COLUMN currency TEXT NOT NULL DEFAULT ''")


def _open(con: Any) -> None:
    con.executescript(SCHEMA)
    _migrate(con)


class BacklogError(ValueError):
    """An item or change that is not valid; the message names the item, row or field."""


class StaleVersion(BacklogError):
    """A change from a version that someone else has changed since (optimistic locking)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def validate(item: dict[str, Any], where: str = "") -> dict[str, Any]:
    """A cleaned copy of an item, or BacklogError naming ``where`` and the field."""
    out = {f: ("" if item.get(f) is None else item.get(f)) for f in FIELDS}
    prefix = f"{where}: " if where else ""
    if not str(out["title"]).strip():
        raise BacklogError(f"{prefix}title: required")
    if out["category"] not in CATEGORIES:
        raise BacklogError(f"{prefix}category: {out['category']!r} is not one of {', '.join(CATEGORIES)}")
    if out["status"] not in STATUSES:
        raise BacklogError(f"{prefix}status: {out['status']!r} is not one of {', '.join(STATUSES)}")
    try:
        estimate = float(out["estimated_monthly_saving"] or 0)
    except (TypeError, ValueError) as exc:
        raise BacklogError(
            f"{prefix}estimated_monthly_saving: {out['estimated_monthly_saving']!r} is not a number"
        ) from exc
    out["estimated_monthly_saving"] = estimate
    currency = str(out["currency"]).strip().upper()
    out["currency"] = currency
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise BacklogError(
            f"{prefix}currency: {out['currency']!r} is not a currency code (three letters, e.g. USD); "
            "the estimate is in this currency"
        )
    if estimate < 0:
        raise BacklogError(f"{prefix}estimated_monthly_saving: must not be negative")
    if out["implemented_on"]:
        try:
            out["implemented_on"] = date.fromisoformat(str(out["implemented_on"])).isoformat()
        except ValueError as exc:
            raise BacklogError(f"{prefix}implemented_on: {out['implemented_on']!r} is not a date (YYYY-MM-DD)") from exc
    if out["status"] in ("Implemented", "Validated") and not out["implemented_on"]:
        raise BacklogError(f"{prefix}implemented_on: required once an item is {out['status']}")
    return out


def create(item_id: str, item: dict[str, Any], username: str, path: Path | None = None) -> None:
    clean = validate(item, f"item {item_id}")
    at = _now()
    with state.transaction(path, SCHEMA) as con:
        _migrate(con)
        if con.execute("SELECT 1 FROM backlog_item WHERE item_id = ?", (item_id,)).fetchone():
            raise BacklogError(f"item {item_id}: already exists")
        cols = ", ".join(FIELDS)
        con.execute(
            f"INSERT INTO backlog_item (item_id, {cols}, created_at, updated_at) "
            f"VALUES (?, {', '.join('?' for _ in FIELDS)}, ?, ?)",
            (item_id, *[clean[f] for f in FIELDS], at, at),
        )
        _history(con, item_id, at, username, {"created": clean})


def _history(con: Any, item_id: str, at: str, username: str, changes: dict[str, Any]) -> None:
    text = json.dumps(changes, sort_keys=True, default=str)
    con.execute(
        "INSERT INTO backlog_history (item_id, at, username, changes) VALUES (?, ?, ?, ?)",
        (item_id, at, username, text),
    )
    con.execute(
        "INSERT INTO audit_log (at, username, action, detail) VALUES (?, ?, 'backlog_change', ?)",
        (at, username, json.dumps({"item": item_id, **changes}, sort_keys=True, default=str)),
    )


def update(item_id: str, version: int, username: str, changes: dict[str, Any], path: Path | None = None) -> int:
    """Apply ``changes`` as ``username`` who read the item at ``version``; returns the new version."""
    with state.transaction(path, SCHEMA) as con:
        _migrate(con)
        cur = con.execute(f"SELECT {', '.join(FIELDS)}, version FROM backlog_item WHERE item_id = ?", (item_id,))
        row = cur.fetchone()
        if row is None:
            raise BacklogError(f"item {item_id}: no such item")
        current = dict(zip(FIELDS, row[:-1], strict=True))
        if row[-1] != version:
            raise StaleVersion(
                f"item {item_id} was changed by someone else since you opened it (version {row[-1]}, "
                f"you had {version}): reload to see their change, then try again"
            )
        new_status = changes.get("status", current["status"])
        if new_status != current["status"] and new_status not in TRANSITIONS[current["status"]]:
            raise BacklogError(
                f"item {item_id}: cannot go from {current['status']} to {new_status}; "
                f"allowed: {', '.join(TRANSITIONS[current['status']])}"
            )
        clean = validate(current | changes, f"item {item_id}")
        diff = {f: [current[f], clean[f]] for f in FIELDS if current[f] != clean[f]}
        if not diff:
            return version
        at = _now()
        sets = ", ".join(f"{f} = ?" for f in diff)
        con.execute(
            f"UPDATE backlog_item SET {sets}, updated_at = ?, version = version + 1 WHERE item_id = ?",
            (*[clean[f] for f in diff], at, item_id),
        )
        _history(con, item_id, at, username, diff)
    return version + 1


def comment(item_id: str, username: str, text: str, path: Path | None = None) -> None:
    if not text.strip():
        raise BacklogError("comment: empty")
    with state.transaction(path, SCHEMA) as con:
        _migrate(con)
        con.execute(
            "INSERT INTO backlog_comment (item_id, at, username, text) VALUES (?, ?, ?, ?)",
            (item_id, _now(), username, text.strip()),
        )


def _frame(path: Path | None, sql: str, params: tuple[Any, ...] = ()) -> pl.DataFrame:
    con = state.connect(path)
    try:
        _open(con)
        cur = con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return pl.DataFrame(cur.fetchall(), schema=names, orient="row", infer_schema_length=None)
    finally:
        con.close()


def visible(frame: pl.DataFrame, scope: Scope, sub_account_ids: dict[str, str] | None = None) -> pl.DataFrame:
    """The items of ``frame`` a caller with ``scope`` may see: those of their teams, or whose sub
    account (its id looked up in ``sub_account_ids``, name -> id) they may see."""
    if scope.is_all or frame.is_empty():
        return frame
    keep = pl.lit(False)
    if scope.teams is not None:
        keep = keep | pl.col("team").is_in(list(scope.teams))
    if scope.sub_accounts is not None:
        ids = pl.col("sub_account_name").replace_strict(sub_account_ids or {}, default=None, return_dtype=pl.String)
        keep = keep | ids.is_in(list(scope.sub_accounts)).fill_null(False)
    return frame.filter(keep)


def items(
    path: Path | None = None, *, scope: Scope = ALL, sub_account_ids: dict[str, str] | None = None
) -> pl.DataFrame:
    """Every item the caller's ``scope`` may see, newest first."""
    frame = _frame(path, "SELECT * FROM backlog_item ORDER BY created_at DESC, item_id")
    return visible(frame, scope, sub_account_ids)


def _check_visible(item_id: str, path: Path | None, scope: Scope, sub_account_ids: dict[str, str] | None) -> None:
    if not scope.is_all and item_id not in items(path, scope=scope, sub_account_ids=sub_account_ids)["item_id"]:
        raise BacklogError(f"item {item_id}: not in your scope")


def history(
    item_id: str, path: Path | None = None, *, scope: Scope = ALL, sub_account_ids: dict[str, str] | None = None
) -> pl.DataFrame:
    _check_visible(item_id, path, scope, sub_account_ids)
    return _frame(path, "SELECT at, username, changes FROM backlog_history WHERE item_id = ? ORDER BY id", (item_id,))


def comments(
    item_id: str, path: Path | None = None, *, scope: Scope = ALL, sub_account_ids: dict[str, str] | None = None
) -> pl.DataFrame:
    _check_visible(item_id, path, scope, sub_account_ids)
    return _frame(path, "SELECT at, username, text FROM backlog_comment WHERE item_id = ? ORDER BY id", (item_id,))


OPEN = ("Proposed", "Approved", "In progress")


def open_items(frame: pl.DataFrame) -> pl.DataFrame:
    """The items still to do: neither implemented (Implemented, Validated) nor dismissed (Rejected, Won't do)."""
    return frame.filter(pl.col("status").is_in(list(OPEN)))


def import_csv(
    text: str,
    username: str,
    path: Path | None = None,
    source: str = "CSV",
    check: Callable[[dict[str, Any], str], None] | None = None,
) -> int:
    """Add the items of a CSV (columns item_id + FIELDS); all or nothing, errors name the row.
    ``check(item, where)`` may refuse an item (BacklogError) before anything is added."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "item_id" not in rows[0]:
        raise BacklogError(f"{source}: needs a header with item_id and {', '.join(FIELDS[:3])}, ...")
    cleaned = []
    for n, row in enumerate(rows, start=2):
        if not (row.get("item_id") or "").strip():
            raise BacklogError(f"{source} row {n}: item_id: required")
        cleaned.append((row["item_id"].strip(), validate(row, f"{source} row {n}")))
        if check is not None:
            check(cleaned[-1][1], f"{source} row {n}")
    existing = set(items(path)["item_id"].to_list()) if items(path).height else set()
    added = 0
    for item_id, item in cleaned:
        if item_id not in existing:
            create(item_id, item, username, path)
            added += 1
    return added


def export_csv(path: Path | None = None) -> str:
    frame = items(path)
    return frame.select("item_id", *FIELDS).write_csv() if frame.height else ",".join(("item_id", *FIELDS)) + "\n"


def throughput(
    path: Path | None = None, *, scope: Scope = ALL, sub_account_ids: dict[str, str] | None = None
) -> pl.DataFrame:
    """Items the caller may see moved to Validated per month (from the history). One row per
    month: month, validated."""
    hist = _frame(path, "SELECT item_id, at, changes FROM backlog_history ORDER BY id")
    seen = set(items(path, scope=scope, sub_account_ids=sub_account_ids)["item_id"].to_list())
    moved = [
        at[:7]
        for item_id, at, changes in hist.iter_rows()
        if item_id in seen and json.loads(changes).get("status", [None, None])[-1] == "Validated"
    ]
    if not moved:
        return pl.DataFrame(schema={"month": pl.String, "validated": pl.UInt32})
    return pl.DataFrame({"month": moved}).group_by("month").agg(pl.len().alias("validated")).sort("month")
