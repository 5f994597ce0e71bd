"""Ingest provider billing exports into FOCUS 1.2 snapshots in the store.

``ingest(paths, root)`` detects each file's format from its header, streams it through the
source's mapping into Parquet (one file per billing period, billing account and source), checks
it, and publishes everything in one new store version, or nothing. Re-ingesting a file already
in the store changes nothing; a newer export for the same (billing period, billing account,
source) replaces the older file, and the manifest records which source it replaced.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finops_core import store
from finops_core.ingest import aws, azure, focus, gcp, oci
from finops_core.ingest.core import IngestError, InputFile, describe
from finops_core.ingest.pipeline import Plan, Staged, connection, stage

SOURCES: dict[str, Any] = {m.KEY: m for m in (focus, aws, azure, gcp, oci)}


@dataclass
class InputReport:
    label: str
    source: str
    sha256: str
    rows_in: int = 0
    rows: int = 0
    totals: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    skipped: bool = False  # already in the store
    replaces: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    inputs: list[InputReport]
    published: bool
    data_version: str | None


def detect(file: InputFile) -> Any:
    """The source module whose header test ``file`` passes; refuses an unknown layout."""
    columns = list(file.columns)
    for mod in SOURCES.values():
        if mod.detect(columns):
            return mod
    known = "; ".join(f"{k}: {m.NAME}" for k, m in SOURCES.items())
    shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
    raise IngestError(f"{file.path}: row 0 (header): unknown export format (columns {shown}). Known formats: {known}")


def plan(paths: list[Path], source: str = "auto") -> list[Plan]:
    """Detect and group the inputs (Azure actual + amortized pairs become one plan)."""
    con = connection()
    try:
        files = [describe(con, Path(p)) for p in paths]
    finally:
        con.close()
    by_source: dict[str, list[InputFile]] = {}
    for f in files:
        mod = detect(f)
        if source not in ("auto", mod.KEY):
            raise IngestError(f"{f.path}: --source {source} given, but the header is that of {mod.KEY} ({mod.NAME})")
        _require_columns(f, mod)
        by_source.setdefault(mod.KEY, []).append(f)
    plans: list[Plan] = []
    for key, group in by_source.items():
        mod = SOURCES[key]
        grouping = getattr(mod, "group", None)
        for part in grouping(group) if grouping else [[f] for f in group]:
            plans.append(Plan(mod, part))
    return plans


def _require_columns(f: InputFile, mod: Any) -> None:
    lower = {c.lower() for c in f.columns}
    missing = [" or ".join(alts) for alts in getattr(mod, "REQUIRED", ()) if not any(a.lower() in lower for a in alts)]
    if missing:
        raise IngestError(f"{f.path}: row 0 (header): {mod.NAME} without required column(s) {', '.join(missing)}")


def _sha(p: Plan) -> str:
    shas = sorted(store.sha256_file(f.path) for f in p.files)
    return shas[0] if len(shas) == 1 else hashlib.sha256("+".join(shas).encode()).hexdigest()


def _live_sources(root: Path) -> list[dict[str, Any]]:
    if store.current_version(root) is None:
        return []
    sources: list[dict[str, Any]] = store.manifest(root)["sources"]
    replaced = {sha for s in sources for sha in s.get("replaces", [])}
    return [s for s in sources if s.get("kind") == "ingest" and s["sha256"] not in replaced]


def live_sources(root: Path) -> list[dict[str, Any]]:
    """One row per ingested source whose files are in the current version: name, format, rows, files."""
    return [
        {
            "name": s["name"],
            "source": s["source"],
            "rows": s["rows"],
            "ingested_at": s["ingested_at"],
            "files": len(s["files"]),
        }
        for s in _live_sources(root)
    ]


def ingest(paths: list[Path], root: Path, source: str = "auto") -> IngestReport:
    """Ingest ``paths`` into the store at ``root`` in one publication (all or nothing)."""
    plans = plan(paths, source)
    reports = [InputReport(p.label, p.source.KEY, _sha(p)) for p in plans]
    live = {s["sha256"] for s in _live_sources(root)}
    todo = []
    for p, r in zip(plans, reports, strict=True):
        r.skipped = r.sha256 in live
        if not r.skipped:
            todo.append((p, r))
    if not todo:
        return IngestReport(reports, False, store.current_version(root))
    with store.publish(root, note="ingest " + ", ".join(r.label for _, r in todo)) as pub:
        parent = store.manifest(root, pub.parent) if pub.parent else {"partitions": {}, "sources": []}
        for i, (p, r) in enumerate(todo):
            staged = stage(p, pub.staging, pub.staging / f".ingest-{i}")
            r.rows_in, r.rows, r.totals, r.warnings = staged.rows_in, staged.rows, staged.totals, staged.warnings
            r.replaces = _replace(pub, parent, p.source.KEY, staged)
            pub.add_source(_record(p, r, staged))
    return IngestReport(reports, True, store.current_version(root))


def _replace(pub: store.Publication, parent: dict[str, Any], key: str, staged: Staged) -> list[str]:
    """Drop the parent's files for the same (period, account, source); return the sources they came from."""
    dropped: set[str] = set()
    for period, names in staged.files.items():
        prefixes = {n.rsplit("--", 1)[0] + "--" for n in names}
        for old in parent["partitions"].get(period, {}).get("files", []):
            if any(old.startswith(pre) for pre in prefixes):
                pub.drop_file(period, old)
                dropped.add(f"{period}/{old}")
    return sorted({s["sha256"] for s in parent["sources"] if dropped & set(s.get("files", []))})


def _record(p: Plan, r: InputReport, staged: Staged) -> dict[str, Any]:
    return {
        "name": " + ".join(f.path.name for f in p.files),
        "kind": "ingest",
        "source": p.source.KEY,
        "inputs": [{"path": str(f.path.resolve()), "bytes": f.path.stat().st_size} for f in p.files],
        "sha256": r.sha256,
        "rows_in": r.rows_in,
        "rows": r.rows,
        "totals": r.totals,
        "files": sorted(f"{period}/{n}" for period, names in staged.files.items() for n in names),
        "replaces": r.replaces,
        "warnings": r.warnings,
    }


__all__ = ["SOURCES", "IngestError", "IngestReport", "InputReport", "detect", "ingest", "live_sources", "plan"]
