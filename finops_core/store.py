"""Snapshots of FOCUS rows on disk: versions, manifest, atomic publish, a writer lock, connect().

Layout under the store directory::

    CURRENT                         the published version id (replaced atomically)
    .lock                           held by the one writer
    versions/<id>/manifest.json     sources, deliveries (ingested parts), partitions, totals, schema version
    versions/<id>/billing_period=YYYY-MM/*.parquet
    versions/<id>/rollups.duckdb    tag map, daily rollups, anomaly results and commitment days built at publish
    versions/<id>/contracts/        FOCUS 1.3 contract commitments and the rows applied to them

A publish writes a whole new version aside (unchanged partitions are hard-linked from the
current one), builds its rollups, then renames it into place and swaps CURRENT. A crash at any
point leaves CURRENT on the previous, intact version.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from finops_core import anomaly_results, commitment_days, db, rollups, savings_daily
from finops_core.schema import SCHEMA_VERSION, C

DEFAULT_STORE = Path("data/store")
KEEP_VERSIONS = 3
CONTRACTS = "contracts"  # FOCUS 1.3 contract commitments and the applied rows (ingest/contracts.py)


class StoreError(Exception):
    """A store operation that cannot go ahead; the message says why and where."""


def store_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``explicit`` if given, else ``$FINOPS_STORE``, else ``data/store``."""
    return Path(explicit or os.environ.get("FINOPS_STORE") or DEFAULT_STORE)


def current_version(root: Path) -> str | None:
    """The published data version, or None for an empty store. Changes on every publish."""
    try:
        return (root / "CURRENT").read_text().strip() or None
    except FileNotFoundError:
        return None


def version_dir(root: Path, version: str | None = None) -> Path:
    v = version or current_version(root)
    if v is None:
        raise StoreError(f"{root}: the store is empty (run `python -m finops_core demo --store {root}`)")
    return root / "versions" / v


def manifest(root: Path, version: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((version_dir(root, version) / "manifest.json").read_text())
    return doc


def partition_files(root: Path, version: str | None = None) -> list[str]:
    vdir = version_dir(root, version)
    files: list[str] = []
    for period, info in sorted(manifest(root, version)["partitions"].items()):
        files.extend(str(vdir / f"billing_period={period}" / f) for f in info["files"])
    return files


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def writer_lock(root: Path) -> Iterator[None]:
    """Exclusive writer lock; a second writer is refused at once instead of interleaving."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StoreError(f"{root}: another writer is publishing (lock {root / '.lock'})") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class Publication:
    """A new version being written aside. Use via ``publish()``."""

    root: Path
    staging: Path
    parent: str | None
    replace: set[str] = field(default_factory=set)  # periods written anew in this publication
    sources: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    user: str = ""
    dropped: set[tuple[str, str]] = field(default_factory=set)  # (period, file) not to carry over
    deliveries: dict[str, Any] | None = None  # ingest's deliveries after this publication (None: the parent's)
    full: bool = False  # aggregate every period again (a rebuild), not only those whose files changed

    def write(self, period: str, part: str, frame: pl.DataFrame) -> Path:
        """Write one chunk of FOCUS rows into billing period ``period`` ('YYYY-MM')."""
        folder = self.staging / f"billing_period={period}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{part}.parquet"
        frame.write_parquet(path, compression="zstd", statistics=True)
        self.replace.add(period)
        return path

    def drop_file(self, period: str, name: str) -> None:
        """Leave one file of the current version's ``period`` out of the new version (a replaced source)."""
        self.dropped.add((period, name))

    def add_source(self, record: dict[str, Any]) -> None:
        self.sources.append(record | {"ingested_at": _now()})


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such user in the password database (containers)
        return str(os.getuid())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def publish(root: Path, note: str = "", carry_over: bool = True, user: str = "") -> Iterator[Publication]:
    """Write a new version; it becomes current only if the block completes without error.

    With ``carry_over``, periods not written in this publication keep the current version's files.
    ``user`` is who publishes (the change log's "who"; default: ``$USER``).
    """
    root = Path(root)
    with writer_lock(root):
        versions = root / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        for stale in versions.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a crashed writer
        vid = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:6]
        staging = versions / f".staging-{vid}"
        staging.mkdir()
        pub = Publication(root, staging, current_version(root), note=note, user=user or _who())
        try:
            yield pub
            _finish(pub, vid, carry_over)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        (root / "CURRENT.tmp").write_text(vid)
        os.replace(root / "CURRENT.tmp", root / "CURRENT")
        _fsync_dir(root)
        _collect_garbage(root)


