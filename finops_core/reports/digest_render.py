"""The weekly digest as Markdown, as an HTML e-mail body and as a Slack Block Kit payload (which
Microsoft Teams' Slack-compatible incoming webhooks and most chat tools also accept: a ``text``
fallback plus ``blocks``). All three hold the same sections and figures."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

import polars as pl

from finops_core.reports.digest import TOP_ANOMALIES, Digest
from finops_core.schema import C, label

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def money(value: float | None, currency: str) -> str:
    if value is None:
        return "–"
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{abs(value):,.0f}" if symbol else f"{sign}{currency} {abs(value):,.0f}"


def signed(value: float, currency: str) -> str:
    return ("+" if value >= 0.5 else "") + money(value, currency)


def pct(value: float | None, signed_: bool = True) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.1f}%" if signed_ else f"{value * 100:.0f}%"


def _day(value: date | None) -> str:
    """'28 Nov 2026': a digest is read and forwarded long after its week, so dates carry the year."""
    return "–" if value is None else f"{value.day} {value:%b %Y}"


def sections(d: Digest) -> list[tuple[str, list[str], list[list[str]]]]:
    """(heading, header row, rows of cells) per section, in order; an empty section has one row
    saying so. Every renderer formats these, so the three forms always agree."""
    out: list[tuple[str, list[str], list[list[str]]]] = []
    totals = [
        [
            r[C.BillingCurrency],
            money(r["current"], r[C.BillingCurrency]),
            money(r["previous"], r[C.BillingCurrency]),
            signed(r["delta"], r[C.BillingCurrency]),
            pct(r["delta_pct"]),
        ]
        for r in d.totals.iter_rows(named=True)
    ]
    out.append(
        (
            f"Spend, {_day(d.week[0])} to {_day(d.week[1])} vs {_day(d.previous[0])} to {_day(d.previous[1])}",
            ["currency", "last 7 days", "7 days before", "change", "change %"],
            totals,
        )
    )
    movers = [
        [
            label(r["dimension"]),
            r["value"],
            signed(r["delta"], r[C.BillingCurrency]),
            money(r["current"], r[C.BillingCurrency]),
            money(r["previous"], r[C.BillingCurrency]),
        ]
        for r in d.movers.filter(pl.col("delta").abs() >= 0.5).iter_rows(named=True)
    ]
    out.append(("Top movers", ["by", "value", "change", "last 7 days", "7 days before"], movers))
    new = int(d.anomalies["is_new"].sum())
    anomalies = [
        [
            ("NEW " if r["is_new"] else "") + r["key"],
            r["kind"],
            f"{_day(r['start'])} to {_day(r['end'])}",
            money(r["impact"], r["currency"]),
            r["status"],
            r["owner"] or "unassigned",
        ]
        for r in d.anomalies.head(TOP_ANOMALIES).iter_rows(named=True)
    ]
    more = f", the {TOP_ANOMALIES} most recent shown" if d.anomalies.height > TOP_ANOMALIES else ""
    out.append(
        (
            f"Anomalies: {new} new this week, {d.anomalies.height} new or open{more}",
            ["scope", "kind", "days", "impact", "status", "owner"],
            anomalies,
        )
    )
    budget_rows = [
        [
            r["line"],
            money(r["budget"], r["currency"]),
            money(r["mtd"], r["currency"]),
            pct(r["burn"], False),
            money(r["projected"], r["currency"]),
            money(r["overrun"], r["currency"]) if r["overrun"] > 0 else "none",
            _day(r["overrun_on"]),
        ]
        for r in d.budgets.iter_rows(named=True)
    ]
    out.append(
        (
            "Budgets this month (projection at the current run rate)",
            ["budget line", "budget", "month to date", "burn", "projected", "projected overrun", "over on"],
            budget_rows,
        )
    )
    commitment_rows = [
        [
            r["commitment"],
            r["currency"],
            _day(r["term_end"]),
            "–" if r["utilization"] is None else pct(r["utilization"], False),
            r["flags"],
        ]
        for r in d.commitments.iter_rows(named=True)
    ]
    out.append(
        ("Commitments needing action", ["commitment", "currency", "term end", "utilization", "why"], commitment_rows)
    )
    backlog_rows = [[r["status"], str(r["items"])] for r in d.backlog.iter_rows(named=True)]
    backlog_rows += [
        [f"implemented this week: {r['title']}", r["team"] or "–"] for r in d.implemented.iter_rows(named=True)
    ]
    if d.backlog.height:
        backlog_rows.append(["validated this month", str(d.validated_this_month)])
    out.append(("Optimization backlog", ["status", "items"], backlog_rows))
    saving_rows = [
        [
            r["currency"],
            str(r["items"]),
            money(r["estimated"], r["currency"]),
            money(r["realized"], r["currency"]),
            "–" if r["realization"] is None else pct(r["realization"], False),
        ]
        for r in d.savings.iter_rows(named=True)
    ]
    out.append(
        (
            "Savings realized (implemented items, per month)",
            ["currency", "items", "estimated", "realized", "realization"],
            saving_rows,
        )
    )
    return out


EMPTY = "nothing to report"


def markdown(d: Digest, app_url: str = "") -> str:
    lines = [f"# {d.title}", ""]
    for heading, header, rows in sections(d):
        lines += [f"## {heading}", ""]
        if not rows:
            lines += [f"_{EMPTY}_", ""]
            continue
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        lines.append("")
    if app_url:
        lines.append(f"Open the app: {app_url}")
    return "\n".join(lines).rstrip() + "\n"


def html_body(d: Digest, app_url: str = "") -> str:
    """A self-contained HTML e-mail body (inline styles only: mail clients drop style sheets)."""
    cell = 'style="padding:4px 8px;border-bottom:1px solid #ddd;text-align:left"'
    parts = [f'<div style="font-family:sans-serif;font-size:14px"><h2>{html.escape(d.title)}</h2>']
    for heading, header, rows in sections(d):
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        if not rows:
            parts.append(f"<p><em>{EMPTY}</em></p>")
            continue
        head = "".join(f"<th {cell}>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td {cell}>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        parts.append(f'<table style="border-collapse:collapse"><tr>{head}</tr>{body}</table>')
    if app_url:
        parts.append(f'<p><a href="{html.escape(app_url, quote=True)}">Open the app</a></p>')
    parts.append("</div>")
    return "".join(parts)


def slack(d: Digest, app_url: str = "") -> dict[str, Any]:
    """A Slack Block Kit message: a header, then one section per part with its rows as lines."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": d.title[:150]}}]
    for heading, header, rows in sections(d):
        text = "\n".join("• " + " · ".join(row) for row in rows) if rows else f"_{EMPTY}_"
        body = f"*{heading}*\n_{' · '.join(header)}_\n{text}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}})
    if app_url:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{app_url}|Open the app>"}]})
    return {"text": d.title, "blocks": blocks}
