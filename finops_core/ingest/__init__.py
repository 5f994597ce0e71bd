"""Ingest provider billing exports into FOCUS 1.2 snapshots in the store.

``ingest(paths, root)`` detects each file's format from its header, streams it through the
source's mapping into Parquet (files per billing period, billing account and source), checks it,
and publishes everything in one new store version, or nothing. The files of one (source, period,
account) form a delivery of parts (``deliveries``): parts are added to it, a restated delivery
replaces it as a whole. Re-ingesting a file already in the store changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finops_core import store
from finops_core.ingest import aws, azure, deliveries, focus, gcp, oci
from finops_core.ingest.core import IngestError, InputFile, describe
from finops_core.ingest.pipeline import Plan, Staged, add_totals, connection, stage
from finops_core.schema import C

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
    issues: list[dict[str, Any]] = field(default_factory=list)  # nonconforming rows kept, per rule
    notes: list[str] = field(default_factory=list)  # the FOCUS version read, the columns not carried
    skipped: bool = False  # already in the store
    replaces: list[str] = field(default_factory=list)  # sha256 of the sources whose parts it replaced


@dataclass
class IngestReport:
    inputs: list[InputReport]
    published: bool
    data_version: str | None
    changes: list[deliveries.Change] = field(default_factory=list)  # one per delivery touched


def detect(file: InputFile) -> Any:
    """The source module whose header test ``file`` passes; refuses an unknown layout."""
    columns = list(file.columns)
    for mod in SOURCES.values():
        if mod.detect(columns):
            return mod
    lower = {c.lower() for c in columns}
    if {"contractcommitmentid", "contractcommitmentcost"} <= lower:
        raise IngestError(
            f"{file.path}: row 1 (header): a FOCUS 1.3 Contract Commitment dataset (contract terms, not cost "
            "and usage rows); it is not ingested here"
        )
    known = "; ".join(f"{k}: {m.NAME}" for k, m in SOURCES.items())
    shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
    raise IngestError(f"{file.path}: row 1 (header): unknown export format (columns {shown}). Known formats: {known}")


def plan(paths: list[Path], source: str = "auto") -> list[Plan]:
    """Detect each input's format; one plan per distinct file (the same file given twice is one)."""
    con = connection()
    try:
        files = [describe(con, p) for p in deliveries.expand_manifests([Path(p) for p in paths])]
    finally:
        con.close()
    plans: list[Plan] = []
    seen: set[str] = set()
    for f in files:
        mod = detect(f)
        if source not in ("auto", mod.KEY):
            raise IngestError(f"{f.path}: --source {source} given, but the header is that of {mod.KEY} ({mod.NAME})")
        _require_columns(f, mod)
        sha = store.sha256_file(f.path)
        if sha not in seen:
            seen.add(sha)
            series = getattr(mod, "series", None)
            plans.append(Plan(mod, [f], sha, series(f) if series else ""))
    return plans


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
    ``deliveries``), and files a delivery no longer holds are left out of the new version.
    """
    plans = plan(paths, source)
    reports = [InputReport(p.label, p.source.KEY, p.sha256) for p in plans]
    before = {s["sha256"] for s in _live_sources(root)}
    for r in reports:
        r.skipped = r.sha256 in before
    if all(r.skipped for r in reports):
        return IngestReport(reports, False, store.current_version(root))
    todo = [(p, r) for p, r in zip(plans, reports, strict=True) if not r.skipped]
    with store.publish(root, note="ingest " + ", ".join(r.label for _, r in todo), user=user) as pub:
        parent = store.manifest(root, pub.parent) if pub.parent else {"partitions": {}, "sources": []}
        current = deliveries.of(parent)
        batch: dict[str, list[dict[str, Any]]] = {}
        for i, (p, r) in enumerate(todo):
            staged = stage(p, pub.staging, pub.staging / f".ingest-{i}")
            r.rows_in, r.warnings, r.issues, r.notes = staged.rows_in, staged.warnings, staged.issues, staged.notes
            for k, part in _parts(p, staged).items():
                batch.setdefault(k, []).append(part)
        _fill_stats(current, list(batch), root, pub.parent)
        given = {r.sha256 for r in reports if r.skipped}
        updated, changes = deliveries.merge(current, batch, given)
        _apply(pub, current, updated, batch)
        pub.deliveries = updated
        for p, r in todo:
            _report_live(r, [updated[k] for k in batch], changes)
            pub.add_source(_record(p, r, batch))
    return IngestReport(reports, True, store.current_version(root), changes)


def _parts(p: Plan, staged: Staged) -> dict[str, dict[str, Any]]:
    """This input's part of each delivery it has rows for (an export usually feeds one)."""
    stem, number = deliveries.part_id(p.files[0].path, series_words=bool(p.series))
    out: dict[str, dict[str, Any]] = {}
    for f in staged.files:
        k = deliveries.key(p.source.KEY, f.period, f.account)
        part = out.setdefault(
            k,
            {"sha256": p.sha256, "name": p.files[0].path.name, "stem": stem, "number": number, "series": p.series}
            | {"files": []},
        )
        part["files"].append({"name": f.name, "role": f.role, "rows": f.rows, "totals": f.totals})
    return out


