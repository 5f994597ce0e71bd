"""One sync: list every source, pick each export's newest deliveries, download the new ones and
ingest them all in one publication (``ingest.ingest_deliveries``), under a lock.

A delivery already in the store (same fingerprint and a sha256 the store holds) is not downloaded.
A refused delivery is reported with its location (the object-store URL, row and field) and left
out; the others publish. A killed sync publishes nothing (the store's atomic publish) and its lock
goes with its process (``flock``), so the next sync starts at once and marks the run interrupted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finops_core import store
from finops_core.ingest import batch, ingest_deliveries
from finops_core.sync import history, layouts, remote
from finops_core.sync.history import Outcome
from finops_core.sync.sources import Source

LOCK = ".sync.lock"


class SyncError(Exception):
    """A sync that cannot start (another one holds the lock)."""


@contextlib.contextmanager
def sync_lock(root: Path) -> Iterator[None]:
    """Exclusive sync lock on ``root/.sync.lock``; a second sync is refused at once, naming the holder.
    The kernel drops the lock when its process dies, so a killed sync never blocks the next."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / LOCK).open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "unknown process"
            raise SyncError(f"{root}: another sync is running ({holder}); nothing was done") from exc
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {history.now()}")
        fh.flush()
        try:
            yield
        finally:
            fh.truncate(0)
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class _Pending:
    """Deliveries downloaded for the ingest, and where each local file came from."""

    groups: list[tuple[str, list[Path], str]] = field(default_factory=list)
    origin: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # local path -> (source, url, fingerprint)
    group_source: dict[str, str] = field(default_factory=dict)  # group label -> source name


def url_of(source_url: str, path: str) -> str:
    kind = remote.scheme(source_url)
    return path if kind == "file" else f"{kind}://{path}"


def sync(sources: list[Source], root: Path, user: str = "sync", state_path: Path | None = None) -> list[Outcome]:
    """Sync ``sources`` into the store at ``root`` in one publication; one outcome per source."""
    with sync_lock(root):
        history.interrupt_stale(state_path)
        runs = {s.name: history.start(s.name, s.url, os.getpid(), state_path) for s in sources}
        outcomes = {s.name: Outcome(s.name, s.url) for s in sources}
        with tempfile.TemporaryDirectory(prefix="finops-sync-") as tmp:
            pending = _Pending()
            live = batch.live_shas(root) | {
                s["sha256"] for s in _manifest_sources(root) if s.get("kind") == "contracts"
            }
            for i, s in enumerate(sources):
                try:
                    _collect(s, Path(tmp) / str(i), live, outcomes[s.name], pending, state_path)
                except remote.RemoteError as exc:
                    outcomes[s.name].error = str(exc)
            if pending.groups:
                _ingest(root, user, pending, outcomes, state_path)
        for s in sources:
            history.finish(runs[s.name], outcomes[s.name], state_path)
    return [outcomes[s.name] for s in sources]


def _manifest_sources(root: Path) -> list[dict[str, Any]]:
    return store.manifest(root)["sources"] if store.current_version(root) else []


def _collect(s: Source, tmp: Path, live: set[str], o: Outcome, pending: _Pending, state_path: Path | None) -> None:
    """List ``s``, keep each export's newest deliveries, download those not already stored."""
    fs, base = remote.filesystem(s.url)
    entries = remote.listing(fs, base, s.url)
    found = layouts.plan(entries, base, lambda e: remote.read_text(fs, e))
    o.seen = sum(1 for e in entries if layouts.is_data(e.path))
    o.skipped = o.seen - sum(len(d.files) for d in found)  # older runs a newer one replaces
    known = history.known(s.name, state_path)
    for j, d in enumerate(found):
        where = url_of(s.url, f"{base}/{d.key}".rstrip("/")) + (f" (run {d.run})" if d.run else "")
        label = f"{s.name}: {where}"
        if d.error:
            o.refused.append(f"{label}: {d.error}")
            continue
        if d.files and all(
            known.get(f.path, ("", ""))[0] == f.fingerprint and known[f.path][1] in live for f in d.files
        ):
            o.skipped += len(d.files)
            continue
        paths = []
        for f in d.files:
            local = tmp / str(j) / f.path[len(base) :].lstrip("/")
            try:
                remote.download(fs, f, local)
            except Exception as exc:  # the filesystems raise their own kinds
                o.refused.append(f"{label}: {url_of(s.url, f.path)}: cannot download: {type(exc).__name__}: {exc}")
                break
            paths.append(local)
            pending.origin[str(local)] = (s.name, url_of(s.url, f.path), f.fingerprint)
        else:
            pending.groups.append((label, paths, s.format))
            pending.group_source[label] = s.name


def _ingest(root: Path, user: str, pending: _Pending, outcomes: dict[str, Outcome], state_path: Path | None) -> None:
    report = ingest_deliveries(pending.groups, root, user=user)
    refused = dict(report.refused)
    by_path = {r.label: r for r in report.inputs}
    for label, paths, _ in pending.groups:
        o = outcomes[pending.group_source[label]]
        if label in refused:
            o.refused.append(f"{label}: {_remote_names(refused[label], pending)}")
            continue
        seen = []
        for p in paths:
            _, url, fingerprint = pending.origin[str(p)]
            r = by_path.get(str(p))
            o.ingested += 0 if r is not None and r.skipped else 1
            seen.append((_remote_path(url), fingerprint, store.sha256_file(p)))
        history.remember(o.source, seen, state_path)
        if report.published:
            o.data_version = report.data_version


def _remote_path(url: str) -> str:
    return url.split("://", 1)[1] if "://" in url else url


def _remote_names(message: str, pending: _Pending) -> str:
    """A refusal with each downloaded file's local path replaced by its object-store URL."""
    for local in sorted(pending.origin, key=len, reverse=True):
        message = message.replace(local, pending.origin[local][1])
    return message
