"""``python -m finops_core digest`` and ``pack``, for cron (no Streamlit running): the weekly digest,
printed, written or sent (every write or send is recorded in the state database, ``delivery``), and
the monthly variance pack written as HTML or PDF."""

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
from finops_core.reports import delivery, digest, pack, pack_render
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
    p = sub.add_parser(
        "pack",
        help="the monthly variance pack of one month as HTML or PDF",
        description="The monthly variance pack (docs/pack.md) for --month, for the company or the rows of "
        "the --scope values (repeat: values of one kind are either, of different kinds all).",
    )
    p.add_argument("--store", default=None, help="store directory (default: $FINOPS_STORE or data/store)")
    p.add_argument("--month", required=True, type=_month, metavar="YYYY-MM", help="the calendar month")
    p.add_argument(
        "--scope", action="append", default=[], metavar="KIND=VALUE", help="team=X, product=X or environment=X"
    )
    p.add_argument("--out", required=True, type=Path, help="FILE.pdf or FILE.html")
    p.add_argument("--metric", default=DEFAULT_METRIC, choices=METRICS)
    return {"digest": cmd_digest, "pack": cmd_pack}


def _month(text: str) -> date:
    try:
        return date.fromisoformat(f"{text}-01")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month (YYYY-MM)") from exc


def cmd_pack(args: argparse.Namespace) -> int:
    out: Path = args.out
    kind = out.suffix.lower()
    if kind not in (".pdf", ".html"):
        print(f"error: --out {out}: the file name must end in .pdf or .html", file=sys.stderr)
        return 2
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.open("wb").close()  # refuse an unwritable path before the minutes of building
    except OSError as exc:
        print(f"error: --out {out}: cannot write there: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        built = _build_pack(args)
        body = pack_render.to_pdf(built) if kind == ".pdf" else pack_render.to_html(built).encode()
        tmp.write_bytes(body)
        tmp.replace(out)
    except pack.PackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        tmp.unlink(missing_ok=True)
    sections = ", ".join(s.currency for s in built.sections)
    print(f"pack for {built.scope.label}, {args.month:%Y-%m} ({sections}) written to {out}", file=sys.stderr)
    return 0


def _build_pack(args: argparse.Namespace) -> pack.Pack:
    scope = pack.PackScope.parse(args.scope)
    root = store.store_path(args.store)
    con = store.connect(root)
    con.execute("SET enable_progress_bar = false")
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    if first is None:
        raise store.StoreError(f"{root}: the store holds no rows")
    return pack.build(
        con, CostQuery(last, last, metric=args.metric), args.month, scope, first_day=first, store_root=root
    )


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
