"""Saved views: a user's named Spend selections (the page's URL parameters), in the state database.

A view stores only parameters (period, filters, grouping, drill path), never data: opening one
runs the request again under the opener's own scope, so a link to another team's view shows the
opener only what they may see. One row per (owner, name); saving a name again replaces it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from finops_core import state

SCHEMA = """
CREATE TABLE IF NOT EXISTS saved_view (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    params TEXT NOT NULL,          -- JSON object: URL key -> list of values
    saved_at TEXT NOT NULL,        -- UTC, ISO 8601
    UNIQUE (owner, name)
);
"""
MAX_NAME = 80
KEY = re.compile(r"^[a-z_]{1,20}$")


class SavedViewError(ValueError):
    """A view that cannot be saved or opened; the message names the field."""


def _clean(params: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for key, values in params.items():
        if not KEY.match(key):
            raise SavedViewError(f"params: {key!r} is not a view parameter")
        out[key] = [str(v) for v in values]
    return out


def save(owner: str, name: str, params: dict[str, list[str]], path: Path | None = None) -> int:
    """Store ``params`` as ``owner``'s view ``name`` (replacing one of that name); its id."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise SavedViewError(f"name: give 1 to {MAX_NAME} characters")
    body = json.dumps(_clean(params), sort_keys=True)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with state.transaction(path, SCHEMA) as con:
        con.execute(
            "INSERT INTO saved_view (owner, name, params, saved_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (owner, name) DO UPDATE SET params = excluded.params, saved_at = excluded.saved_at",
            (owner, name, body, now),
        )
        row = con.execute("SELECT id FROM saved_view WHERE owner = ? AND name = ?", (owner, name)).fetchone()
    state.record("saved_view", owner, {"name": name, "id": row[0]}, path)
    return int(row[0])


def views(owner: str, path: Path | None = None) -> list[tuple[int, str, str]]:
    """``owner``'s views: (id, name, saved_at), by name."""
    con = state.connect(path)
    try:
        con.executescript(SCHEMA)
        rows = con.execute(
            "SELECT id, name, saved_at FROM saved_view WHERE owner = ? ORDER BY lower(name)", (owner,)
        ).fetchall()
    finally:
        con.close()
    return [(int(i), str(n), str(t)) for i, n, t in rows]


def load(view_id: int, path: Path | None = None) -> tuple[str, str, dict[str, list[str]]]:
    """(owner, name, params) of a view by id (any user may open a shared link to it)."""
    con = state.connect(path)
    try:
        con.executescript(SCHEMA)
        row = con.execute("SELECT owner, name, params FROM saved_view WHERE id = ?", (view_id,)).fetchone()
    finally:
        con.close()
    if row is None:
        raise SavedViewError(f"view: no saved view {view_id}")
    return str(row[0]), str(row[1]), _clean(json.loads(row[2]))


def delete(owner: str, view_id: int, path: Path | None = None) -> None:
    """Remove ``owner``'s view ``view_id`` (another user's view is left alone)."""
    with state.transaction(path, SCHEMA) as con:
        con.execute("DELETE FROM saved_view WHERE id = ? AND owner = ?", (view_id, owner))