def _finish(pub: Publication, vid: str, carry_over: bool) -> None:
    parent_manifest = manifest(pub.root, pub.parent) if (pub.parent and carry_over) else None
    if parent_manifest:
        parent_dir = version_dir(pub.root, pub.parent)
        for period, info in parent_manifest["partitions"].items():
            if period in pub.replace:
                continue
            folder = pub.staging / f"billing_period={period}"
            folder.mkdir(parents=True, exist_ok=True)
            for f in info["files"]:
                if (period, f) in pub.dropped or (folder / f).exists():  # replaced in this publication
                    continue
                os.link(parent_dir / f"billing_period={period}" / f, folder / f)
    carried = (
        {p: i for p, i in parent_manifest["partitions"].items() if p not in pub.replace} if parent_manifest else {}
    )
    partitions = _partition_stats(pub.staging, carried)
    if parent_manifest:
        _carry_contracts(version_dir(pub.root, pub.parent) / CONTRACTS, pub.staging / CONTRACTS, partitions)
    doc = {
        "data_version": vid,
        "schema_version": SCHEMA_VERSION,
        "created_at": _now(),
        "parent": pub.parent,
        "note": pub.note,
        "sources": (parent_manifest["sources"] if parent_manifest else []) + pub.sources,
        "partitions": partitions,
    }
    doc["history"] = _history(pub, doc)
    deliveries = pub.deliveries if pub.deliveries is not None else (parent_manifest or {}).get("deliveries")
    if deliveries is not None:  # a manifest without them is read from its sources (ingest.deliveries.of)
        doc["deliveries"] = deliveries
    files = [str(pub.staging / f"billing_period={p}" / f) for p in sorted(partitions) for f in partitions[p]["files"]]
    rules = rollups.current_rules()
    reuse = _reuse(pub, parent_manifest, partitions, rules)
    rollups.build(pub.staging / "rollups.duckdb", files, rules, reuse)
    savings_daily.build(pub.staging / "rollups.duckdb", files, reuse)
    anomaly_results.build(pub.staging / "rollups.duckdb", files)
    commitment_days.build(pub.staging / "rollups.duckdb", files, reuse)
    shutil.rmtree(pub.staging / ".spill", ignore_errors=True)
    (pub.staging / "manifest.json").write_text(json.dumps(doc, indent=1, sort_keys=True))
    _fsync_dir(pub.staging)
    os.rename(pub.staging, pub.root / "versions" / vid)


def _reuse(
    pub: Publication,
    parent: dict[str, Any] | None,
    partitions: dict[str, dict[str, Any]],
    rules: rollups.RuleSet,
) -> rollups.Reuse | None:
    """The parent's rollups to start from (a file copy keeps its unchanged periods): only when
    they were built by this schema with the same rules from some rows (else every period is
    aggregated again, as a rebuild does)."""
    if pub.full or not parent or parent.get("schema_version") != SCHEMA_VERSION or not parent["partitions"]:
        return None
    old = version_dir(pub.root, pub.parent) / "rollups.duckdb"
    if old.with_name(old.name + ".wal").exists():  # not checkpointed: the file alone is not the whole database
        return None
    con = duckdb.connect(str(old), read_only=True)
    try:
        same = dict(db.rows(con, "SELECT name, text FROM rules")) == rules.texts
    finally:
        con.close()
    if not same:
        return None
    before = parent["partitions"]
    touched = {
        p for p, info in partitions.items() if p in pub.replace or before.get(p, {}).get("files") != info["files"]
    }
    return rollups.Reuse(old, frozenset(touched))


def _carry_contracts(old: Path, new: Path, partitions: dict[str, dict[str, Any]]) -> None:
    """Link the parent's contract commitments (unless this publication wrote them) and the applied
    rows of every cost file the new version keeps (ingest/contracts.py)."""
    if not old.is_dir():
        return
    links = [(old / "contract_commitments.parquet", new / "contract_commitments.parquet")]
    links += [
        (old / "applied" / f"billing_period={p}" / f, new / "applied" / f"billing_period={p}" / f)
        for p, info in partitions.items()
        for f in info["files"]
    ]
    for src, dst in links:
        if src.exists() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dst)


