"""``python -m finops_core metrics load FILE``: load business metrics into the state database."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from finops_core import db, store
from finops_core.schema import C
from finops_core.unit import metrics


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register the unit-economics subcommands on ``sub``; returns their handlers by name."""
    m = sub.add_parser(
        "metrics",
        help="validate and load business metrics (date, metric, value, team, product) as a new version",
        description="Business metrics for unit costs. A CSV or Parquet file with date (YYYY-MM-DD), metric, "
        "value (>= 0) and optional team and product; refused whole when any line is wrong.",
    )
    m.add_argument("action", choices=("load", "check"), help="load: save as a new version; check: validate only")
    m.add_argument("file", help="metrics .csv or .parquet")
    m.add_argument("--store", default=None, help="store directory, to report coverage of the billing data")
    m.add_argument("--user", default=os.environ.get("USER", "cli"), help="who loads (recorded with the version)")
    return {"metrics": cmd_metrics}


def coverage(lines: pl.DataFrame, con: Any) -> pl.DataFrame:
    """Per (metric, team, product): days inside the billing window, and whether the team/product has cost."""
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    teams = {r[0] for r in db.rows(con, f"SELECT DISTINCT {C.x_Team} FROM daily")}
    products = {r[0] for r in db.rows(con, f"SELECT DISTINCT {C.x_Product} FROM daily")}
    in_window = pl.col("date").is_between(first, last) if first is not None else pl.lit(False)
    return (
        lines.group_by("metric", "team", "product")
        .agg(in_window.sum().alias("days_with_billing"))
        .with_columns(
            ((pl.col("team") == "") | pl.col("team").is_in(list(teams))).alias("team_known"),
            ((pl.col("product") == "") | pl.col("product").is_in(list(products))).alias("product_known"),
        )
        .sort("metric", "product", "team")
    )


def cmd_metrics(args: argparse.Namespace) -> int:
    try:
        lines = metrics.load(Path(args.file))
    except metrics.MetricsError as exc:
        for err in exc.errors:
            print(f"error: {err}", file=sys.stderr)
        return 2
    table = metrics.summary(lines)
    if args.store:
        table = table.join(
            coverage(lines, store.connect(store.store_path(args.store))), on=["metric", "team", "product"]
        )
    sys.stdout.write(table.write_csv(float_precision=2))
    if args.action == "load":
        version = metrics.save(lines, args.user, str(args.file))
        print(f"saved {lines.height} metric lines from {args.file} as metrics version {version}", file=sys.stderr)
    else:
        print(f"{args.file}: ok ({lines.height} lines); nothing was saved", file=sys.stderr)
    return 0
