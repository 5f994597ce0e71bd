"""``python -m finops_core policy check|check-plan``: the tag policy against the bill, or a Terraform
plan in CI (exit 1 when the plan breaks the policy)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from finops_core import rollups, store
from finops_core.policy import billing, impact, plan, rules
from finops_core.query import CostQuery
from finops_core.schema import C


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register ``policy`` on ``sub``; returns its handler by name."""
    p = sub.add_parser(
        "policy",
        help="check the tag policy (policy.yaml) against the billing data or a Terraform plan",
        description="Tag policy as code. check: compliance per month against the store; check-plan: a "
        "`terraform show -json` plan's violations with the resource address, exit 1 when any.",
    )
    actions = p.add_subparsers(dest="action", required=True)
    c = actions.add_parser("check", help="compliance per month and currency against the store's billing data")
    c.add_argument("--store", default=None, help="store directory (default: $FINOPS_STORE or data/store)")
    c.add_argument("--fail-below", type=float, help="exit 1 when the last month's compliance is below this (0.9)")
    c.add_argument("--format", default="text", choices=("text", "csv", "json"))
    k = actions.add_parser("check-plan", help="a Terraform plan's violations; exit 1 when any is not exempt")
    k.add_argument("plan", help="the plan JSON: terraform show -json PLANFILE > plan.json")
    k.add_argument("--account", help="the account the plan deploys to (for account-scoped rules)")
    k.add_argument("--as-of", type=date.fromisoformat, help="the day exemptions are judged on (default today)")
    k.add_argument("--format", default="text", choices=("text", "json"))
    for q in (c, k):
        q.add_argument(
            "--policy", type=Path, help="policy file (default: the rules folder's, else data/rules/policy.yaml)"
        )
    i = sub.add_parser(
        "plan-cost",
        help="estimate a Terraform plan's monthly cost change from similar billed resources (Markdown for a PR)",
        description="Resources a `terraform show -json` plan adds, removes, replaces or resizes, priced from "
        "similar resources in the store's billing data (same service, type/SKU, region).",
    )
    i.add_argument("plan", help="the plan JSON")
    i.add_argument("--store", default=None, help="store directory (default: $FINOPS_STORE or data/store)")
    i.add_argument(
        "--region", help="region of resources whose plan names none (default: the provider's constant region)"
    )
    i.add_argument("--format", default="markdown", choices=("markdown", "csv", "json"))
    return {"policy": cmd_policy, "plan-cost": cmd_plan_cost}


def cmd_plan_cost(args: argparse.Namespace) -> int:
    try:
        doc = plan.read(Path(args.plan))
        planned = plan.resources(doc, args.plan)
    except plan.PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    costs = impact.resource_costs(store.connect(store.store_path(args.store)))
    table = impact.plan_impact(costs, planned, args.region or impact.default_region(doc))
    if args.format == "json":
        print(json.dumps(table.to_dicts(), indent=1))
    elif args.format == "csv":
        sys.stdout.write(table.write_csv(float_precision=2))
    else:
        sys.stdout.write(impact.markdown(table))
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    try:
        return cmd_check(args) if args.action == "check" else cmd_check_plan(args)
    except plan.PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_check(args: argparse.Namespace) -> int:
    con = store.connect(store.store_path(args.store))
    policy = rules.load(args.policy, rollups.version_rules(con, "r").tags)
    first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchall()[0]
    evaluated = billing.evaluate(con, CostQuery(first, last), policy)
    history = billing.compliance_history(evaluated)
    top = billing.top_violations(evaluated)
    print(f"policy: {policy.source} ({len(policy.rules)} rules, {len(policy.exemptions)} exemptions)", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"history": history.to_dicts(), "top_violations": top.to_dicts()}, default=str, indent=1))
    elif args.format == "csv":
        sys.stdout.write(history.write_csv(float_precision=4))
    else:
        _print_history(history, top)
    if args.fail_below is not None and not history.is_empty():
        latest = history.filter(pl.col("month") == history["month"].max())
        low = latest.filter(pl.col("compliance") < args.fail_below)
        if not low.is_empty():
            print(f"compliance below {args.fail_below:.0%} in {low['month'][0]:%Y-%m}", file=sys.stderr)
            return 1
    return 0


def _print_history(history: pl.DataFrame, top: pl.DataFrame) -> None:
    print(f"{'month':7s}  cur  {'in scope':>14}  {'compliant':>14}  {'exempt':>12}  {'violating':>14}  compliance")
    for r in history.iter_rows(named=True):
        share = "" if r["compliance"] is None else f"{r['compliance']:.1%}"
        print(
            f"{r['month']:%Y-%m}  {r[C.BillingCurrency]}  {r['in_scope']:14,.2f}  {r['compliant']:14,.2f}  "
            f"{r['exempt']:12,.2f}  {r['violating']:14,.2f}  {share:>10}"
        )
    if not top.is_empty():
        print("\ncostliest violations in the last month:")
        for r in top.iter_rows(named=True):
            print(
                f"  {r[C.BillingCurrency]} {r['cost']:12,.2f}  {r[C.SubAccountName]} / {r[C.ServiceName]}: {r['broken']}"
            )


def cmd_check_plan(args: argparse.Namespace) -> int:
    policy = rules.load(args.policy, rollups.current_rules().tags)
    found = plan.load_checked(Path(args.plan), policy, args.as_of or date.today(), args.account)
    failing = [v for v in found if not v["exempt"]]
    if args.format == "json":
        print(json.dumps(found, indent=1))
    else:
        for v in found:
            value = f" ({v['value']!r})" if v["value"] else ""
            note = f" [exempt: {v['exempt']}]" if v["exempt"] else ""
            print(f"{v['address']}: {v['key']}: {v['problem']}{value} (rule {v['rule']}){note}")
    print(f"{args.plan}: {len(failing)} violation(s), {len(found) - len(failing)} exempt", file=sys.stderr)
    return 1 if failing else 0
