"""Realized savings against the demo's planted truth, per store and implemented item.

Builds (or reuses) a demo store, measures every implemented item of ``demo/backlog.csv`` the way
the Savings page does (``savings_items.realized_for_items``, all rows in scope) and compares each
with ``demo/savings_truth.csv`` (docs/savings.md defines the saving both follow). Prints truth,
realized, error % and the flags per item, and the worst error. Goal (issue 14): every item within
10 % of the truth on every store.

    .venv/bin/python bench/bench_savings.py --store DIR [--seed S --end YYYY-MM-DD --rows N]

A store folder that holds no demo yet is built first from --seed/--end/--rows.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from finops_core import db, savings_items, store
from finops_core.demo import DemoConfig, build_demo
from finops_core.query import CostQuery
from finops_core.schema import C


def compare(root: Path, stored: bool = True) -> pl.DataFrame:
    """One row per implemented item and currency: truth, realized, error_pct, flags; ``stored``
    False measures from the billing rows instead of the table built at publish."""
    con = store.connect(root)
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    items = pl.read_csv(root / "demo" / "backlog.csv", schema_overrides={"implemented_on": pl.String})
    items = items.with_columns(pl.lit("").alias("resource_ids"))  # the demo's items are scoped by account and service
    realized = savings_items.realized_for_items(con, CostQuery(first, last), items, stored=stored)
    truth = pl.read_csv(root / "demo" / "savings_truth.csv")
    return (
        truth.select("item_id", "currency", pl.col("true_monthly_saving").alias("truth"))
        .join(
            realized.select("item_id", "currency", pl.col("realized_monthly").alias("realized"), "flags"),
            on=["item_id", "currency"],
            how="full",
            coalesce=True,
        )
        .with_columns(((pl.col("realized") / pl.col("truth") - 1) * 100).round(1).alias("error_pct"))
        .sort("item_id")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--end", type=date.fromisoformat, default=date(2026, 10, 15))
    ap.add_argument("--rows", type=int, default=1_500_000)
    args = ap.parse_args()
    if not (args.store / "demo" / "savings_truth.csv").exists():
        build_demo(args.store, DemoConfig(seed=args.seed, end=args.end, rows=args.rows))
    rows = compare(args.store, stored=False)  # the billing rows, as before the table existed
    out = compare(args.store)
    print(f"store {args.store}  (rows: measured from the billing rows; table: from savings_daily)")
    for r, b in zip(out.iter_rows(named=True), rows.iter_rows(named=True), strict=True):
        print(
            f"  {r['item_id']}  {r['currency']}  truth {r['truth']:>10,.2f}  rows {b['realized']:>10,.2f} "
            f"error {b['error_pct']:+6.1f} %  table {r['realized']:>10,.2f} error {r['error_pct']:+6.1f} %  "
            f"flags: {r['flags'] or '-'}"
        )
    worst = out["error_pct"].abs().max()
    print(f"  worst |error| {worst:.1f} %: {'within' if worst is not None and worst <= 10 else 'NOT within'} 10 %")


if __name__ == "__main__":
    main()
