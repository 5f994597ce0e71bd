"""``python -m finops_core digest``: build the weekly digest and print, write or send it, for cron
(no Streamlit running). Every write or send is recorded in the state database (``delivery``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from finops_core import db, store
from finops_core.query import CostQuery
from finops_core.reports import delivery, digest
from finops_core.schema import DEFAULT_METRIC, METRICS, C


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register the report subcommands on ``sub``; returns their handlers by name."""
    d = sub.add_parser(
        "digest",
        help="the weekly cost digest: print it, write it to a file, or send it by webhook or SMTP",
        description="The weekly digest for the 7 days ending on the last day with data (or --as-of). "
        "Settings for --send: [digest] in .streamlit/secrets.toml or the environment (docs/digest.md). "
        "Exit 1 when a delivery fails (it is recorded with its error).",
    )
    d.add_argument("--store", default=None, help="store directory (default: $FINOPS_STORE or data/store)")
    d.add_argument("--scope", default=None, metavar="KIND=VALUE", help="team=X, product=X or environment=X")
    d.add_argument("--format", default="md", choices=delivery.FORMATS, help="md, html or slack (JSON blocks)")
    where = d.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, help="write to FILE (recorded as a delivery)")
    where.add_argument("--send", choices=("webhook", "smtp"), help="post to the webhook or e-mail (Markdown + HTML)")
    d.add_argument("--to", action="append", default=[], metavar="ADDRESS", help="e-mail recipient (repeat)")
    d.add_argument("--as-of", type=date.fromisoformat, help="last day of the week (default: last day with data)")
    d.add_argument("--metric", default=DEFAULT_METRIC, choices=METRICS)
    d.add_argument("--secrets", type=Path, help="a secrets.toml (default: .streamlit/secrets.toml)")
    d.add_argument("--user", default=os.environ.get("USER", "cli"), help="who sends (recorded with the delivery)")
    return {"digest": cmd_digest}


def cmd_digest(args: argparse.Namespace) -> int:
    scope = digest.DigestScope.parse(args.scope)
    try:
        settings = delivery.load_settings(args.secrets)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = store.store_path(args.store)
    con = store.connect(root)
    con.execute("SET enable_progress_bar = false")
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    if first is None:
        raise store.StoreError(f"{root}: the store holds no rows")
    as_of = min(args.as_of or last, last)
    built = digest.build(con, CostQuery(as_of, as_of, metric=args.metric), scope, first_day=first, store_root=root)
    if args.out is None and args.send is None:
        sys.stdout.write(delivery.render(built, args.format, settings.app_url))
        return 0
    if args.out is not None:
        result = delivery.to_file(built, args.format, args.out, settings, user=args.user)
    elif args.send == "webhook":
        result = delivery.to_webhook(built, args.format, settings, user=args.user)
    else:
        result = delivery.by_smtp(built, settings, tuple(args.to), user=args.user)
    if not result.ok:
        print(
            f"error: digest not delivered by {result.channel} to {result.target or '(nowhere)'}: {result.error}",
            file=sys.stderr,
        )
        return 1
    print(
        f"digest for {scope.label} ({built.week[0]} to {built.week[1]}) delivered by {result.channel} to {result.target}",
        file=sys.stderr,
    )
    return 0
