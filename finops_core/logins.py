"""Failed sign-ins, rate-limited per username typed, from the audit log.

``FAILURES`` failed sign-ins for one username within ``WINDOW`` (since that username last signed
in) lock it until the window of the first of them ends. The lock is by the name typed, whether or
not such a user exists, so the message tells nothing about who has an account. Every failure
(``login_failed``), every lock that starts (``login_locked``) and every attempt refused while
locked (``login_refused_locked``) is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from finops_core import state

FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCKED_MESSAGE = "Too many failed sign-ins for this username. Try again after {until:%H:%M} UTC."


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _recent_failures(username: str, now: datetime, path: Path | None) -> list[datetime]:
    """This username's failures within the window before ``now``, since its last sign-in, oldest first."""
    since = (now - WINDOW).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    con = state.connect(path)
    try:
        rows = con.execute(
            "SELECT at, action FROM audit_log WHERE username = ? AND action IN ('login', 'login_failed') "
            "AND at >= ? ORDER BY at, id",
            (username, since),
        ).fetchall()
    finally:
        con.close()
    failures: list[datetime] = []
    for at, action in rows:
        failures = [] if action == "login" else [*failures, _at(at)]
    return [f for f in failures if f <= now]


def locked_until(username: str, now: datetime | None = None, path: Path | None = None) -> datetime | None:
    """When the lock on ``username`` ends, or None if it may try to sign in now."""
    now = now or datetime.now(UTC)
    failures = _recent_failures(username, now, path)
    if len(failures) < FAILURES:
        return None
    until = failures[-FAILURES] + WINDOW
    return until if until > now else None


def record_failure(username: str, now: datetime | None = None, path: Path | None = None) -> datetime | None:
    """Audit a failed sign-in for ``username``; returns when its lock ends if this failure locks it."""
    now = now or datetime.now(UTC)
    state.record("login_failed", username, path=path, now=now)
    until = locked_until(username, now, path)
    if until is not None:
        state.record("login_locked", username, {"until": until.isoformat(), "failures": FAILURES}, path, now=now)
    return until


def refuse_locked(username: str, until: datetime, path: Path | None = None) -> str:
    """Audit an attempt while ``username`` is locked; the message to show (the same for any name)."""
    state.record("login_refused_locked", username, {"until": until.isoformat()}, path)
    return LOCKED_MESSAGE.format(until=until)
