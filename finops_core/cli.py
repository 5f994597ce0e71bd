"""Command line: ``python -m finops_core demo|query|export|ingest|sync|worker|rebuild|tags|rules|reconcile|check|digest|pack``
and one subcommand per capability: ``anomalies|forecast|budgets|commitments|savings`` (``commands.py``).

Exit codes: 0 ok, 2 bad usage or input (the message names the file or field), 1 unexpected.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb

from finops_core import access, db, drilldown, query_cli, store
from finops_core import commands as capability_commands
from finops_core.allocation import ConservationError
from finops_core.engines import EngineError
from finops_core.ingest.core import IngestError
from finops_core.periods import PeriodError
from finops_core.policy import commands as policy_commands
from finops_core.query import CostQuery, QueryError
from finops_core.query_cli import QueryUsageError
from finops_core.reports import commands as report_commands
from finops_core.schema import C
from finops_core.sync import commands as sync_commands
from finops_core.tagrules import RulesError
from finops_core.trust import commands as trust_commands
from finops_core.trust.invoices import InvoiceError
from finops_core.unit import commands as unit_commands


class UsageError(Exception):
    """Bad arguments or input; exit code 2."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m finops_core", description="FOCUS billing store and queries.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="generate the demo company's billing into a store")
    d.add_argument("--store", required=True, help="store directory")
    d.add_argument("--rows", type=int, default=1_500_000, help="approximate number of rows (default 1.5M)")
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--end", type=_date, default=None, help="last day of data (default: yesterday)")
    query_cli.add_parser(sub)
    r = sub.add_parser("rebuild", help="rebuild the rollups (after a tag rules change) without re-ingesting")
    r.add_argument("--store", required=True)
    t = sub.add_parser("tags", help="propose value aliases for likely typos of a tag key")
    t.add_argument("--store", required=True)
    t.add_argument("--key", default="team", help="canonical key (team, environment, product, ...)")
    rl = sub.add_parser("rules", help="check, dry-run or save a tags.yaml / allocation.yaml rules file")
    rl.add_argument("action", choices=("check", "dry-run", "save"))
    rl.add_argument("file", help="a rules file named allocation.yaml or tags.yaml")
    rl.add_argument("--store", help="store directory (dry-run, save)")
    rl.add_argument("--user", default=os.environ.get("USER", "cli"), help="who saves (recorded with the version)")
    e = sub.add_parser("export", help="write the normalized FOCUS rows to Parquet or CSV")
    e.add_argument("--store", required=True)
    e.add_argument("--out", required=True, help="FILE.parquet or FILE.csv")
    i = sub.add_parser("ingest", help="ingest billing exports (FOCUS, AWS CUR, Azure, GCP, OCI) into a store")
    i.add_argument("paths", nargs="+", metavar="PATH", help="export files (CSV, CSV.gz, Parquet, JSON lines)")
    i.add_argument("--store", required=True, help="store directory")
    i.add_argument("--source", default="auto", choices=("auto", "focus", "aws-cur", "azure", "gcp", "oci"))
    HANDLERS.update(trust_commands.add_parsers(sub))
    HANDLERS.update(unit_commands.add_parsers(sub))
    HANDLERS.update(policy_commands.add_parsers(sub))
    HANDLERS.update(report_commands.add_parsers(sub))
    HANDLERS.update(capability_commands.add_parsers(sub))
    HANDLERS.update(sync_commands.add_parsers(sub))
    return p


def _data_range(con: duckdb.DuckDBPyConnection) -> tuple[date, date]:
    row = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    if row[0] is None:
        raise UsageError("the store holds no rows")
    return row[0], row[1]


