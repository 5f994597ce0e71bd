"""A month's evidence pack for Finance and Procurement: one workbook that shows where the month's
numbers come from. Sheets (each a frame; ``workbook`` writes them as XLSX):

- About: the data version, when, the invoices' source, the tolerance.
- Invoice tie-out: the reconciliation rows of the month (``reconcile.reconciliation``).
- Reconciling items: per account and currency, the tax, credits, corrections and marketplace
  charges the rows carry, with the explanation reconciliation found.
- Marketplace charges: BilledCost per account, publisher and invoice id of third-party charges.
- Shared costs by team: each shared-cost pool's (support plan, shared networking, ...) split to teams.
- Allocation by team: BilledCost and EffectiveCost per team.
- Data quality: every check with its status.
Amounts are per billing currency; nothing adds two currencies.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import polars.selectors as cs
import xlsxwriter

from finops_core import db, drilldown, store
from finops_core.query import ALL, CostQuery
from finops_core.schema import C
from finops_core.trust import quality, reconcile


def _month_range(month: str) -> tuple[date, date]:
    start = date.fromisoformat(f"{month}-01")
    return start, (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _by_team(con: duckdb.DuckDBPyConnection, month: str, group_by: tuple[str, ...], rules: list[str]) -> pl.DataFrame:
    start, end = _month_range(month)
    filters = ((C.x_AllocationRule, tuple(rules)),) if rules else ()
    frames = [
        drilldown.cost_by_dimension(con, CostQuery(start, end, filters=filters, group_by=group_by, metric=m))
        for m in (C.BilledCost, C.EffectiveCost)
    ]
    keys = [*group_by, C.BillingCurrency]
    return (
        frames[0]
        .join(frames[1], on=keys, how="full", coalesce=True, nulls_equal=True)
        .sort([C.BillingCurrency, C.BilledCost], descending=[False, True])
    )


def _marketplace(con: duckdb.DuckDBPyConnection, month: str) -> pl.DataFrame:
    return db.frame(
        con,
        f"""{reconcile.MAIN_PUBLISHER}
        SELECT l.{C.BillingAccountId} AS billing_account_id, l.{C.PublisherName}, l.{C.InvoiceId},
            l.{C.BillingCurrency}, CAST(sum(l.line_items) AS BIGINT) AS line_items, sum(l.{C.BilledCost}) AS {C.BilledCost}
        FROM invoice_lines l JOIN main m ON m.acct = l.{C.BillingAccountId}
        WHERE l.{C.PublisherName} IS DISTINCT FROM m.publisher AND strftime(l.{C.x_BillingMonth}, '%Y-%m') = ?
        GROUP BY ALL ORDER BY 1, 2, 3""",
        [month],
    )


def pack(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    month: str,
    invoices: pl.DataFrame | None,
    origin: str,
    settings: reconcile.Settings | None = None,
) -> dict[str, pl.DataFrame]:
    """The evidence pack of ``month`` ('YYYY-MM') as sheet name -> frame. Needs a role that sees all
    data (invoices cover whole billing accounts)."""
    settings = settings or reconcile.Settings()
    table = reconcile.reconciliation(con, invoices, ALL, settings).filter(pl.col("billing_period") == month)
    parts = reconcile.billed(con, ALL).filter(pl.col("billing_period") == month)
    items = parts.select(*reconcile.KEY, "billing_account_name", "tax", "credit", "correction", "marketplace").join(
        table.select(*reconcile.KEY, "variance", "explanation"), on=list(reconcile.KEY), how="left"
    )
    rules = [r[0] for r in db.rows(con, "SELECT DISTINCT rule FROM shares ORDER BY 1")]
    checks = quality.checks(con, root, ALL, settings.as_of)
    about = pl.DataFrame(
        {
            "item": ["month", "data version", "generated at (UTC)", "invoices", "tolerance"],
            "value": [
                month,
                store.current_version(root) or "",
                datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
                origin,
                f"{settings.tolerance:.2%}",
            ],
        }
    )
    return {
        "About": about,
        "Invoice tie-out": table,
        "Reconciling items": items,
        "Marketplace charges": _marketplace(con, month),
        "Shared costs by team": _by_team(con, month, (C.x_AllocationRule, C.x_Team), rules)
        if rules
        else pl.DataFrame({"note": ["no shared-cost splits in the allocation rules"]}),
        "Allocation by team": _by_team(con, month, (C.x_Team,), []),
        "Data quality": pl.DataFrame(
            [{k: v for k, v in c.as_dict().items() if k not in ("samples", "money")} for c in checks]
        ),
    }


def workbook(sheets: dict[str, pl.DataFrame]) -> bytes:
    """The sheets as one XLSX workbook (timestamps as naive UTC: Excel has no time zones)."""
    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf) as book:
        for name, frame in sheets.items():
            naive = frame.with_columns(cs.datetime(time_zone="*").dt.replace_time_zone(None))
            naive = naive.with_columns(cs.by_dtype(pl.List(pl.String)).list.join(", "))
            naive.write_excel(book, worksheet=name[:31], autofit=True, float_precision=2)
    return buf.getvalue()
