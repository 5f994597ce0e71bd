"""Data-quality checks over a published version: each with a severity, a count, the money behind
it (per currency, never summed across currencies), what to do, and sample rows.

Checks: completeness (days with no rows between an account's first and last day), freshness
(latest charge day per provider and billing account against today), months still open and the
restatements the manifest records, the row-level rules of ``rowchecks`` (duplicates, required
columns empty, negative cost outside credits and corrections, Tags not a JSON object,
EffectiveCost above ListCost with no commitment), more than one currency in a billing account, a
service in more than one category, and the warnings ingests raised. Everything reads rollups and
the manifest, never the billing rows.

A viewer gets completeness and freshness of the billing accounts their rows are in, nothing
else: the other checks speak of whole accounts and other teams' rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from finops_core import db, store
from finops_core.query import Scope, scope_sql
from finops_core.schema import C
from finops_core.trust import reconcile, rowchecks

FRESH_WARNING_DAYS = 2  # data more than 48 hours old (the newest full day is 2+ days before today)
FRESH_ERROR_DAYS = 3
SEVERITY_ORDER = {"ok": 0, "info": 1, "warning": 2, "error": 3}


@dataclass(frozen=True)
class Check:
    """One check's outcome. ``status`` is ``ok`` or the check's severity when it finds something."""

    name: str
    title: str
    severity: str
    status: str
    count: int
    money: dict[str, float]  # currency -> BilledCost (absolute) behind the findings
    detail: str
    fix: str = ""
    samples: pl.DataFrame = field(default_factory=pl.DataFrame)

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "count": self.count,
            "money": {k: round(v, 2) for k, v in self.money.items()},
            "detail": self.detail,
            "fix": self.fix,
            "samples": self.samples.to_dicts(),
        }


def _check(name: str, title: str, severity: str, count: int, detail: str, **kw: Any) -> Check:
    return Check(name, title, severity, severity if count else "ok", count, kw.pop("money", {}), detail, **kw)


def account_days(con: duckdb.DuckDBPyConnection, scope: Scope) -> pl.DataFrame:
    """Per (provider, billing account) the scope has rows in: first and last charge day, days with
    rows, the longest run of consecutive days with rows, and the missing days between first and
    last (all rows of the account count)."""
    params: list[object] = []
    mine = (
        ""
        if scope.is_all
        else (f"WHERE account IN (SELECT DISTINCT {C.BillingAccountId} FROM daily WHERE {scope_sql(scope, params)})")
    )
    return db.frame(
        con,
        f"""
        WITH seen AS (SELECT DISTINCT {C.ProviderName} AS provider, {C.BillingAccountId} AS account,
                      {C.BillingAccountName} AS account_name, {C.x_ChargeDate} AS day FROM account_days),
        spans AS (SELECT provider, account, any_value(account_name) AS account_name, min(day) AS first_day,
                  max(day) AS last_day, count(DISTINCT day) AS days FROM seen {mine} GROUP BY 1, 2),
        islands AS (SELECT provider, account, day - CAST(row_number() OVER (PARTITION BY provider, account
                    ORDER BY day) AS INTEGER) AS island FROM (SELECT DISTINCT provider, account, day FROM seen)),
        runs AS (SELECT provider, account, max(n) AS longest_run FROM (SELECT provider, account, island, count(*) AS n
                 FROM islands GROUP BY ALL) GROUP BY ALL)
        SELECT s.*, any_value(r.longest_run) AS longest_run, list(g.day ORDER BY g.day) FILTER (g.day IS NOT NULL AND seen.day IS NULL) AS missing
        FROM spans s JOIN runs r ON r.provider = s.provider AND r.account = s.account
        LEFT JOIN (SELECT provider, account, unnest(generate_series(first_day, last_day, INTERVAL 1 DAY))::DATE AS day
                   FROM spans) g ON g.provider = s.provider AND g.account = s.account
        LEFT JOIN seen ON seen.provider = g.provider AND seen.account = g.account AND seen.day = g.day
        GROUP BY ALL ORDER BY s.provider, s.account
        """,
        params,
    ).with_columns(pl.col("missing").fill_null([]))


DAILY_RUN = 28  # an account that had rows on 28 days in a row bills daily: a day without rows is a gap
DAILY_SHARE = 0.8  # ... and so does one with rows on 80 % of the days of a span of a week or more


def completeness(days: pl.DataFrame) -> Check:
    """Missing days of accounts that bill daily; an account that never had rows on DAILY_RUN
    consecutive days nor on DAILY_SHARE of its days (a sparse sandbox, a sample extract) has days
    without usage, not gaps."""
    span = (pl.col("last_day") - pl.col("first_day")).dt.total_days() + 1
    daily = (pl.col("longest_run") >= DAILY_RUN) | ((span >= 7) & (pl.col("days") >= DAILY_SHARE * span))
    gaps = days.filter((pl.col("missing").list.len() > 0) & daily)
    sparse = days.filter((pl.col("missing").list.len() > 0) & ~daily)
    samples = gaps.select(
        "provider", "account", "account_name", pl.col("missing").list.head(10).cast(pl.List(pl.String)).list.join(", ")
    )
    detail = "; ".join(
        f"{r['provider']} {r['account_name'] or r['account']}: {len(r['missing'])} day(s) missing, first {r['missing'][0]}"
        for r in gaps.iter_rows(named=True)
    )
    return _check(
        "completeness",
        "Every day present per billing account",
        "error",
        int(gaps["missing"].list.len().sum()) if gaps.height else 0,
        detail
        or f"no missing day in {days.height - sparse.height} billing account(s) that bill daily"
        + (f"; {sparse.height} account(s) do not bill every day" if sparse.height else ""),
        fix="ingest the missing days' export (or the whole month's delivery again)",
        samples=samples,
    )


def freshness(days: pl.DataFrame, as_of: date) -> Check:
    ages = days.with_columns((pl.lit(as_of) - pl.col("last_day") - pl.duration(days=1)).dt.total_days().alias("age"))
    worst = ages["age"].max() if ages.height else None
    stale = ages.filter(pl.col("age") >= FRESH_WARNING_DAYS)
    severity = "error" if worst is not None and int(worst) >= FRESH_ERROR_DAYS else "warning"  # type: ignore[arg-type]
    detail = "; ".join(
        f"{r['provider']} {r['account_name'] or r['account']}: last day {r['last_day']} ({r['age']} days old)"
        for r in stale.iter_rows(named=True)
    )
    return _check(
        "freshness",
        "Data no older than 48 hours",
        severity,
        stale.height,
        detail or (f"complete through {_day(ages['last_day'].min())}" if ages.height else "no data"),
        fix="run the export sync or ingest the latest export for these accounts",
        samples=stale.select("provider", "account", "account_name", "last_day", "age"),
    )


def _day(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else "-"


def open_months(days: pl.DataFrame, manifest: dict[str, Any], as_of: date) -> Check:
    periods = sorted(manifest.get("partitions", {}))
    last = days["last_day"].max() if days.height else None
    still_open = [p for p in periods if reconcile._open(p, last if isinstance(last, date) else None, as_of)]
    restated = [s for s in manifest.get("sources", []) if s.get("replaces")]
    parts = [f"{', '.join(still_open)} still open (the provider may restate)"] if still_open else []
    parts += [f"{s['name']} replaced {len(s['replaces'])} earlier source(s)" for s in restated]
    return _check(
        "open_months",
        "Months still open and restatements",
        "info",
        len(still_open) + len(restated),
        "; ".join(parts) or "every month closed; no restatements",
    )


def version_age(manifest: dict[str, Any], now: datetime) -> Check:
    """When the data version in use was published (info: how old the app's view of the bill is)."""
    published = datetime.strptime(manifest["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    hours = (now - published).total_seconds() / 3600
    return _check(
        "version_age",
        "Age of the data version",
        "info",
        1,
        f"data version {manifest['data_version']} published {published:%Y-%m-%d %H:%M} UTC ({hours:,.0f} h ago)",
    )


def _row_rule(con: duckdb.DuckDBPyConnection, rule: rowchecks.RowRule) -> Check:
    counts = db.frame(
        con,
        f"SELECT {C.BillingCurrency}, sum(line_items) AS n, sum(billed_abs) AS billed FROM quality_rows "
        "WHERE rule = ? GROUP BY 1 ORDER BY 1",
        [rule.name],
    )
    samples = db.frame(
        con,
        "SELECT * EXCLUDE (rule) FROM quality_samples WHERE rule = ? ORDER BY file, row_number LIMIT 20",
        [rule.name],
    )
    n = int(counts["n"].sum()) if counts.height else 0
    money = dict(zip(counts[C.BillingCurrency], counts["billed"], strict=True))
    where = ", ".join(sorted(samples[C.x_BillingMonth].dt.strftime("%Y-%m").unique().to_list())) if n else ""
    detail = f"{n:,} line item(s), first in {where}" if n else "none"
    return _check(rule.name, rule.title, rule.severity, n, detail, money=money, fix=rule.fix, samples=samples)


def _one_each(
    con: duckdb.DuckDBPyConnection, name: str, title: str, severity: str, per: str, what: str, source: str, fix: str
) -> Check:
    """Values of ``per`` that come with more than one value of ``what`` in ``source``."""
    multi = db.frame(
        con,
        f"SELECT {per} AS key, list(DISTINCT {what} ORDER BY {what}) AS found_values FROM {source} "
        f"GROUP BY 1 HAVING count(DISTINCT {what}) > 1 ORDER BY 1",
    )
    detail = "; ".join(f"{r['key']}: {', '.join(r['found_values'])}" for r in multi.iter_rows(named=True))
    return _check(
        name,
        title,
        severity,
        multi.height,
        detail or "none",
        fix=fix,
        samples=multi.with_columns(pl.col("found_values").list.join(", ")),
    )


def _mixed_currencies(con: duckdb.DuckDBPyConnection) -> Check:
    fix = "a billing account invoices in one currency; check the source mapping of these accounts"
    return _one_each(
        con,
        "mixed_currency",
        "One currency per billing account",
        "error",
        C.BillingAccountId,
        C.BillingCurrency,
        "invoice_lines",
        fix,
    )


def _service_categories(con: duckdb.DuckDBPyConnection) -> Check:
    fix = "map the service to one ServiceCategory (finops_core/ingest/services.py)"
    return _one_each(
        con, "service_category", "One category per service", "warning", C.ServiceName, C.ServiceCategory, "daily", fix
    )


def _ingest_warnings(root: Path) -> Check:
    """Warnings of the ingested sources still in the store (a replaced export's warnings are gone
    with its rows), nonconforming rows kept included (``ingest.conformance``)."""
    from finops_core.ingest import live_records  # ingest builds on the store; import it only here

    found = [(s.get("name", ""), w) for s in live_records(root) for w in s.get("warnings", [])]
    return _check(
        "ingest_warnings",
        "Warnings raised at ingest",
        "warning",
        len(found),
        "; ".join(f"{name}: {w}" for name, w in found[:5]) + (f" (and {len(found) - 5} more)" if len(found) > 5 else "")
        if found
        else "no ingest warnings",
        samples=pl.DataFrame(
            {"source": [n for n, _ in found], "warning": [w for _, w in found]},
            schema=[("source", pl.String), ("warning", pl.String)],
        ),
    )


def checks(con: duckdb.DuckDBPyConnection, root: Path, scope: Scope, as_of: date | None = None) -> list[Check]:
    """Every check on the current version of ``root`` as ``scope`` may see it (see module doc)."""
    today = as_of or date.today()
    days = account_days(con, scope)
    found = [completeness(days), freshness(days, today)]
    if not scope.is_all:
        return found
    doc = store.manifest(root)
    found.append(open_months(days, doc, today))
    found.append(version_age(doc, datetime.now(UTC).replace(tzinfo=None)))
    found += [_row_rule(con, r) for r in rowchecks.RULES]
    found += [_mixed_currencies(con), _service_categories(con), _ingest_warnings(root)]
    from finops_core.trust.sync_status import sync_check  # it imports this module

    synced = sync_check(datetime.now(UTC).replace(tzinfo=None))
    return found + ([synced] if synced else [])


def worst(found: list[Check]) -> str:
    return max((c.status for c in found), key=SEVERITY_ORDER.__getitem__, default="ok")


def change_log(root: Path) -> pl.DataFrame:
    """Every publish the current version descends from, newest first: when, who, what, rows and
    the BilledCost change per currency (one row per publish and currency)."""
    history = store.manifest(root).get("history", [])
    rows = [
        {
            "at": datetime.strptime(h["at"], "%Y-%m-%dT%H:%M:%SZ"),
            "user": h.get("user", ""),
            "note": h.get("note", ""),
            "sources": ", ".join(h.get("sources", [])),
            "rows": h.get("rows"),
            "currency": cur,
            "billed_delta": d.get(C.BilledCost, 0.0),
            "effective_delta": d.get(C.EffectiveCost, 0.0),
            "data_version": h["data_version"],
        }
        for h in reversed(history)
        for cur, d in sorted(h.get("delta", {}).items())
    ]
    schema: dict[str, pl.DataType] = {
        "at": pl.Datetime("us"),
        "user": pl.String(),
        "note": pl.String(),
        "sources": pl.String(),
        "rows": pl.Int64(),
        "currency": pl.String(),
        "billed_delta": pl.Float64(),
        "effective_delta": pl.Float64(),
        "data_version": pl.String(),
    }
    return pl.DataFrame(rows, schema=schema, orient="row")