def cmd_demo(args: argparse.Namespace) -> int:
    from finops_core.demo import DemoConfig, build_demo

    if args.rows < 1000:
        raise UsageError(f"--rows {args.rows}: use at least 1000")
    cfg = DemoConfig(seed=args.seed, rows=args.rows, **({"end": args.end} if args.end else {}))
    summary = build_demo(Path(args.store), cfg, lambda f, msg: print(f"[{f:4.0%}] {msg}", file=sys.stderr))
    users = access.users_path()
    if not users.exists():
        plain = access.create_demo_users(users, os.environ.get("FINOPS_DEMO_PASSWORD"))
        print(f"Demo users written to {users}. Passwords (shown once):", file=sys.stderr)
        for username, password in plain.items():
            print(f"  {username:8s} {password}", file=sys.stderr)
    print(json.dumps(summary, indent=1))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise UsageError(f"--out {out}: the file name must end in .parquet or .csv")
    con = store.connect(args.store)
    first, last = _data_range(con)
    rel = drilldown.export_rows(con, CostQuery(start=first, end=last))
    tmp = out.with_name(out.name + ".tmp")
    if out.suffix.lower() == ".parquet":
        rel.write_parquet(str(tmp), compression="zstd")
    else:
        con.execute("SET TimeZone = 'UTC'")
        rel.write_csv(str(tmp), timestamp_format="%Y-%m-%dT%H:%M:%SZ")
    tmp.replace(out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from finops_core.ingest import deliveries, ingest

    report = ingest([Path(p) for p in args.paths], Path(args.store), args.source)
    for r in report.inputs:
        if r.skipped:
            print(f"{r.label}: already in the store (sha256 {r.sha256[:12]}), nothing to do")
            continue
        print(f"{r.label}: {r.source}, {r.rows_in} rows in, {r.rows} rows published")
        for cur, t in sorted(r.totals.items()):
            print(f"  {cur}: BilledCost {t[C.BilledCost]:.6f}  EffectiveCost {t[C.EffectiveCost]:.6f}")
        if r.replaces:
            print(f"  replaces source(s) {', '.join(s[:12] for s in r.replaces)}")
        for note in r.notes:
            print(f"  {note}")
        for w in r.warnings:
            print(f"  warning: {w}")
    for name, rows in report.contracts:
        print(f"{name}: FOCUS 1.3 Contract Commitment dataset, {rows} contract commitment(s)")
    for line in deliveries.describe_changes(report.changes):
        print(line)
    state = f"published data version {report.data_version}" if report.published else "store unchanged"
    print(state, file=sys.stderr)
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    root = Path(args.store)
    store.rebuild(root)
    print(f"rebuilt {root}: data version {store.current_version(root)}", file=sys.stderr)
    return 0


def cmd_tags(args: argparse.Namespace) -> int:
    from finops_core import governance, rollups
    from finops_core.tagrules import CANONICAL

    if args.key not in CANONICAL:
        raise UsageError(f"--key {args.key!r}: use one of {', '.join(CANONICAL)}")
    con = store.connect(args.store)
    proposals = governance.typo_proposals(con, args.key, rollups.current_rules().tags)
    print("alias,canonical,edit_distance,BillingCurrency,cost")
    for alias, canonical, dist, currency, cost in proposals:
        print(f"{alias},{canonical},{dist},{currency},{cost:.2f}")
    print(
        f"{len(proposals)} proposals; accept one by adding it under values.{args.key} in the rules file",
        file=sys.stderr,
    )
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from finops_core import allocation, governance, rollups

    path = Path(args.file)
    if path.name not in allocation.RULE_FILES:
        raise UsageError(
            f"{path}: name the file {' or '.join(allocation.RULE_FILES)} (it replaces the file of that name)"
        )
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from exc
    current = rollups.current_rules()
    rules = rollups.parse_rules(current.texts | {path.name: text}, {path.name: path})  # refuses an invalid file
    if args.action == "check":
        a = rules.allocation
        print(f"{path}: ok ({len(a.attribution)} attribution rules, {len(a.splits)} splits)", file=sys.stderr)
        return 0
    if not args.store:
        raise UsageError(f"rules {args.action} needs --store")
    root = Path(args.store)
    if args.action == "dry-run":
        per_team = governance.moves(governance.dry_run(root, {path.name: text}))
        sys.stdout.write(per_team.write_csv(float_precision=2))
        print(f"{per_team.height} team totals change (all billing months); nothing was saved", file=sys.stderr)
        return 0
    version = governance.save_rules(root, path.name, text, args.user)
    print(f"saved {path.name} to {allocation.rules_dir() / path.name}; data version {version}", file=sys.stderr)
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {}  # subcommands that other modules register in _parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = HANDLERS | {
        "demo": cmd_demo,
        "query": query_cli.cmd_query,
        "export": cmd_export,
        "rebuild": cmd_rebuild,
        "tags": cmd_tags,
        "rules": cmd_rules,
        "ingest": cmd_ingest,
    }
    try:
        return handlers[args.command](args)
    except (
        UsageError,
        QueryError,
        QueryUsageError,
        PeriodError,
        store.StoreError,
        RulesError,
        ConservationError,
        EngineError,
        IngestError,
        InvoiceError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
