"""Invoice reconciliation: invoice totals against sum(BilledCost) of the billing rows.

Grain: one row per (billing account, billing period, billing currency); two currencies are never
summed. ``variance`` = invoice - billed. The part of a variance that one of the usual reasons
accounts for exactly (to the rounding allowance) is *explained*; the rest is *unexplained*:

- tax, credits, corrections or marketplace charges (rows whose publisher is not the account's
  main publisher) that the rows carry but the invoice does not (the variance is minus their sum),
- corrections booked in the next period that the invoice already holds,
- rounding: at most one cent per invoice.

The smallest set of reasons whose sum matches the variance explains it; when none matches, all
of it is unexplained. Status: ``ties`` (within rounding), ``within tolerance`` (|variance| <=
tolerance x |invoice|, default 0.5 %), ``off``, ``invoice without rows``, ``rows without invoice``,
``month still open`` (the data does not reach the month's last day yet, or fewer than
``CLOSE_DAYS`` days have passed since it ended and no invoice is in yet: the provider may still
restate it; an invoice for a month whose rows reach its last day is compared at once).
Invoices cover whole billing accounts, so only callers who see all data may reconcile.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import polars as pl

from finops_core import db
from finops_core.query import QueryError, Scope
from finops_core.schema import C

DEFAULT_TOLERANCE = 0.005
CLOSE_DAYS = 5  # providers restate a month until a few days after it ends (Azure: the 5th)
CENT = 0.01
REASONS = {
    "tax": "tax not on the invoice",
    "credit": "credits not on the invoice",
    "correction": "corrections not on the invoice",
    "marketplace": "marketplace charges invoiced separately",
    "next_correction": "a correction booked in the next period",
}
STATUSES = (
    "ties",
    "within tolerance",
    "off",
    "invoice without rows",
    "rows without invoice",
    "month still open",
    "no invoice totals",
)
KEY = ("billing_account_id", "billing_period", "currency")
# each billing account's main publisher (most billed cost); other publishers' rows are marketplace charges
MAIN_PUBLISHER = (
    f"WITH main AS (SELECT {C.BillingAccountId} AS acct, arg_max({C.PublisherName}, abs_cost) AS publisher FROM ("
    f"SELECT {C.BillingAccountId}, {C.PublisherName}, sum(abs({C.BilledCost})) AS abs_cost FROM invoice_lines "
    "GROUP BY ALL) GROUP BY 1)"
)


@dataclass(frozen=True)
class Settings:
    tolerance: float = DEFAULT_TOLERANCE
    as_of: date | None = None  # "today" for the open-month rule; None = date.today()


def _require_all(scope: Scope) -> None:
    if not scope.is_all:
        raise QueryError(
            "scope: invoice reconciliation covers whole billing accounts; it needs a role that sees all data"
        )


def billed(con: duckdb.DuckDBPyConnection, scope: Scope) -> pl.DataFrame:
    """sum(BilledCost) and its reconciling parts per (billing account, billing period, currency).

    Columns: the KEY, billing_account_name, provider, billed, tax, credit, correction,
    marketplace, line_items, last_day, invoice_ids (the InvoiceId values the rows carry)."""
    _require_all(scope)
    frame = db.frame(
        con,
        f"""
        {MAIN_PUBLISHER}
        SELECT l.{C.BillingAccountId} AS billing_account_id, strftime(l.{C.x_BillingMonth}, '%Y-%m') AS billing_period,
            l.{C.BillingCurrency} AS currency, any_value(l.{C.BillingAccountName}) AS billing_account_name,
            any_value(l.{C.ProviderName}) AS provider, sum(l.{C.BilledCost}) AS billed,
            sum(l.{C.BilledCost}) FILTER (l.{C.ChargeCategory} = 'Tax') AS tax,
            sum(l.{C.BilledCost}) FILTER (l.{C.ChargeCategory} = 'Credit') AS credit,
            sum(l.{C.BilledCost}) FILTER (l.{C.ChargeClass} = 'Correction') AS correction,
            sum(l.{C.BilledCost}) FILTER (l.{C.PublisherName} IS DISTINCT FROM m.publisher) AS marketplace,
            sum(l.line_items) AS line_items, max(l.last_day) AS last_day,
            list(DISTINCT l.{C.InvoiceId} ORDER BY l.{C.InvoiceId}) FILTER (l.{C.InvoiceId} IS NOT NULL) AS invoice_ids
        FROM invoice_lines l LEFT JOIN main m ON m.acct = l.{C.BillingAccountId}
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
    )
    parts = ("tax", "credit", "correction", "marketplace")
    return frame.with_columns(pl.col(p).fill_null(0.0) for p in parts)


