"""``python -m finops_core anomalies|forecast|budgets|commitments|savings``: what the pages show, for
scripts and cron. Each prints a table (default), CSV or JSON on stdout, money rounded to cents; the
store defaults to ``$FINOPS_STORE`` and ``--scope team=NAME`` / ``--scope sub_account=ID`` (or ``team:NAME``) limits the
rows as a viewer's scope would.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from finops_core import (
    anomalies,
    backlog,
    budget_periods,
    budget_status,
    budgets,
    commitments,
    db,
    events,
    outlook,
    plan_export,
    plausibility,
    savings_items,
    store,
    triage,
)
from finops_core.query import CostQuery, QueryError, Scope
from finops_core.schema import C

FORMATS = ("table", "csv", "json")
PERIOD_WORDS = ("this-month", "next-month", "this-quarter", "next-quarter", "this-fy", "next-fy")


def _common(p: argparse.ArgumentParser, currency: bool = True) -> None:
    p.add_argument(
        "--store",
        default=os.environ.get("FINOPS_STORE"),
        help="store directory (default: $FINOPS_STORE)",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json; money rounded")
    p.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="team=NAME|sub_account=ID",
        help="only the rows of these teams or sub accounts, as a viewer sees them (repeat; default: everything)",
    )
    if currency:
        p.add_argument("--currency", default="USD", help="billing currency (ISO 4217; amounts are never mixed)")


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register the per-capability subcommands on ``sub``; returns their handlers by name."""
    a = sub.add_parser("anomalies", help="detected cost anomalies with their triage status", description=__doc__)
    _common(a, currency=False)
    a.add_argument("--since", type=date.fromisoformat, help="only anomalies starting on or after this day")
    a.add_argument("--open", action="store_true", help="only cases not Resolved, Expected or False positive")
    f = sub.add_parser("forecast", help="monthly forecast per team with bands, budget and plausibility flags")
    _common(f)
    f.add_argument("--team", action="append", default=[], help="only these teams (repeat; default: the top 50)")
    b = sub.add_parser("budgets", help="budget vs actual vs forecast for a month, quarter or fiscal year")
    _common(b)
    b.add_argument(
        "--period",
        default="this-month",
        help=f"YYYY-MM, YYYY-Qn, FYyyyy, FYyyyy-Qn or one of {', '.join(PERIOD_WORDS)} (seen from the last day "
        "of data; quarters are fiscal ones unless the fiscal year starts in January)",
    )
    b.add_argument(
        "--fiscal-start",
        type=int,
        choices=range(1, 13),
        metavar="1-12",
        help=f"month the fiscal year starts in (default ${budget_periods.ENV}, else 1); FY2027 ends in 2027",
    )
    c = sub.add_parser("commitments", help="commitment utilization (used, unused) per commitment")
    _common(c, currency=False)
    c.add_argument("--days", type=int, default=30, help="the last N days of data (default 30)")
    s = sub.add_parser("savings", help="backlog items with realized savings measured from the bill")
    _common(s, currency=False)
    s.add_argument("--open", action="store_true", help="only items still to do (not implemented or dismissed)")
    return {"anomalies": cmd_anomalies, "forecast": cmd_forecast, "budgets": cmd_budgets,
            "commitments": cmd_commitments, "savings": cmd_savings}  # fmt: skip


def _scope(values: list[str]) -> Scope:
    teams, subs = [], []
    for v in values:
        # team=NAME as the digest and pack take it; team:NAME also works
        kind, _, name = v.partition("=") if "=" in v.split(":", 1)[0] else v.partition(":")
        if kind == "team" and name:
            teams.append(name)
        elif kind == "sub_account" and name:
            subs.append(name)
        else:
            raise QueryError(f"--scope {v!r}: expected team=NAME or sub_account=ID")
    return Scope(tuple(teams) or None, tuple(subs) or None) if values else Scope()


def _open(args: argparse.Namespace) -> tuple[duckdb.DuckDBPyConnection, CostQuery]:
    if not args.store:
        raise QueryError("no store: pass --store or set FINOPS_STORE")
    con = store.connect(Path(args.store))
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    if first is None:
        raise QueryError(f"{args.store}: the store holds no billing rows")
    q = CostQuery(first, last, scope=_scope(args.scope))
    if getattr(args, "currency", None):
        q = q.with_filter(C.BillingCurrency, (args.currency,))
    return con, q


def emit(frame: pl.DataFrame, fmt: str) -> None:
    """Print ``frame`` as a table, CSV or JSON (records), floats rounded to 2 decimals (shares to 4)."""
    rounded = frame.with_columns(
        pl.col(c).round(4 if c in ("utilization", "realization", "change", "allowed", "variance %") else 2)
        for c, t in frame.schema.items()
        if t in (pl.Float64, pl.Float32)
    )
    if fmt == "csv":
        sys.stdout.write(rounded.write_csv())
    elif fmt == "json":
        sys.stdout.write(json.dumps(rounded.to_dicts(), default=str, indent=1) + "\n")
    else:
        with pl.Config(
            tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=60, tbl_hide_dataframe_shape=True
        ):
            print(rounded)


