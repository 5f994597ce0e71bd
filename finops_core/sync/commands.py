"""``python -m finops_core sync`` and ``worker`` (see docs/sync.md)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finops_core import store
from finops_core.sync import runner, sources, worker
from finops_core.sync.sources import Source


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    s = sub.add_parser(
        "sync",
        help="ingest the newest export deliveries from folders and object stores (s3://, az://, gs://)",
        description="Each SOURCE is a name from sources.yaml, a folder or a URL. Exit 0 when every source "
        "synced, 1 when a delivery was refused or a source failed (the others still publish), 2 when "
        "another sync holds the lock or the configuration is invalid.",
    )
    s.add_argument("sources", nargs="*", metavar="SOURCE")
    s.add_argument("--all", action="store_true", help="every source in sources.yaml (for cron / systemd)")
    s.add_argument("--store", default=None, help="store directory (default: $FINOPS_STORE or data/store)")
    s.add_argument("--sources-file", type=Path, default=None, help="default: $FINOPS_SOURCES or data/sources.yaml")
    s.add_argument("--format", default="auto", choices=sources.FORMATS, help="format of SOURCE URLs not in the file")
    s.add_argument("--user", default=os.environ.get("USER", "sync"), help="who syncs (the change log's who)")
    w = sub.add_parser("worker", help="run scheduled syncs and digest deliveries in one long-running process")
    w.add_argument("--store", default=None, help="store directory (default: $FINOPS_STORE or data/store)")
    w.add_argument("--sources-file", type=Path, default=None, help="default: $FINOPS_SOURCES or data/sources.yaml")
    w.add_argument("--tick", type=float, default=30.0, help="seconds between schedule checks (default 30)")
    w.add_argument("--once", action="store_true", help="run what is due once and exit")
    return {"sync": cmd_sync, "worker": cmd_worker}


def _selected(args: argparse.Namespace) -> list[Source]:
    config = sources.load(args.sources_file)
    if args.all:
        if not config.sources:
            raise sources.SourcesError(f"{args.sources_file or sources.sources_path()}: no sources configured")
        return list(config.sources)
    if not args.sources:
        raise sources.SourcesError("name a SOURCE (a configured name, a folder or a URL) or give --all")
    return [config.source(a) or Source(a, a, args.format) for a in args.sources]


def cmd_sync(args: argparse.Namespace) -> int:
    try:
        chosen = _selected(args)
        outcomes = runner.sync(chosen, store.store_path(args.store), user=args.user)
    except (sources.SourcesError, runner.SyncError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for o in outcomes:
        print(
            f"{o.source}: {o.status}: {o.seen} file(s) seen, {o.ingested} ingested, {o.skipped} skipped "
            f"(unchanged or superseded), {len(o.refused)} delivery(ies) refused"
        )
        for line in o.refused:
            print(f"  refused: {line}")
        if o.error:
            print(f"  error: {o.error}")
    version = next((o.data_version for o in outcomes if o.data_version), None)
    print(f"published data version {version}" if version else "store unchanged", file=sys.stderr)
    return 0 if all(o.status == "ok" for o in outcomes) else 1


def cmd_worker(args: argparse.Namespace) -> int:
    root = store.store_path(args.store)
    return worker.run(root, args.sources_file or sources.sources_path(), args.tick, args.once)