def _open(period: str, last_day: date | None, as_of: date) -> bool:
    start = date.fromisoformat(f"{period}-01")
    end = (start + timedelta(days=32)).replace(day=1)  # first day of the next month
    return (last_day is None or last_day < end - timedelta(days=1)) or as_of < end + timedelta(days=CLOSE_DAYS)


def _explain(variance: float, parts: dict[str, float], allowance: float) -> tuple[float, str]:
    """(explained amount, the reasons) for one variance: the smallest set of reasons that matches."""
    if abs(variance) <= allowance:
        return variance, "rounding" if variance else ""
    candidates = [(k, v) for k, v in parts.items() if abs(v) > allowance]
    for size in range(1, len(candidates) + 1):
        for combo in itertools.combinations(candidates, size):
            amount = sum(v for _, v in combo)
            if abs(variance - amount) <= allowance:
                return variance, ", ".join(REASONS[k] for k, _ in combo)
    return 0.0, ""


def _status(row: dict[str, object], tolerance: float, allowance: float) -> str:
    if row["billed"] is None:
        return "invoice without rows"
    if row["is_open"] and (row["invoice"] is None or not row["complete"]):
        return "month still open"  # an invoice for a month whose rows are all in is compared at once
    if row["invoice"] is None:
        return "rows without invoice" if row["invoices_given"] else "no invoice totals"
    variance = float(row["variance"])  # type: ignore[arg-type]
    if abs(variance) <= allowance:
        return "ties"
    return "within tolerance" if abs(variance) <= tolerance * abs(float(row["invoice"])) else "off"  # type: ignore[arg-type]


def _invoice_totals(invoices: pl.DataFrame) -> pl.DataFrame:
    return invoices.group_by(KEY).agg(
        pl.col("amount").sum().alias("invoice"),
        pl.col("invoice_id").sort().str.join(", ").alias("invoice_file_ids"),
        pl.len().alias("invoices"),
    )


