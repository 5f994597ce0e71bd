"""Digest delivery: to a file, a webhook (HTTP POST of JSON) or an SMTP server. Every attempt is a
row in the state database's ``digest_delivery`` table (what, to whom, when, ok or the error), so
a failed delivery is reported, never silent, and the digest's on-time rate is computable.

Settings come from the ``[digest]`` table of ``.streamlit/secrets.toml`` and the environment (the
environment wins); names in ``ENV`` and docs/digest.md.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import polars as pl

from finops_core import state
from finops_core.reports import digest_render
from finops_core.reports.digest import Digest

FORMATS = ("md", "html", "slack")
CHANNELS = ("file", "webhook", "smtp")
SCHEMA = """
CREATE TABLE IF NOT EXISTS digest_delivery (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, scope TEXT NOT NULL, week_end TEXT NOT NULL,
    format TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL, ok INTEGER NOT NULL,
    error TEXT NOT NULL DEFAULT '', bytes INTEGER NOT NULL DEFAULT 0, username TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS digest_delivery_week ON digest_delivery (week_end);
"""
ENV = {
    "webhook_url": "FINOPS_DIGEST_WEBHOOK_URL",
    "smtp_host": "FINOPS_SMTP_HOST",
    "smtp_port": "FINOPS_SMTP_PORT",
    "smtp_user": "FINOPS_SMTP_USER",
    "smtp_password": "FINOPS_SMTP_PASSWORD",
    "smtp_from": "FINOPS_SMTP_FROM",
    "smtp_to": "FINOPS_DIGEST_TO",
    "smtp_security": "FINOPS_SMTP_SECURITY",
    "app_url": "FINOPS_APP_URL",
}
SECURITY = ("none", "starttls", "ssl")
DUE_HOURS = 12  # a week's digest is on time when delivered by noon UTC the day after the week ends


@dataclass(frozen=True)
class Settings:
    webhook_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "finops-digest@localhost"
    smtp_to: tuple[str, ...] = ()
    smtp_security: str = "none"  # none | starttls | ssl
    app_url: str = ""
    timeout: float = 15.0


def load_settings(secrets: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``secrets`` (default ``.streamlit/secrets.toml`` in the working directory), its
    ``[digest]`` table, overridden by the environment variables in ``ENV``."""
    env = os.environ if env is None else env
    path = secrets or Path(".streamlit") / "secrets.toml"
    values: dict[str, Any] = {}
    if path.exists():
        values |= tomllib.loads(path.read_text()).get("digest", {})
    values |= {name: env[var] for name, var in ENV.items() if env.get(var)}
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{path}: [digest]: unknown setting(s) {', '.join(sorted(unknown))}")
    if isinstance(values.get("smtp_to"), str):
        values["smtp_to"] = tuple(a.strip() for a in values["smtp_to"].split(",") if a.strip())
    elif "smtp_to" in values:
        values["smtp_to"] = tuple(values["smtp_to"])
    if "smtp_port" in values:
        values["smtp_port"] = int(values["smtp_port"])
    settings = Settings(**values)
    if settings.smtp_security not in SECURITY:
        raise ValueError(f"smtp_security {settings.smtp_security!r}: use one of {', '.join(SECURITY)}")
    return settings


def render(d: Digest, fmt: str, app_url: str = "") -> str:
    """The digest as text in ``fmt``: Markdown, an HTML body, or the Slack payload as JSON."""
    if fmt == "md":
        return digest_render.markdown(d, app_url)
    if fmt == "html":
        return digest_render.html_body(d, app_url)
    if fmt == "slack":
        return json.dumps(digest_render.slack(d, app_url), ensure_ascii=False)
    raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class Delivery:
    channel: str
    target: str
    ok: bool
    error: str = ""


def _record(d: Digest, fmt: str, result: Delivery, size: int, user: str, path: Path | None) -> Delivery:
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with state.transaction(path, SCHEMA) as con:
        con.execute(
            "INSERT INTO digest_delivery (at, scope, week_end, format, channel, target, ok, error, bytes, username) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                at,
                d.scope.label,
                d.week[1].isoformat(),
                fmt,
                result.channel,
                result.target,
                int(result.ok),
                result.error,
                size,
                user,
            ),
        )
    return result


def to_file(
    d: Digest, fmt: str, out: Path, settings: Settings = Settings(), user: str = "", path: Path | None = None
) -> Delivery:
    """Write the digest to ``out`` (through a temporary file, so a reader never sees half of it)."""
    text = render(d, fmt, settings.app_url)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        result = Delivery("file", str(out), True)
    except OSError as exc:
        result = Delivery("file", str(out), False, f"{type(exc).__name__}: {exc}")
    return _record(d, fmt, result, len(text.encode()), user, path)


