"""Owners of anomaly cases: the known users to choose from, and telling an owner about their case
through the digest's delivery channel (webhook or SMTP, ``reports.delivery`` settings). Every attempt
is a row in ``anomaly_notification`` (who, to whom, how, ok or the error): a failure is shown, never
silent.
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import polars as pl

from finops_core import access, state
from finops_core.reports import delivery
from finops_core.reports.delivery import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS anomaly_notification (
    id INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT NOT NULL, at TEXT NOT NULL, username TEXT NOT NULL,
    owner TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL, ok INTEGER NOT NULL, error TEXT NOT NULL
);
"""


def known_owners(users_file: Path) -> dict[str, str]:
    """Username -> 'Name <email>' of every user in the users file (the owners a case can get)."""
    if not users_file.exists():
        return {}
    _, users = access.load_users(users_file)
    return {u.username: f"{u.name} <{u.email}>" if u.email else u.name for u in users.values()}


def _text(case: dict[str, object], by: str, app_url: str) -> str:
    link = f" {app_url.rstrip('/')}/anomalies" if app_url else ""
    return (
        f"{by} made you the owner of anomaly {case['id']}: {case['kind']} in {case['key']} ({case['scope']}) from "
        f"{case['start']} to {case['end']}, impact {float(case['impact']):,.0f} {case['currency']}, status "  # type: ignore[arg-type]
        f"{case['status']}.{link}"
    )


def _send(text: str, email: str, settings: Settings) -> tuple[str, str, bool, str]:
    if settings.webhook_url.startswith(("http://", "https://")):
        data = json.dumps({"text": text}).encode()
        req = urllib.request.Request(settings.webhook_url, data, {"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=settings.timeout) as resp:
                return "webhook", settings.webhook_url, 200 <= resp.status < 300, ""
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return "webhook", settings.webhook_url, False, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    if settings.smtp_host and email:
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = "You own an anomaly case", settings.smtp_from, email
        msg.set_content(text)
        target = f"{email} via {settings.smtp_host}:{settings.smtp_port}"
        try:
            refused = delivery.send_mail(settings, msg)
            return "smtp", target, not refused, f"refused: {', '.join(refused)}" if refused else ""
        except (smtplib.SMTPException, OSError) as exc:
            return "smtp", target, False, f"{type(exc).__name__}: {exc}"
    why = "no webhook URL or SMTP host configured" if not settings.smtp_host else "the owner has no e-mail address"
    return "none", "", False, why


def notify(
    case: dict[str, object], owner: str, email: str, by: str, settings: Settings, path: Path | None = None
) -> tuple[bool, str]:
    """Tell ``owner`` about ``case`` (webhook if configured, else e-mail to ``email``); recorded.
    Returns (ok, where it went or why not)."""
    channel, target, ok, error = _send(_text(case, by, settings.app_url), email, settings)
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with state.transaction(path, SCHEMA) as con:
        con.execute(
            "INSERT INTO anomaly_notification (case_id, at, username, owner, channel, target, ok, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (str(case["id"]), at, by, owner, channel, target, int(ok), error),
        )
    return ok, target if ok else error


def notifications(case_id: str, path: Path | None = None) -> pl.DataFrame:
    """Notifications about one case, oldest first: at, username, owner, channel, target, ok, error."""
    with state.transaction(path, SCHEMA) as con:
        rows = con.execute(
            "SELECT at, username, owner, channel, target, ok, error FROM anomaly_notification WHERE case_id = ? "
            "ORDER BY id",
            (case_id,),
        ).fetchall()
    names = ["at", "username", "owner", "channel", "target", "ok", "error"]
    return pl.DataFrame(rows, schema=names, orient="row").with_columns(pl.col("ok").cast(pl.Boolean))