def _fill_stats(current: dict[str, dict[str, Any]], keys: list[str], root: Path, parent: str | None) -> None:
    """Rows and totals of the stored files a legacy manifest did not record per file."""
    missing = [
        (f, f"{store.version_dir(root, parent)}/billing_period={current[k]['period']}/{f['name']}")
        for k in keys
        if k in current
        for p in current[k]["parts"]
        for f in p["files"]
        if "rows" not in f
    ]
    if not missing:
        return
    con = connection()
    try:
        for f, path in missing:
            f["rows"], f["totals"] = 0, {}
            for cur, n, billed, effective in con.execute(
                f"SELECT {C.BillingCurrency}, count(*), sum({C.BilledCost}), sum({C.EffectiveCost}) "
                "FROM read_parquet(?) GROUP BY 1",
                [path],
            ).fetchall():
                f["rows"] += int(n)
                f["totals"][cur] = {C.BilledCost: float(billed), C.EffectiveCost: float(effective)}
    finally:
        con.close()


def _apply(
    pub: store.Publication,
    current: dict[str, dict[str, Any]],
    updated: dict[str, dict[str, Any]],
    batch: dict[str, list[dict[str, Any]]],
) -> None:
    """Leave out of the new version every file the merged deliveries no longer hold."""
    for k in batch:
        period = updated[k]["period"]
        live = {f["name"] for f in deliveries.live_files(updated[k])}
        old = {f["name"] for f in deliveries.live_files(current[k])} if k in current else set()
        for name in old - live:
            pub.drop_file(period, name)
        for part in batch[k]:
            for f in part["files"]:
                if f["name"] not in live:
                    (pub.staging / f"billing_period={period}" / f["name"]).unlink()


def _report_live(r: InputReport, touched: list[dict[str, Any]], changes: list[deliveries.Change]) -> None:
    """The input's rows and totals as published (without rows its delivery leaves out)."""
    files = [
        f
        for d in touched
        for f in deliveries.live_files(d)
        for p in d["parts"]
        if p["sha256"] == r.sha256 and f in p["files"]
    ]
    r.rows, r.totals = sum(f["rows"] for f in files), add_totals(f["totals"] for f in files)
    keys = {
        deliveries.key(d["source"], d["period"], d["account"])
        for d in touched
        if any(p["sha256"] == r.sha256 for p in d["parts"])
    }
    r.replaces = sorted(
        {sha for c in changes if deliveries.key(c.source, c.period, c.account) in keys for sha in c.replaced}
    )


def _record(p: Plan, r: InputReport, batch: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    files = [
        f"{k.split(deliveries.SEP)[1]}/{f['name']}"
        for k, parts in batch.items()
        for part in parts
        if part["sha256"] == p.sha256
        for f in part["files"]
    ]
    return {
        "name": " + ".join(f.path.name for f in p.files),
        "kind": "ingest",
        "source": p.source.KEY,
        "series": p.series,
        "inputs": [{"path": str(f.path.resolve()), "bytes": f.path.stat().st_size} for f in p.files],
        "sha256": r.sha256,
        "rows_in": r.rows_in,
        "rows": r.rows,
        "totals": r.totals,
        "files": sorted(files),
        "replaces": r.replaces,
        "warnings": r.warnings,
        "issues": r.issues,
        "notes": r.notes,
    }


__all__ = [
    "SOURCES",
    "IngestError",
    "IngestReport",
    "InputReport",
    "detect",
    "ingest",
    "live_records",
    "live_sources",
    "plan",
]
