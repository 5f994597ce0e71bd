"""Publish planned inputs in one store version: groups of files (deliveries) staged, merged into the
stored deliveries, and published together, or nothing.

``ingest`` gives one group and is strict: any refusal publishes nothing. ``sync`` gives one group
per provider delivery and is tolerant: a refused group (its files and everything staged from them)
is left out and reported with its location, and the other groups publish in the same version.
A group is all or nothing, so a delivery is never half-published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finops_core import store
from finops_core.ingest import contracts, deliveries
from finops_core.ingest.core import IngestError, InputFile
from finops_core.ingest.pipeline import Plan, Staged, add_totals, connection, stage
from finops_core.schema import C


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
class Group:
    """One delivery's planned inputs: cost-row plans and Contract Commitment files (with sha256)."""

    label: str
    plans: list[Plan] = field(default_factory=list)
    contract_files: list[tuple[InputFile, str]] = field(default_factory=list)
    error: str = ""  # refused while planning


@dataclass
class IngestReport:
    inputs: list[InputReport]
    published: bool
    data_version: str | None
    changes: list[deliveries.Change] = field(default_factory=list)  # one per delivery touched
    refused: list[tuple[str, str]] = field(default_factory=list)  # (group label, error) left out
    contracts: list[tuple[str, int]] = field(default_factory=list)  # (file, commitments read)


class _Nothing(Exception):
    """Every group was refused: end the publication without a new version."""


def live_shas(root: Path) -> set[str]:
    if store.current_version(root) is None:
        return set()
    return {p["sha256"] for d in deliveries.of(store.manifest(root)).values() for p in d["parts"]}


def _contract_shas(root: Path) -> set[str]:
    if store.current_version(root) is None:
        return set()
    return {s["sha256"] for s in store.manifest(root)["sources"] if s.get("kind") == "contracts"}


def publish_groups(groups: list[Group], root: Path, user: str = "", strict: bool = True) -> IngestReport:
    """Stage, merge and publish ``groups`` (see module doc); already stored files are skipped."""
    before, known = live_shas(root), _contract_shas(root)
    reports = {
        id(p): InputReport(p.label, p.source.KEY, p.sha256, skipped=p.sha256 in before) for g in groups for p in g.plans
    }
    report = IngestReport(list(reports.values()), False, store.current_version(root))
    report.refused = [(g.label, g.error) for g in groups if g.error]
    todo = [g for g in groups if not g.error]
    new_contracts = [(f, sha) for g in todo for f, sha in g.contract_files if sha not in known]
    if all(reports[id(p)].skipped for g in todo for p in g.plans) and not new_contracts:
        return report
    labels = [r.label for r in report.inputs if not r.skipped] + [str(f.path) for f, _ in new_contracts]
    try:
        with store.publish(root, note="ingest " + ", ".join(labels), user=user) as pub:
            parent = store.manifest(root, pub.parent) if pub.parent else {"partitions": {}, "sources": []}
            current = deliveries.of(parent)
            staged_contracts: list[Path] = []
            for i, g in enumerate(todo):
                try:
                    current = _group(pub, g, i, current, reports, root, report, staged_contracts, known)
                except IngestError as exc:
                    if strict:
                        raise
                    _unstage(pub.staging, g)
                    report.refused.append((g.label, str(exc)))
            if not report.changes and not staged_contracts:
                raise _Nothing
            pub.deliveries = current
            if staged_contracts:
                _merge_contracts(pub, root, staged_contracts)
    except _Nothing:
        return report
    report.published, report.data_version = True, store.current_version(root)
    return report


def _group(
    pub: store.Publication,
    g: Group,
    i: int,
    current: dict[str, dict[str, Any]],
    reports: dict[int, InputReport],
    root: Path,
    report: IngestReport,
    staged_contracts: list[Path],
    known: set[str],
) -> dict[str, dict[str, Any]]:
    """Stage one group and merge it into ``current``; returns the deliveries after it."""
    batch: dict[str, list[dict[str, Any]]] = {}
    todo = [p for p in g.plans if not reports[id(p)].skipped]
    for j, p in enumerate(todo):
        r = reports[id(p)]
        staged = stage(p, pub.staging, pub.staging / f".ingest-{i}-{j}")
        r.rows_in, r.warnings, r.issues, r.notes = staged.rows_in, staged.warnings, staged.issues, staged.notes
        for k, part in _parts(p, staged).items():
            batch.setdefault(k, []).append(part)
    contract_out = []
    con = connection()
    try:
        for f, sha in g.contract_files:
            if sha in known:
                continue
            out = pub.staging / contracts.FOLDER / f"new--{sha[:12]}.parquet"
            contract_out.append((f, sha, out, contracts.stage(con, f, out)))
    finally:
        con.close()
    _fill_stats(current, list(batch), root, pub.parent)
    given = {reports[id(p)].sha256 for p in g.plans if reports[id(p)].skipped}
    updated, changes = deliveries.merge(current, batch, given)
    _apply(pub, current, updated, batch)
    for p in todo:
        _report_live(reports[id(p)], [updated[k] for k in batch], changes)
        pub.add_source(_record(p, reports[id(p)], batch))
    for f, sha, out, rows in contract_out:
        staged_contracts.append(out)
        known.add(sha)
        report.contracts.append((str(f.path), rows))
        pub.add_source(
            {"name": f.path.name, "kind": "contracts", "source": "focus-contract-commitment", "sha256": sha}
            | {"rows": rows, "files": [], "inputs": [{"path": str(f.path.resolve()), "bytes": f.path.stat().st_size}]}
        )
    report.changes += changes
    return updated


def _unstage(staging: Path, g: Group) -> None:
    """Remove everything staged from a refused group's files (their names carry the sha256)."""
    for sha in [p.sha256[:12] for p in g.plans] + [s[:12] for _, s in g.contract_files]:
        for f in staging.rglob(f"*--{sha}*"):
            if f.is_file():
                f.unlink()


def _merge_contracts(pub: store.Publication, root: Path, new: list[Path]) -> None:
    folder = pub.staging / contracts.FOLDER
    old = store.version_dir(root, pub.parent) / contracts.FOLDER / contracts.COMMITMENTS_FILE if pub.parent else None
    con = connection()
    try:
        contracts.merge(
            con, old if old is not None and old.exists() else None, new, folder / contracts.COMMITMENTS_FILE
        )
    finally:
        con.close()
    for f in new:
        f.unlink()


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
    """Leave out of the new version every file the merged deliveries no longer hold (a file staged
    by an earlier group of this publication is removed; one of the parent version is not carried)."""
    for k in batch:
        period = updated[k]["period"]
        live = {f["name"] for f in deliveries.live_files(updated[k])}
        old = {f["name"] for f in deliveries.live_files(current[k])} if k in current else set()
        gone = [n for n in old - live] + [
            f["name"] for part in batch[k] for f in part["files"] if f["name"] not in live
        ]
        for name in gone:
            staged = [
                pub.staging / f"billing_period={period}" / name,
                pub.staging / contracts.FOLDER / contracts.APPLIED / f"billing_period={period}" / name,
            ]
            if staged[0].exists():
                for s in staged:
                    s.unlink(missing_ok=True)
            else:
                pub.drop_file(period, name)


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
