"""Deliveries: what the store keeps per (source, billing period, billing account).

A provider writes one month of one account as one export or as several parts (CUR's
``<report>-00001.csv.gz`` ..., Azure's ``part_0_0001.csv`` ..., a FOCUS export folder of chunks).
The store keeps that as one *delivery* of parts (the input files), so no part's rows are lost:

- parts given in one command are published together as one delivery;
- a part arriving alone whose name says it is another part of the stored delivery (same name but
  for a part number not yet stored) is added to it;
- anything else is a restatement and replaces the stored delivery as a whole (a part number
  already stored, another name, a file without a part number).

Azure's actual-cost and amortized-cost exports are two *series* of one delivery: each series is
replaced or added to on its own, so the pair is the same whichever order or command it comes in.
An AWS CUR manifest (``<report>-Manifest.json``) given as a path stands for the parts it lists.
Manifests written before deliveries existed are read as one ``legacy`` part per live source,
which the next export of the same key replaces (the old rule: the last export wins).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finops_core.ingest.core import IngestError
from finops_core.ingest.pipeline import add_totals

SEP = "|"
_EXTENSIONS = (".gz", ".zst", ".csv", ".parquet", ".snappy", ".json", ".jsonl", ".ndjson")
_PART_PATTERNS = (
    re.compile(r"^(?P<head>.*?part[-_]?)(?P<n>\d+(?:_\d+)?)(?P<tail>.*)$", re.I),  # part_0_0001, part-00000-<uuid>
    re.compile(r"^(?P<head>.*[-_])(?P<n>\d{5})(?P<tail>)$"),  # CUR 2.0 and Data Exports: <export>-00001
    re.compile(r"^(?P<head>.*[^-_0-9][-_])(?P<n>\d{1,3})(?P<tail>)$"),  # legacy CUR <report>-1, not a date's -11
)
_SERIES_WORDS = re.compile(r"amorti[sz]ed|actual", re.I)


@dataclass
class Change:
    """What one command did to one delivery, with the live rows and totals before and after."""

    source: str
    period: str
    account: str
    action: str  # "new", "added" (parts joined the stored delivery) or "replaced"
    parts_before: int
    parts_after: int
    rows_before: int
    rows_after: int
    totals_before: dict[str, dict[str, float]] = field(default_factory=dict)
    totals_after: dict[str, dict[str, float]] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)  # sha256 of the parts it replaced


def key(source: str, period: str, account: str) -> str:
    return SEP.join((source, period, account))


def part_id(path: Path, series_words: bool = False) -> tuple[str, str | None]:
    """(stem, part number) of an input file: the name with its part number as ``*``, and the number.

    A generic name (``part_0.csv``, ``data_00001.parquet``) says nothing of the export, so its folder
    is part of the stem. ``series_words`` drops "actual"/"amortized" (Azure's two series share a stem).
    """
    name = path.name.lower()
    while name.endswith(_EXTENSIONS):
        name = name[: name.rfind(".")]
    if series_words:
        name = _SERIES_WORDS.sub("", name)
    number = None
    for pattern in _PART_PATTERNS:
        found = pattern.match(name)
        if found:
            name, number = found["head"] + "*" + found["tail"], found["n"]
            break
    if not re.sub(r"part|data|[-_.*]", "", name):
        name = f"{path.parent.name.lower()}/{name}"
    return name, number


def expand_manifests(paths: list[Path]) -> list[Path]:
    """Paths with each AWS CUR manifest (``*-Manifest.json`` with ``reportKeys``) replaced by the
    parts it lists, found beside it or in its ``assemblyId`` folder; a listed part missing is refused
    (half a delivery would replace the whole stored one)."""
    out: list[Path] = []
    for path in paths:
        keys, assembly = _cur_manifest(path)
        if keys is None:
            out.append(path)
            continue
        missing = []
        for k in keys:
            name = k.rsplit("/", 1)[-1]
            found = next((c for c in (path.parent / name, path.parent / assembly / name) if c.is_file()), None)
            if found is None:
                missing.append(name)
            else:
                out.append(found)
        if missing:
            raise IngestError(
                f"{path}: the CUR manifest lists {len(keys)} part(s); not found beside it: {', '.join(missing)}"
            )
    return out


def _cur_manifest(path: Path) -> tuple[list[str] | None, str]:
    if not path.name.lower().endswith("manifest.json") or not path.is_file() or path.stat().st_size > 1 << 24:
        return None, ""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, ""
    keys = doc.get("reportKeys") if isinstance(doc, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return None, ""
    return keys, str(doc.get("assemblyId") or "")


def of(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The deliveries of a manifest; an older manifest's live sources as one legacy part each."""
    if "deliveries" in manifest:
        found: dict[str, dict[str, Any]] = manifest["deliveries"]
        return found
    sources = manifest.get("sources", [])
    replaced = {sha for s in sources for sha in s.get("replaces", [])}
    out: dict[str, dict[str, Any]] = {}
    for s in sources:
        if s.get("kind") != "ingest" or s["sha256"] in replaced:
            continue
        by_key: dict[str, list[dict[str, Any]]] = {}
        for entry in s.get("files", []):
            period, name = entry.split("/", 1)
            account = name.rsplit("--", 1)[0].split("--", 1)[1]
            only = len(s["files"]) == 1  # then the source's own figures are the file's
            stats = {"rows": s["rows"], "totals": s["totals"]} if only else {}
            by_key.setdefault(key(s["source"], period, account), []).append({"name": name, "role": ""} | stats)
        for k, files in by_key.items():
            source, period, account = k.split(SEP)
            d = out.setdefault(k, {"source": source, "period": period, "account": account, "parts": []})
            d["parts"].append(
                {"sha256": s["sha256"], "name": s["name"], "stem": None, "number": None, "series": "legacy"}
                | {"files": files, "ingested_at": s.get("ingested_at")}
            )
    return out


def live_files(delivery: dict[str, Any]) -> list[dict[str, Any]]:
    """The files of a delivery that are in the store (an actual file's other rows give way to amortized)."""
    amortized = any(p["series"] == "amortized" for p in delivery["parts"])
    return [f for p in delivery["parts"] for f in p["files"] if not (amortized and f["role"] == "rest")]


def stats(delivery: dict[str, Any] | None) -> tuple[int, dict[str, dict[str, float]]]:
    files = live_files(delivery) if delivery else []
    return sum(int(f["rows"]) for f in files), add_totals(f["totals"] for f in files)


def _adds(new: list[dict[str, Any]], stored: list[dict[str, Any]]) -> bool:
    """True when ``new`` are further parts of the same export as ``stored`` (same stem, new numbers)."""
    stems = {p["stem"] for p in stored + new}
    numbers = [p["number"] for p in stored + new]
    return len(stems) == 1 and None not in stems and None not in numbers and len(set(numbers)) == len(numbers)


def merge(
    current: dict[str, dict[str, Any]], batch: dict[str, list[dict[str, Any]]], given: set[str]
) -> tuple[dict[str, dict[str, Any]], list[Change]]:
    """The deliveries after this command's new parts (``batch`` per key); ``given`` are the sha256 of
    stored parts given again in the command (they stay when their delivery is replaced)."""
    updated = dict(current)
    changes = []
    for k, new in batch.items():
        stored = current.get(k)
        parts = list(stored["parts"]) if stored else []
        replaced: list[dict[str, Any]] = []
        for series in dict.fromkeys(p["series"] for p in new):
            new_s = [p for p in new if p["series"] == series]
            # a legacy part, or an Azure file of unknown kind beside a known one, cannot be kept beside new parts
            out = [
                p
                for p in parts
                if p["series"] == "legacy" or (p["series"] != series and "single" in (p["series"], series))
            ]
            same = [p for p in parts if p["series"] == series]
            if same and not _adds(new_s, same):
                out += [p for p in same if p["sha256"] not in given]
            replaced += out
            parts = [p for p in parts if p not in out] + new_s
        _refuse_ambiguous(parts)
        source, period, account = k.split(SEP)
        updated[k] = {"source": source, "period": period, "account": account, "parts": parts}
        (rows_before, before), (rows_after, after) = stats(stored), stats(updated[k])
        if len(after) > 1:
            raise IngestError(
                f"{', '.join(p['name'] for p in new)}: billing account {account} would have several billing "
                f"currencies in {period} ({', '.join(sorted(after))})"
            )
        changes.append(
            Change(
                source,
                period,
                account,
                "new" if not stored else "replaced" if replaced else "added",
                len(stored["parts"]) if stored else 0,
                len(parts),
                rows_before,
                rows_after,
                before,
                after,
                sorted({p["sha256"] for p in replaced}),
            )
        )
    return updated, changes


def _refuse_ambiguous(parts: list[dict[str, Any]]) -> None:
    """Azure files whose kind cannot be told may be an actual and an amortized export of one month."""
    if any(p["series"] == "single" for p in parts) and len({(p["series"], p["stem"]) for p in parts}) > 1:
        names = " + ".join(p["name"] for p in parts)
        raise IngestError(
            f"{names}: cannot tell which is the actual and which the amortized export "
            "(name them *actual* and *amortized*)"
        )


def _deltas(rows_before: int, rows_after: int, before: dict[str, Any], after: dict[str, Any]) -> str:
    """'+N rows; USD BilledCost +x EffectiveCost +y' (after - before, per currency)."""
    delta = add_totals([after])
    for cur, t in before.items():
        acc = delta.setdefault(cur, {k: 0.0 for k in t})
        for k, v in t.items():
            acc[k] -= v
    costs = "; ".join(
        f"{cur} BilledCost {t['BilledCost']:+.6f} EffectiveCost {t['EffectiveCost']:+.6f}"
        for cur, t in sorted(delta.items())
    )
    return f"{rows_after - rows_before:+d} rows; {costs}"


def _parts(n: int) -> str:
    return f"{n} part{'s' if n != 1 else ''}"


def describe_change(c: Change) -> str:
    """One line: the delivery, what happened to it, and the row and cost deltas per currency."""
    what = {
        "new": f"new delivery of {_parts(c.parts_after)}",
        "added": f"added to the stored delivery ({_parts(c.parts_before)} -> {_parts(c.parts_after)})",
        "replaced": f"replaced the stored delivery ({_parts(c.parts_before)}, {c.rows_before} rows) "
        f"with {_parts(c.parts_after)} ({c.rows_after} rows)",
    }[c.action]
    deltas = _deltas(c.rows_before, c.rows_after, c.totals_before, c.totals_after)
    return f"{c.source} {c.period} {c.account}: {what}: {deltas}"


DETAILED = 8  # more deliveries touched than this are summed up in one line


def describe_changes(changes: list[Change]) -> list[str]:
    """A line per delivery touched, or, for a many-month or many-account export, one line in all."""
    if len(changes) <= DETAILED:
        return [describe_change(c) for c in changes]
    counts = ", ".join(
        f"{n} {a}" for a in ("new", "added", "replaced") if (n := sum(1 for c in changes if c.action == a))
    )
    deltas = _deltas(
        sum(c.rows_before for c in changes),
        sum(c.rows_after for c in changes),
        add_totals(c.totals_before for c in changes),
        add_totals(c.totals_after for c in changes),
    )
    periods = f"{min(c.period for c in changes)} to {max(c.period for c in changes)}"
    return [f"{len(changes)} deliveries, {periods} ({counts}; the manifest lists each): {deltas}"]