def reconciliation(
    con: duckdb.DuckDBPyConnection,
    invoices: pl.DataFrame | None,
    scope: Scope,
    settings: Settings = Settings(),
) -> pl.DataFrame:
    """Invoice vs billed per (billing account, billing period, currency), newest period first.

    ``invoices``: checked invoice lines (``trust.invoices``), or None to list what the rows'
    InvoiceId values say without totals to compare. Columns: the KEY, billing_account_name,
    provider, invoice, billed, variance, variance_pct, explained, unexplained, explanation,
    status, invoice_ids, invoices, line_items, last_day."""
    rows = billed(con, scope)
    as_of = settings.as_of or date.today()
    given = invoices is not None
    totals = (
        _invoice_totals(invoices)
        if invoices is not None
        else pl.DataFrame(
            schema={
                **dict.fromkeys(KEY, pl.String),
                "invoice": pl.Float64,
                "invoice_file_ids": pl.String,
                "invoices": pl.UInt32,
            }
        )
    )
    joined = rows.join(totals, on=list(KEY), how="full", coalesce=True)
    nxt = rows.select(
        "billing_account_id",
        "currency",
        pl.col("correction").alias("next_correction"),
        pl.col("billing_period").str.to_date("%Y-%m").dt.offset_by("-1mo").dt.strftime("%Y-%m").alias("billing_period"),
    )
    joined = joined.join(nxt, on=list(KEY), how="left").with_columns(pl.col("next_correction").fill_null(0.0))
    out = []
    for r in joined.iter_rows(named=True):
        allowance = CENT * max(1, r["invoices"] or 1)
        r["is_open"] = _open(r["billing_period"], r["last_day"], as_of)
        r["complete"] = r["last_day"] is not None and not _open(r["billing_period"], r["last_day"], date.max)
        r["invoices_given"] = given
        r["variance"] = None if r["invoice"] is None or r["billed"] is None else r["invoice"] - r["billed"]
        explained, reasons = 0.0, ""
        if r["variance"] is not None:
            parts = {k: -(r[k] or 0.0) for k in ("tax", "credit", "correction", "marketplace")}
            parts["next_correction"] = r["next_correction"]
            explained, reasons = _explain(r["variance"], parts, allowance)
        r |= {
            "explained": explained if r["variance"] is not None else None,
            "unexplained": r["variance"] - explained if r["variance"] is not None else None,
            "explanation": reasons,
            "status": _status(r, settings.tolerance, allowance),
            "variance_pct": r["variance"] / abs(r["invoice"]) if r["variance"] is not None and r["invoice"] else None,
            "invoice_ids": r["invoice_file_ids"] or ", ".join(r["invoice_ids"] or []),
        }
        out.append({c: r[c] for c in COLUMNS})
    return pl.DataFrame(out, schema=OUT_SCHEMA, orient="row").sort(
        ["billing_period", "billing_account_id", "currency"], descending=[True, False, False]
    )


OUT_SCHEMA: dict[str, pl.DataType] = {
    **dict.fromkeys(KEY, pl.String()),
    "billing_account_name": pl.String(),
    "provider": pl.String(),
    **dict.fromkeys(("invoice", "billed", "variance", "variance_pct", "explained", "unexplained"), pl.Float64()),
    "explanation": pl.String(),
    "status": pl.String(),
    "invoice_ids": pl.String(),
    "invoices": pl.Int64(),
    "line_items": pl.Int64(),
    "last_day": pl.Date(),
}
COLUMNS = tuple(OUT_SCHEMA)


def variance_lines(
    con: duckdb.DuckDBPyConnection, scope: Scope, billing_account_id: str, billing_period: str, currency: str
) -> pl.DataFrame:
    """What one reconciliation row's billed total is made of: one row per (InvoiceId, publisher,
    ChargeCategory, ChargeClass) with its BilledCost and line-item count, largest first."""
    _require_all(scope)
    return db.frame(
        con,
        f"SELECT {C.InvoiceId}, {C.PublisherName}, {C.ChargeCategory}, {C.ChargeClass}, sum(line_items) AS line_items, "
        f"sum({C.BilledCost}) AS {C.BilledCost} FROM invoice_lines WHERE {C.BillingAccountId} = ? "
        f"AND strftime({C.x_BillingMonth}, '%Y-%m') = ? AND {C.BillingCurrency} = ? GROUP BY ALL "
        f"ORDER BY abs(sum({C.BilledCost})) DESC",
        [billing_account_id, billing_period, currency],
    )


def variance_services(
    con: duckdb.DuckDBPyConnection, scope: Scope, billing_account_id: str, billing_period: str, currency: str
) -> pl.DataFrame:
    """BilledCost per (ServiceName, ChargeCategory) of one reconciliation row, largest first."""
    _require_all(scope)
    return db.frame(
        con,
        f"SELECT {C.ServiceName}, {C.ChargeCategory}, sum({C.BilledCost}) AS {C.BilledCost} FROM daily "
        f"WHERE {C.BillingAccountId} = ? AND strftime({C.x_BillingMonth}, '%Y-%m') = ? AND {C.BillingCurrency} = ? "
        f"GROUP BY ALL ORDER BY abs(sum({C.BilledCost})) DESC",
        [billing_account_id, billing_period, currency],
    )
