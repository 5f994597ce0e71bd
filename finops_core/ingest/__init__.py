"""Ingest provider billing exports into FOCUS 1.2 snapshots in the store.

``ingest(paths, root)`` detects each file's format from its header, streams it through the
source's mapping into Parquet (files per billing period, billing account and source), checks it,
and publishes everything in one new store version, or nothing. The files of one (source, period,
account) form a delivery of parts (``deliveries``): parts are added to it, a restated delivery
replaces it as a whole. Re-ingesting a file already in the store changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finops_core import store
from finops_core.ingest import aws, azure, batch, contracts, deliveries, focus, gcp, oci
from finops_core.ingest.batch import Group, IngestReport, InputReport
from finops_core.ingest.core import IngestError, InputFile, describe
from finops_core.ingest.pipeline import Plan, connection

SOURCES: dict[str, Any] = {m.KEY: m for m in (focus, aws, azure, gcp, oci)}


def detect(file: InputFile) -> Any:
    """The source module whose header test ``file`` passes; refuses an unknown layout."""
    columns = list(file.columns)
    for mod in SOURCES.values():
        if mod.detect(columns):
            return mod
    known = "; ".join(f"{k}: {m.NAME}" for k, m in SOURCES.items())
    shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
    raise IngestError(f"{file.path}: row 1 (header): unknown export format (columns {shown}). Known formats: {known}")


def plan(paths: list[Path], source: str = "auto") -> list[Plan]:
    """Detect each input's format; one plan per distinct file (the same file given twice is one)."""
    return plan_group(paths, source).plans


def plan_group(paths: list[Path], source: str = "auto", label: str = "") -> Group:
    """The plans of ``paths`` (one per distinct cost file) and its FOCUS 1.3 Contract Commitment files."""
    con = connection()
    try:
        files = [describe(con, p) for p in deliveries.expand_manifests([Path(p) for p in paths])]
    finally:
        con.close()
    group = Group(label or ", ".join(str(p) for p in paths))
    seen: set[str] = set()
    for f in files:
        sha = store.sha256_file(f.path)
        if contracts.is_contract_dataset(list(f.columns)):
            if source not in ("auto", focus.KEY):
                raise IngestError(
                    f"{f.path}: --source {source} given, but it is a FOCUS 1.3 Contract Commitment dataset"
                )
            group.contract_files.append((f, sha))
            continue
        mod = detect(f)
        if source not in ("auto", mod.KEY):
            raise IngestError(f"{f.path}: --source {source} given, but the header is that of {mod.KEY} ({mod.NAME})")
        _require_columns(f, mod)
        if sha not in seen:
            seen.add(sha)
            series = getattr(mod, "series", None)
            group.plans.append(Plan(mod, [f], sha, series(f) if series else ""))
    return group


def _require_columns(f: InputFile, mod: Any) -> None:
    lower = {c.lower() for c in f.columns}
    missing = [" or ".join(alts) for alts in getattr(mod, "REQUIRED", ()) if not any(a.lower() in lower for a in alts)]
    if missing:
        raise IngestError(f"{f.path}: row 1 (header): {mod.NAME} without required column(s) {', '.join(missing)}")


def _live_shas(current: dict[str, dict[str, Any]]) -> set[str]:
    return {p["sha256"] for d in current.values() for p in d["parts"]}


def _live_sources(root: Path) -> list[dict[str, Any]]:
    if store.current_version(root) is None:
        return []
    doc = store.manifest(root)
    live = _live_shas(deliveries.of(doc))
    latest = {s["sha256"]: s for s in doc["sources"] if s.get("kind") == "ingest" and s["sha256"] in live}
    return list(latest.values())  # a file ingested again after it was replaced: its latest record


def live_records(root: Path) -> list[dict[str, Any]]:
    """The manifest records (with their warnings) of the ingested sources whose files are in the current version."""
    return _live_sources(root)


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


def ingest(paths: list[Path], root: Path, source: str = "auto", user: str = "") -> IngestReport:
    """Ingest ``paths`` into the store at ``root`` in one publication (all or nothing); ``user`` is
    who ingests (the change log's "who", default ``$USER``).

    Each file is staged on its own; the files are then merged into the stored deliveries (see
    ``deliveries``), and files a delivery no longer holds are left out of the new version. FOCUS 1.3
    Contract Commitment files go to the version's contract table (``contracts``).
    """
    return batch.publish_groups([plan_group(paths, source)], root, user=user, strict=True)


def ingest_deliveries(groups: list[tuple[str, list[Path], str]], root: Path, user: str = "") -> IngestReport:
    """Ingest several deliveries (label, files, format) in one publication; a refused delivery is
    left out and reported in ``refused`` with its error, the others publish (``sync``)."""
    planned = []
    for label, paths, source in groups:
        try:
            planned.append(plan_group(paths, source, label))
        except IngestError as exc:
            planned.append(batch.Group(label, error=str(exc)))
    return batch.publish_groups(planned, root, user=user, strict=False)


__all__ = [
    "SOURCES",
    "IngestError",
    "IngestReport",
    "InputReport",
    "detect",
    "ingest",
    "ingest_deliveries",
    "live_records",
    "live_sources",
    "plan",
]
