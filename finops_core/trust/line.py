"""The trust line: one sentence on every page saying how complete, fresh and reconciled the data is.

e.g. "Complete through 29 Nov for AWS, Google Cloud and Microsoft · November still open ·
October ties to invoices within 0.00 % · July: Acme Google Cloud +1,250.00 USD unexplained".

Its status is the worst of its parts (ok, info, warning, error). A viewer's line speaks only of
the billing accounts their rows are in, and says nothing of invoices (they cover whole accounts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import cast

import duckdb
import polars as pl

from finops_core import store
from finops_core.query import Scope
from finops_core.trust import quality, reconcile


@dataclass(frozen=True)
class TrustLine:
    parts: tuple[tuple[str, str], ...]  # (sentence part, its status)

    @property
    def text(self) -> str:
        return " · ".join(p for p, _ in self.parts)

    @property
    def status(self) -> str:
        return max((s for _, s in self.parts), key=quality.SEVERITY_ORDER.__getitem__, default="ok")


def _day(d: date) -> str:
    return f"{d.day} {d:%b}"


def _month(period: str) -> str:
    return f"{date.fromisoformat(period + '-01'):%B %Y}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def coverage_part(days: pl.DataFrame, as_of: date) -> tuple[str, str]:
    """ "Complete through <day> for <providers>", or which provider lags or has gaps."""
    if days.height == 0:
        return "No billing data in scope", "warning"
    gaps = quality.completeness(days)
    if gaps.status != "ok":
        return f"Incomplete: {gaps.detail}", gaps.status
    per = days.group_by("provider").agg(pl.col("last_day").min()).sort("provider")
    fresh = quality.freshness(days, as_of)
    by_day: dict[date, list[str]] = {}
    for r in per.iter_rows(named=True):
        by_day.setdefault(r["last_day"], []).append(r["provider"])
    text = ", ".join(f"{_and(names)} through {_day(d)}" for d, names in sorted(by_day.items(), reverse=True))
    if len(by_day) == 1:
        ((d, names),) = by_day.items()
        text = f"Complete through {_day(d)} for {_and(names)}"
    if fresh.status != "ok":
        text += f" ({int(cast(int, fresh.samples['age'].max()))} days behind)"
    return text, fresh.status


def reconciliation_parts(table: pl.DataFrame) -> list[tuple[str, str]]:
    """The latest closed month's tie-out, then every closed month with an unexplained variance."""
    closed = table.filter(pl.col("invoice").is_not_null() & (pl.col("status") != "month still open"))
    if closed.height == 0:
        return [("no closed month with invoices to reconcile", "info")]
    latest = closed["billing_period"].max()
    month = closed.filter(pl.col("billing_period") == latest)
    worst_pct = cast(
        float,
        month.group_by("currency")
        .agg((pl.col("variance").abs().sum() / pl.col("invoice").abs().sum()).alias("pct"))["pct"]
        .max(),
    )
    parts = []
    bad = closed.filter(pl.col("status").is_in(["off", "rows without invoice", "invoice without rows"]))
    if latest not in set(bad["billing_period"].to_list()):
        parts.append((f"{_month(str(latest))} ties to invoices within {float(worst_pct or 0):.2%}", "ok"))
    for r in bad.sort("billing_period", descending=True).head(3).iter_rows(named=True):
        who = r["billing_account_name"] or r["billing_account_id"]
        if r["status"] == "off" and abs(r["unexplained"] or 0) > 0:
            parts.append(
                (
                    f"{_month(r['billing_period'])}: {who} {r['unexplained']:+,.2f} {r['currency']} unexplained",
                    "warning",
                )
            )
        elif r["status"] != "off":
            parts.append((f"{_month(r['billing_period'])}: {who} {r['status']}", "warning"))
    if bad.height > 3:
        parts.append((f"and {bad.height - 3} more off", "warning"))
    return parts


def trust_line(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    scope: Scope,
    invoices: pl.DataFrame | None,
    as_of: date | None = None,
    sync: tuple[str, str] | None = None,
) -> TrustLine:
    """The trust line for ``scope`` on the current version of ``root``; ``sync`` is the export
    sync's part (``sync_status.sync_part``), if any source syncs."""
    today = as_of or date.today()
    days = quality.account_days(con, scope)
    parts = [coverage_part(days, today)] + ([sync] if sync else [])
    periods = sorted(store.manifest(root).get("partitions", {}))
    last = days["last_day"].max() if days.height else None
    if periods and reconcile._open(periods[-1], last if isinstance(last, date) else None, today):
        parts.append((f"{_month(periods[-1])} still open", "info"))
    if scope.is_all and invoices is None:
        parts.append(("no invoices to reconcile against (upload them on the Data quality page)", "info"))
    elif scope.is_all:
        parts += reconciliation_parts(reconcile.reconciliation(con, invoices, scope, reconcile.Settings(as_of=today)))
    return TrustLine(tuple(parts))
