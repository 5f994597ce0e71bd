"""``python -m finops_core reconcile`` and ``check``: invoice reconciliation and data-quality checks for cron and CI."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from finops_core import store
from finops_core.query import ALL
from finops_core.trust import invoices, quality, reconcile


def _store_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=None, help="store directory (default: $FINOPS_STORE or data/store)")


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register the trust subcommands on ``sub``; returns their handlers by name."""
    r = sub.add_parser(
        "reconcile",
        help="compare invoice totals with sum(BilledCost) per billing account, month and currency",
        description="Invoice reconciliation. Invoices: --invoices FILE, else the latest saved version, "
        "else the demo's invoices.csv beside the store, else the InvoiceId values of the rows (no totals).",
    )
    _store_arg(r)
    r.add_argument(
        "--invoices",
        type=Path,
        help="CSV or XLSX with billing_account_id, billing_period (YYYY-MM), invoice_id, currency, amount",
    )
    r.add_argument("--save", action="store_true", help="keep --invoices as the new saved version (state database)")
    r.add_argument("--user", default=os.environ.get("USER", "cli"), help="who saves (recorded with the version)")
    r.add_argument("--month", help="only this billing period (YYYY-MM)")
    r.add_argument("--tolerance", type=float, default=reconcile.DEFAULT_TOLERANCE, help="as a fraction (0.005)")
    r.add_argument("--as-of", type=date.fromisoformat, help="today's date for the open-month rule (YYYY-MM-DD)")
    r.add_argument("--format", default="text", choices=("text", "csv", "json"))
    c = sub.add_parser(
        "check",
        help="run the data-quality checks; exit 1 when one at --fail-on level finds something",
        description="Data-quality checks (completeness, freshness, open months, duplicates, required values, "
        "negative costs, Tags, EffectiveCost above ListCost, currencies, service categories, ingest warnings).",
    )
    _store_arg(c)
    c.add_argument("--format", default="text", choices=("text", "json"))
    c.add_argument("--fail-on", default="error", choices=("error", "warning"), help="lowest level that exits 1")
    c.add_argument("--as-of", type=date.fromisoformat, help="today's date for freshness (YYYY-MM-DD)")
    return {"reconcile": cmd_reconcile, "check": cmd_check}


def cmd_check(args: argparse.Namespace) -> int:
    root = store.store_path(args.store)
    found = quality.checks(store.connect(root), root, ALL, args.as_of)
    if args.format == "json":
        print(json.dumps([c.as_dict() for c in found], default=str, indent=1))
    else:
        for c in found:
            money = ", ".join(f"{cur} {v:,.2f}" for cur, v in sorted(c.money.items()))
            print(f"[{c.status.upper():7s}] {c.title}: {c.detail}" + (f" ({money})" if money else ""))
            if c.status != "ok":
                for r in c.samples.head(5).iter_rows(named=True):
                    print("          " + ", ".join(f"{k}={v}" for k, v in r.items() if v is not None))
    level = quality.SEVERITY_ORDER[args.fail_on]
    failed = [c for c in found if quality.SEVERITY_ORDER[c.status] >= level]
    print(f"{len(found)} checks, {len(failed)} at or above {args.fail_on}", file=sys.stderr)
    return 1 if failed else 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    root = store.store_path(args.store)
    if args.save and args.invoices is None:
        raise invoices.InvoiceError(["--save needs --invoices FILE"])
    lines, origin = invoices.resolve(root, args.invoices)
    if args.save and lines is not None:
        version = invoices.save(lines, args.user, str(args.invoices))
        print(f"saved {args.invoices} as invoices version {version}", file=sys.stderr)
    con = store.connect(root)
    table = reconcile.reconciliation(con, lines, ALL, reconcile.Settings(args.tolerance, args.as_of))
    if args.month:
        table = table.filter(pl.col("billing_period") == args.month)
    print(f"invoices: {origin}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(table.to_dicts(), default=str, indent=1))
    elif args.format == "csv":
        sys.stdout.write(table.write_csv(float_precision=2))
    else:
        _print_text(table)
    return 0


def _money(value: float | None) -> str:
    return "" if value is None else f"{round(value, 2) + 0.0:,.2f}"  # + 0.0: no "-0.00"


def _print_text(table: pl.DataFrame) -> None:
    amounts = "  ".join(f"{h:>14}" for h in ("invoice", "billed", "variance", "unexplained"))
    print(f"{'period':7s}  {'account':28s}  cur  {amounts}  status")
    for r in table.iter_rows(named=True):
        name = (r["billing_account_name"] or r["billing_account_id"])[:28]
        cells = [_money(r[k]) for k in ("invoice", "billed", "variance", "unexplained")]
        line = f"{r['billing_period']}  {name:28s}  {r['currency']}  " + "  ".join(f"{c:>14}" for c in cells)
        print(f"{line}  {r['status']}" + (f" ({r['explanation']})" if r["explanation"] not in ("", "rounding") else ""))
    counts = table.group_by("status").len().sort("status")
    print(", ".join(f"{n} {s}" for s, n in counts.rows()), file=sys.stderr)
