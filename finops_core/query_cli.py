"""``python -m finops_core query``: what the Spend page answers, from a shell or a cron job.

Sum a metric per group (up to two dimensions, or a ``tag:<key>``), per day/week/month with
``--grain``, over a named period (``--period last-month``, the same calendar rules as the app) or
dates, optionally against the period before (``--compare previous|yoy``). Money is rounded to
cents; currencies are never added together (one row per billing currency).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from datetime import date

import duckdb
import polars as pl

from finops_core import db, drilldown, periods, store
from finops_core.query import GRAINS, CostQuery
from finops_core.schema import DEFAULT_METRIC, METRICS, C

PERIODS = {
    "mtd": "mtd",
    "last-month": "last_month",
    "last-3-months": "last_3_months",
    "qtd": "qtd",
    "last-quarter": "last_quarter",
    "ytd": "ytd",
    "last-12-months": "last_12_months",
    "last-7-days": "last7",
    "last-30-days": "last30",
    "last-90-days": "last90",
}
MONEY_DECIMALS = 2


class QueryUsageError(ValueError):
    """Arguments that do not make one question; the message names the option."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    q = sub.add_parser(
        "query",
        help="sum a metric per group and billing currency",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    env = os.environ.get("FINOPS_STORE")
    q.add_argument("--store", required=env is None, default=env, help="store directory (default: $FINOPS_STORE" + ")")
    q.add_argument("--start", type=_date, metavar="YYYY-MM-DD", help="first day (default: first day of data)")
    q.add_argument("--end", type=_date, metavar="YYYY-MM-DD", help="last day, inclusive (default: last day of data)")
    q.add_argument(
        "--period",
        choices=list(PERIODS),
        help="a named period instead of --start/--end, counted from the last day with data "
        "(last-month after data through 30 Nov is November)",
    )
    q.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="DIM=VALUE",
        help="keep rows whose DIM is VALUE, e.g. x_Team=payments or tag:env=prod (repeat; same DIM twice = either)",
    )
    q.add_argument(
        "--group-by", action="append", default=[], metavar="DIM", help="up to two dimensions, e.g. ServiceName, tag:env"
    )
    q.add_argument("--grain", choices=GRAINS, help="also split by day, week (from Monday) or month")
    q.add_argument(
        "--compare",
        choices=list(periods.COMPARE_MODES) + ["none"],
        default="none",
        help="add previous, delta and delta_pct columns: the calendar period before (previous) or a year before (yoy)",
    )
    q.add_argument("--metric", default=DEFAULT_METRIC, choices=METRICS)
    q.add_argument("--format", default="csv", choices=("csv", "json"), help="csv (default) or json records")


def _filters(items: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise QueryUsageError(f"--filter {item!r}: expected DIM=VALUE")
        dim, value = item.split("=", 1)
        out.setdefault(dim.strip(), []).append(value)
    return tuple((d, tuple(v)) for d, v in out.items())


def build_query(args: argparse.Namespace, first: date, last: date) -> CostQuery:
    if args.period and (args.start or args.end):
        raise QueryUsageError("--period: give either --period or --start/--end, not both")
    if args.period:
        start, end = periods.period_for(PERIODS[args.period], last, today=date.today())
        start, end = max(start, first), min(end, last)
    else:
        start, end = args.start or first, args.end or last
    return CostQuery(
        start=start,
        end=end,
        filters=_filters(args.filter),
        group_by=tuple(args.group_by),
        metric=args.metric,
        grain=args.grain or "day",
    )


def answer(con: duckdb.DuckDBPyConnection, q: CostQuery, grain: bool, compare: str) -> pl.DataFrame:
    """The frame ``query`` prints: rounded money, the compared period's dates when comparing."""
    if grain and compare != "none":
        raise QueryUsageError("--compare: compare totals without --grain (per-period deltas are not defined)")
    frame = drilldown.cost_by_period(con, q) if grain else drilldown.cost_by_dimension(con, q)
    if compare != "none":
        other = q.comparison(compare)
        before = drilldown.cost_by_dimension(con, replace(q, start=other.start, end=other.end))
        keys = [*(d for d in q.group_by if d != C.BillingCurrency), C.BillingCurrency]
        frame = (
            frame.join(before.rename({q.metric: "previous"}), on=keys, how="full", coalesce=True)
            .with_columns(pl.col(q.metric).fill_null(0.0), pl.col("previous").fill_null(0.0))
            .with_columns((pl.col(q.metric) - pl.col("previous")).alias("delta"))
            .with_columns(
                pl.when(pl.col("previous").abs() > 1e-9)
                .then((pl.col("delta") / pl.col("previous").abs()).round(4))
                .otherwise(None)
                .alias("delta_pct"),
                pl.lit(f"{other.start}..{other.end}").alias("compared_with"),
            )
            .sort(pl.col("delta").abs(), descending=True)
        )
    money = [c for c in (q.metric, "previous", "delta") if c in frame.columns]
    return frame.with_columns(pl.col(money).round(MONEY_DECIMALS))


def cmd_query(args: argparse.Namespace) -> int:
    con = store.connect(args.store)
    row = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    if row[0] is None:
        raise QueryUsageError("the store holds no rows")
    q = build_query(args, row[0], row[1])
    frame = answer(con, q, bool(args.grain), args.compare)
    if args.format == "json":
        print(json.dumps(frame.to_dicts(), default=str, indent=1))
    else:
        sys.stdout.write(frame.write_csv())
    return 0