def totals(partitions: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """BilledCost and EffectiveCost per currency over a manifest's partitions."""
    out: dict[str, dict[str, float]] = {}
    for info in partitions.values():
        for cur, t in info["totals"].items():
            acc = out.setdefault(cur, {C.BilledCost: 0.0, C.EffectiveCost: 0.0})
            for metric in acc:
                acc[metric] += t[metric]
    return out


def _history(pub: Publication, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The change log: the parent's entries (kept across garbage collection) and this publish's,
    with its rows and its cost change per currency against the parent."""
    parent = manifest(pub.root, pub.parent) if pub.parent else None
    before = totals(parent["partitions"]) if parent else {}
    after = totals(doc["partitions"])
    delta = {
        cur: {
            m: after.get(cur, {}).get(m, 0.0) - before.get(cur, {}).get(m, 0.0) for m in (C.BilledCost, C.EffectiveCost)
        }
        for cur in sorted(set(before) | set(after))
    }
    entry = {
        "data_version": doc["data_version"],
        "at": doc["created_at"],
        "user": pub.user,
        "note": pub.note,
        "sources": [s.get("name", "") for s in pub.sources],
        "rows": sum(int(i["rows"]) for i in doc["partitions"].values()),
        "totals": after,
        "delta": delta,
    }
    earlier: list[dict[str, Any]] = parent.get("history", []) if parent else []
    return [*earlier, entry]


def _partition_stats(staging: Path, known: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Files, rows and totals per period; a period carried over unchanged keeps its known stats."""
    out: dict[str, dict[str, Any]] = {}
    con = duckdb.connect()
    for folder in sorted(staging.glob("billing_period=*")):
        files = sorted(p.name for p in folder.glob("*.parquet"))
        if not files:
            continue
        period = folder.name.split("=", 1)[1]
        if period in known and sorted(known[period]["files"]) == files:
            out[period] = known[period]
            continue
        rows = db.rows(
            con,
            f"SELECT {C.BillingCurrency}, count(*), sum({C.BilledCost}), sum({C.EffectiveCost}) "
            "FROM read_parquet(?) GROUP BY ALL ORDER BY 1",
            [[str(folder / f) for f in files]],
        )
        out[folder.name.split("=", 1)[1]] = {
            "files": files,
            "rows": sum(r[1] for r in rows),
            "totals": {r[0]: {C.BilledCost: r[2], C.EffectiveCost: r[3]} for r in rows},
        }
    con.close()
    return out


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _collect_garbage(root: Path) -> None:
    versions = sorted((p for p in (root / "versions").iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    current = current_version(root)
    for old in versions[:-KEEP_VERSIONS]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)


def is_outdated(root: Path, version: str | None = None) -> bool:
    """True when a version's rollups were built by an older release (``rebuild`` brings it up to date)."""
    return bool(manifest(root, version).get("schema_version") != SCHEMA_VERSION)


def rebuild(root: Path, note: str = "rebuild: rules changed") -> str:
    """Publish a new version with the same rows and freshly built rollups (current rules)."""
    version_dir(root)  # refuses an empty store with a clear message
    with publish(root, note=note) as pub:
        pub.full = True  # every partition is carried over; every rollup is aggregated again
    return current_version(root) or ""


def connect(root: Path | str | None = None, version: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the ``costs`` view (FOCUS rows + x_ columns) and the rollups.

    Views: ``costs`` (one row per charge, after allocation: a split charge is one row per team),
    ``focus_rows`` (one row per charge as billed, with its direct attribution), ``daily`` (one row
    per day x rollup dimensions x currency), ``resource_daily`` (one row per day x resource
    dimensions x currency), ``compliance`` (tag compliance per month, account, service, team).
    """
    path = store_path(root)
    vdir = version_dir(path, version)
    if is_outdated(path, vdir.name):
        raise StoreError(
            f"{path}: data version {vdir.name} was built by an older release; "
            f"run `python -m finops_core rebuild --store {path}` (no re-ingest needed)"
        )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"ATTACH {rollups.quote_path(vdir / 'rollups.duckdb')} AS r (READ_ONLY)")
    rollups.create_views(con, partition_files(path, vdir.name), "r")
    commitment_days.create_view(con, "r")
    from finops_core.ingest import contracts  # the ingest package imports this module

    contracts.create_views(con, vdir / CONTRACTS, partition_files(path, vdir.name), "r")
    return con