def cmd_anomalies(args: argparse.Namespace) -> int:
    con, q = _open(args)
    found = anomalies.detect_with_teams(con, q)
    if found.is_empty():
        emit(pl.DataFrame({"id": []}, schema={"id": pl.String}), args.format)
        return 0
    cases = triage.cases()
    out = found.select(
        "id", "scope", "key", pl.col(C.x_Team).alias("team"), "kind", "start", "end", "impact",
        pl.col(C.BillingCurrency).alias("currency"),
    )  # fmt: skip
    status = (
        cases.select("id", "status", "owner")
        if cases.height
        else pl.DataFrame(schema=dict.fromkeys(("id", "status", "owner"), pl.String))
    )
    # a detection the app has not recorded as a case yet is "New", with no owner
    out = out.join(status, on="id", how="left").with_columns(
        pl.col("status").fill_null("New"), pl.col("owner").fill_null("")
    )
    if args.since:
        out = out.filter(pl.col("start") >= args.since)
    if args.open:
        out = out.filter(~pl.col("status").is_in(list(triage.CLOSED)))
    emit(out.sort("start", "impact", descending=[True, True]), args.format)
    return 0


def _team_forecasts(con: duckdb.DuckDBPyConnection, q: CostQuery, teams: list[str], until: date) -> dict[str, Any]:
    teams = teams or outlook.top_values(con, q, C.x_Team, 50)
    return outlook.forecast_many(outlook.histories(con, q, C.x_Team, teams), until, events.load())


def cmd_forecast(args: argparse.Namespace) -> int:
    con, q = _open(args)
    until = outlook.horizon_end(q.end, "12m")
    fcs = _team_forecasts(con, q, args.team, until)
    lines = budget_status.scoped_lines(budgets.current(), q)
    plan = plan_export.plan_table(fcs, q.end.replace(day=1), until, lines)
    emit(plan_export.with_flags(plan, plausibility.flags_many(fcs)), args.format)
    return 0


def _period(text: str, as_of: date, fiscal_start: int) -> str:
    if text in PERIOD_WORDS:
        return budget_periods.periods_around(as_of, fiscal_start)[PERIOD_WORDS.index(text)]
    try:
        budget_periods.range_of(text, fiscal_start)
    except ValueError as exc:
        raise QueryError(f"--period {text!r}: {exc}; or one of {', '.join(PERIOD_WORDS)}") from exc
    return text


def cmd_budgets(args: argparse.Namespace) -> int:
    try:
        fiscal_start = args.fiscal_start or budget_periods.fiscal_start()
    except ValueError as exc:
        raise QueryError(str(exc)) from exc
    con, q = _open(args)
    period = _period(args.period, q.end, fiscal_start)
    start, end = budget_periods.range_of(period, fiscal_start)
    lines = budget_status.visible_lines(budgets.current(), period, q, fiscal_start)
    fcs: dict[str, outlook.ScopeForecast] = {}
    if lines.is_empty():
        print(f"no {args.currency} budgets for {period} ({start} to {end}) in this scope", file=sys.stderr)
    else:  # a past period still needs each line's actuals, which come with its forecast
        until = max(end, q.end + timedelta(days=1))
        fcs = outlook.forecast_many(budget_status.line_histories(con, q, lines), until, events.load())
    emit(budget_status.status(lines, fcs, start, end).with_columns(pl.lit(period).alias("period")), args.format)
    return 0


def cmd_commitments(args: argparse.Namespace) -> int:
    con, q = _open(args)
    recent = CostQuery(max(q.start, q.end - timedelta(days=args.days - 1)), q.end, scope=q.scope)
    emit(commitments.commitment_utilization(con, recent), args.format)
    return 0


def cmd_savings(args: argparse.Namespace) -> int:
    con, q = _open(args)
    ids = savings_items.sub_account_ids(con, q)
    items = backlog.items(scope=q.scope, sub_account_ids=ids)
    if args.open:
        items = backlog.open_items(items)
    if items.is_empty():
        emit(pl.DataFrame({"item_id": []}, schema={"item_id": pl.String}), args.format)
        return 0
    table = savings_items.item_table(items, savings_items.realized_for_items(con, q, items))
    cols = ["item_id", "title", "status", "team", "owner", "amount_currency", "estimated_monthly_saving",
            "realized_monthly", "uncertainty_monthly", "realization", "implemented_on", "flags"]  # fmt: skip
    emit(table.select([c for c in cols if c in table.columns]), args.format)
    return 0
