"""``python -m finops_core worker``: a small long-running process with an in-process schedule.

Every ``tick`` seconds it rereads ``sources.yaml`` (an edit on the Ingest page applies at the next
tick; an invalid file keeps the last valid one and says so), syncs the sources whose schedule is
due (one sync for all of them, under the sync lock) and sends the digests that are due (through
the ``digest`` command, which records each delivery). A digest's last run is kept in the state
database (``worker_job``), so a restart neither repeats nor skips one. SIGTERM/SIGINT stop it
between jobs.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from finops_core import state
from finops_core.sync import history, runner, sources
from finops_core.sync.sources import Config, Digest

SCHEMA = """
CREATE TABLE IF NOT EXISTS worker_job (
    name TEXT PRIMARY KEY,
    last_run TEXT NOT NULL,
    status TEXT NOT NULL
);
"""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _last_run(name: str, path: Path | None) -> datetime | None:
    with state.transaction(path, SCHEMA) as con:
        row = con.execute("SELECT last_run FROM worker_job WHERE name = ?", (name,)).fetchone()
    return datetime.strptime(row[0], history.STAMP) if row else None


def _record(name: str, at: datetime, status: str, path: Path | None) -> None:
    with state.transaction(path, SCHEMA) as con:
        con.execute(
            "INSERT OR REPLACE INTO worker_job (name, last_run, status) VALUES (?, ?, ?)",
            (name, at.strftime(history.STAMP), status),
        )


def digest_argv(d: Digest, root: Path) -> list[str]:
    argv = ["digest", "--store", str(root), "--send", d.send, "--format", d.format, "--user", "worker"]
    argv += ["--scope", d.scope] if d.scope else []
    for address in d.to:
        argv += ["--to", address]
    return argv


def tick(
    root: Path,
    config: Config,
    now: datetime,
    say: Callable[[str], None],
    state_path: Path | None = None,
    run_cli: Callable[[list[str]], int] | None = None,
) -> None:
    """Run what is due at ``now``: the due sources' sync, then the due digests."""
    due = [s for s in config.sources if s.schedule.due(history.last_start(s.name, state_path), now)]
    if due:
        try:
            for o in runner.sync(due, root, user="worker", state_path=state_path):
                say(f"sync {o.source}: {o.status}, {o.seen} seen, {o.ingested} ingested, {len(o.refused)} refused")
                for line in o.refused + ([o.error] if o.error else []):
                    say(f"  {line}")
        except runner.SyncError as exc:
            say(f"sync skipped: {exc}")
    from finops_core.cli import main  # the CLI imports this module

    for d in config.digests:
        if d.schedule.due(_last_run(d.name, state_path), now):
            code = (run_cli or main)(digest_argv(d, root))
            _record(d.name, now, "ok" if code == 0 else f"exit {code}", state_path)
            say(f"{d.name}: {'sent' if code == 0 else f'failed (exit {code}, see the delivery log)'}")


def run(root: Path, config_path: Path, every: float = 30.0, once: bool = False) -> int:
    """Loop until stopped (or one tick with ``once``)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    config = Config()

    def say(text: str) -> None:
        print(f"{_now():%Y-%m-%d %H:%M:%S} {text}", file=sys.stderr, flush=True)

    say(f"worker started: store {root}, sources {config_path}, tick {every:g} s")
    while not stop.is_set():
        try:
            config = sources.load(config_path)
        except sources.SourcesError as exc:
            say(f"{exc} (keeping the last valid configuration)")
        tick(root, config, _now(), say)
        if once:
            break
        stop.wait(every)
    say("worker stopped")
    return 0
