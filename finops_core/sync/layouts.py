"""Which files of an export prefix form the newest delivery of each billing period.

Providers write exports into a bucket as they go, each run beside or over the last:

| layout | path (under the source URL) | a delivery | newest |
|---|---|---|---|
| AWS Data Exports / CUR 2.0 | ``<export>/data/BILLING_PERIOD=YYYY-MM/[<run>/]<export>-00001.csv.gz`` and ``<export>/metadata/BILLING_PERIOD=YYYY-MM/[<run>/]<export>-Manifest.json`` | the files the manifest's ``dataFiles`` lists (else a run folder, else the period folder) | the latest manifest, else the latest run folder |
| legacy CUR | ``<report>/YYYYMMDD-YYYYMMDD/<assemblyId>/<report>-1.csv.gz`` and ``<report>/YYYYMMDD-YYYYMMDD/<report>-Manifest.json`` | an assembly folder | the one the range's manifest names, else the latest |
| Azure cost exports (also FOCUS) | ``<dir>/<export>/YYYYMMDD-YYYYMMDD/<run-id>/part_0_0001.csv`` (+ ``manifest.json``), or ``.../YYYYMMDD-YYYYMMDD/<export>_<guid>.csv`` | a run folder, or a file | the latest run |
| anything else: FOCUS exports, GCP export files, OCI ``reports/cost-csv`` | any folder | every data file of the folder | the folder as it is |

"Latest" is the run whose newest file was written last (ties: the larger name). Older runs of the
same export and period are never read: a newer run is the provider's restatement. A folder of the
last kind is one delivery: the ingest pipeline adds its new files, skips the stored ones and
replaces a restated month (``ingest/deliveries.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from finops_core.ingest.deliveries import part_id
from finops_core.sync.remote import Entry

_DATA = (".csv", ".csv.gz", ".gz", ".parquet", ".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz")
_CUR2 = re.compile(r"^(?P<export>(?:.*/)?)data/BILLING_PERIOD=(?P<period>\d{4}-\d{2})/(?P<rest>.+)$", re.I)
_CUR2_MANIFEST = re.compile(
    r"^(?P<export>(?:.*/)?)metadata/BILLING_PERIOD=(?P<period>\d{4}-\d{2})/(?:[^/]+/)?[^/]*Manifest\.json$", re.I
)
_RANGE = re.compile(r"^(?P<export>(?:.*/)?)(?P<range>\d{8}-\d{8})/(?P<rest>.+)$")


@dataclass
class Delivery:
    """The files of one delivery: ``key`` is what a newer run replaces (export and period)."""

    layout: str  # cur2, cur, run-folder, folder
    key: str
    run: str
    files: list[Entry] = field(default_factory=list)
    error: str = ""  # the delivery cannot be read whole (a manifest lists a missing file)
    superseded: int = 0  # older runs of the same key, not read

    @property
    def newest(self) -> tuple[float, str]:
        return max((f.mtime for f in self.files), default=0.0), self.run


def is_data(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1].lower()
    return name.endswith(_DATA) and "manifest" not in name and not name.startswith((".", "_"))


def plan(entries: list[Entry], root: str, read: Callable[[Entry], str]) -> list[Delivery]:
    """The newest delivery per export and period among ``entries`` (listed under ``root``)."""
    runs: dict[tuple[str, str, str], Delivery] = {}
    manifests: dict[str, list[Entry]] = {}
    for e in entries:
        rel = e.path[len(root) :].lstrip("/")
        if m := _CUR2_MANIFEST.match(rel):
            manifests.setdefault(f"{m['export']}{m['period']}", []).append(e)
            continue
        if rel.lower().endswith("-manifest.json") and (m := _RANGE.match(rel)) and "/" not in m["rest"]:
            manifests.setdefault(f"{m['export']}{m['range']}", []).append(e)
            continue
        if not is_data(rel):
            continue
        layout, key, run = _classify(rel)
        runs.setdefault((layout, key, run), Delivery(layout, key, run)).files.append(e)
    by_key: dict[tuple[str, str], list[Delivery]] = {}
    for d in runs.values():
        by_key.setdefault((d.layout, d.key), []).append(d)
    out = []
    for (layout, key), found in sorted(by_key.items()):
        listed = sorted(manifests.get(key, []), key=lambda e: (e.mtime, e.path))
        chosen = _by_manifest(layout, key, found, listed[-1], read) if listed else None
        chosen = chosen or max(found, key=lambda d: d.newest)
        chosen.superseded = len(found) - 1
        out.append(chosen)
    return out


def _classify(rel: str) -> tuple[str, str, str]:
    if m := _CUR2.match(rel):
        rest = m["rest"]
        return "cur2", f"{m['export']}{m['period']}", rest.split("/", 1)[0] if "/" in rest else ""
    if m := _RANGE.match(rel):
        rest = m["rest"]
        key = f"{m['export']}{m['range']}"
        if "/" in rest:
            return "run-folder", key, rest.split("/", 1)[0]
        stem, number = part_id(Path(rest))
        return "run-folder", key, stem if number is not None else rest
    folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
    return "folder", folder, ""


def _by_manifest(
    layout: str, key: str, found: list[Delivery], manifest: Entry, read: Callable[[Entry], str]
) -> Delivery | None:
    """The delivery a provider manifest describes: CUR 2.0's ``dataFiles``, legacy CUR's ``assemblyId``."""
    try:
        doc = json.loads(read(manifest))
    except (ValueError, OSError):
        return None
    if not isinstance(doc, dict):
        return None
    files = [f for d in found for f in d.files]
    if isinstance(doc.get("dataFiles"), list):
        wanted = [str(u).split("://", 1)[-1] for u in doc["dataFiles"]]
        picked = [f for f in files if any(f.path.endswith(w.split("/", 1)[-1]) or f.path == w for w in wanted)]
        run = str(doc.get("executionId") or manifest.path)
        d = Delivery(layout, key, run, picked)
        if len(picked) < len(wanted):
            names = [
                w.rsplit("/", 1)[-1] for w in wanted if not any(f.path.endswith(w.split("/", 1)[-1]) for f in picked)
            ]
            d.error = f"{manifest.path}: the manifest lists {len(wanted)} data file(s); not found: {', '.join(names)}"
        return d
    assembly = doc.get("assemblyId")
    return next((d for d in found if assembly and d.run == assembly), None)