def to_webhook(d: Digest, fmt: str, settings: Settings, user: str = "", path: Path | None = None) -> Delivery:
    """POST JSON to ``settings.webhook_url``: the Slack payload for 'slack', else {"text": ...}
    (with "html" as well for 'html'). A status outside 2xx is a failed delivery."""
    url = settings.webhook_url
    if fmt == "slack":
        body: dict[str, Any] = digest_render.slack(d, settings.app_url)
    else:
        body = {"text": digest_render.markdown(d, settings.app_url)}
        if fmt == "html":
            body["html"] = digest_render.html_body(d, settings.app_url)
    data = json.dumps(body, ensure_ascii=False).encode()
    if not url:
        return _record(
            d, fmt, Delivery("webhook", "", False, f"no webhook URL (set {ENV['webhook_url']})"), 0, user, path
        )
    if not url.startswith(("http://", "https://")):
        return _record(
            d, fmt, Delivery("webhook", url, False, "webhook URL must start with http:// or https://"), 0, user, path
        )
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout) as response:
            result = Delivery(
                "webhook",
                url,
                200 <= response.status < 300,
                f"HTTP {response.status}" if response.status >= 300 else "",
            )
    except urllib.error.HTTPError as exc:
        result = Delivery("webhook", url, False, f"HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        result = Delivery("webhook", url, False, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
    return _record(d, fmt, result, len(data), user, path)


def message(d: Digest, settings: Settings, to: tuple[str, ...]) -> EmailMessage:
    """The e-mail: the Markdown as the plain-text part, the HTML body as the alternative."""
    msg = EmailMessage()
    msg["Subject"] = d.title
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(to)
    msg.set_content(digest_render.markdown(d, settings.app_url))
    msg.add_alternative(digest_render.html_body(d, settings.app_url), subtype="html")
    return msg


def send_mail(settings: Any, msg: EmailMessage) -> dict[str, Any]:
    """Send ``msg`` through the configured SMTP server (TLS as set); the refused recipients."""
    client = smtplib.SMTP_SSL if settings.smtp_security == "ssl" else smtplib.SMTP
    with client(settings.smtp_host, settings.smtp_port, timeout=settings.timeout) as smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        return dict(smtp.send_message(msg))


def by_smtp(
    d: Digest, settings: Settings, to: tuple[str, ...] = (), user: str = "", path: Path | None = None
) -> Delivery:
    """Send the digest by SMTP to ``to`` (default ``settings.smtp_to``)."""
    to = to or settings.smtp_to
    target = f"{', '.join(to)} via {settings.smtp_host}:{settings.smtp_port}"
    if not settings.smtp_host or not to:
        missing = ENV["smtp_host"] if not settings.smtp_host else ENV["smtp_to"]
        return _record(d, "html", Delivery("smtp", target, False, f"not configured (set {missing})"), 0, user, path)
    msg = message(d, settings, to)
    try:
        refused = send_mail(settings, msg)
        result = Delivery("smtp", target, not refused, f"refused: {', '.join(refused)}" if refused else "")
    except (smtplib.SMTPException, OSError) as exc:
        result = Delivery("smtp", target, False, f"{type(exc).__name__}: {exc}")
    return _record(d, "html", result, len(msg.as_bytes()), user, path)


def deliveries(path: Path | None = None) -> pl.DataFrame:
    """Every recorded delivery, newest first."""
    with state.transaction(path, SCHEMA) as con:
        cur = con.execute("SELECT * FROM digest_delivery ORDER BY id DESC")
        names = [c[0] for c in cur.description]
        rows = cur.fetchall()
    schema = {n: (pl.Int64 if n in ("id", "ok", "bytes") else pl.String) for n in names}
    return pl.DataFrame(rows, schema=schema, orient="row")


def on_time(path: Path | None = None, scope: str | None = None, due_hours: int = DUE_HOURS) -> pl.DataFrame:
    """Per digest week (and scope): the first successful delivery and whether it came by the due
    time (``due_hours`` after the week's last day ends). One row per (scope, week_end)."""
    frame = deliveries(path)
    if scope is not None:
        frame = frame.filter(pl.col("scope") == scope)
    due = pl.col("week_end").str.to_date().cast(pl.Datetime("us", "UTC")) + pl.duration(days=1, hours=due_hours)
    at = pl.col("at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC")
    return (
        frame.group_by("scope", "week_end")
        .agg(
            at.filter(pl.col("ok") == 1).min().alias("delivered_at"),
            pl.len().alias("attempts"),
            due.first().alias("due"),
        )
        .with_columns((pl.col("delivered_at") <= pl.col("due")).fill_null(False).alias("on_time"))
        .sort("week_end", "scope")
    )
