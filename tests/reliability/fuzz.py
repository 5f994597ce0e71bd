"""Corrupted billing files derived from the committed samples, and what ingest did with each.

Shared by ``test_fuzz_ingest.py`` (a fixed sample of mutants on every CI run) and
``bench/reliability.py`` (a thousand, with the count per outcome printed).

A mutant is judged by staging it the way ``ingest`` does (detect, map, check, write Parquet) in a
scratch folder. Outcomes:
- ``refused``: an ``IngestError`` whose message names the file;
- ``equal``: staged, with the clean file's rows and per-currency totals;
- ``changed``: staged with other totals; only value-altering mutations (a flipped digit, a cut
  last field) may end here, and only when the input's rows are all accounted for;
- ``crash``: any other exception (a traceback a user would see): always a failure.
"""

from __future__ import annotations

import gzip
import random
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from finops_core.ingest import IngestError, plan
from finops_core.ingest.pipeline import stage

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ingest"
CLEAN = (
    "aws-cur2-fixture.csv",
    "azure-mca-fixture-actual.csv",
    "finops-toolkit-EA_ActualCost_Small.csv",
    "focus_converters-reports_cost-csv_0000000030000269.csv",
    "koku-tmp_example.csv",
)
# mutations that keep every value: a correct reader gives the clean file's totals, or refuses clearly
PRESERVING = {"bom", "crlf", "gzip", "blank_lines", "utf16"}


@dataclass
class Outcome:
    sample: str
    mutation: str
    kind: str  # refused | equal | changed | crash
    detail: str = ""


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(0, len(data))]


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _shift(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = rng.randrange(1, max(2, len(lines) - 1))
    lines[i] = lines[i].replace(b",", b";", rng.randint(1, 3)) if rng.random() < 0.5 else b"," + lines[i]
    return b"\n".join(lines)


def _huge(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = rng.randrange(1, max(2, len(lines) - 1))
    cells = lines[i].split(b",")
    cells[rng.randrange(len(cells))] = b"x" * rng.choice((70_000, 1_100_000))
    lines[i] = b",".join(cells)
    return b"\n".join(lines)


def _dup_header(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    lines.insert(rng.randrange(1, max(2, len(lines))), lines[0])
    return b"\n".join(lines)


def _currency(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    for code in (b"USD", b"EUR", b"GBP", b"DKK"):
        rows = [i for i, line in enumerate(lines[1:], 1) if code in line]
        if rows:
            i = rng.choice(rows)
            lines[i] = lines[i].replace(code, b"JPY" if code != b"JPY" else b"EUR")
            break
    return b"\n".join(lines)


def _lying_gzip(data: bytes, rng: random.Random) -> bytes:
    packed = bytearray(gzip.compress(data))
    if rng.random() < 0.5:
        packed[-4:] = (len(data) * 3 + 7).to_bytes(4, "little")  # the size trailer lies
        return bytes(packed)
    return bytes(packed[: rng.randrange(10, len(packed) - 8)])  # the stream stops early


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "truncate": _truncate,
    "flip": _flip,
    "shift": _shift,
    "huge_field": _huge,
    "dup_header": _dup_header,
    "currency": _currency,
    "empty": lambda data, rng: b"",
    "bom": lambda data, rng: data if data.startswith(b"\xef\xbb\xbf") else b"\xef\xbb\xbf" + data,
    "crlf": lambda data, rng: data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
    "blank_lines": lambda data, rng: data.rstrip(b"\r\n") + (b"\r\n" if b"\r\n" in data else b"\n") * 3,
    "utf16": lambda data, rng: data.decode("utf-8").encode("utf-16"),
    "latin1": lambda data, rng: data.decode("utf-8").replace(",", ",Ø", 1).encode("latin-1", errors="replace"),
    "gzip": lambda data, rng: gzip.compress(data),
    "lying_gzip": _lying_gzip,
    "parquet_schema": lambda data, rng: b"",  # written as Parquet below
}


def write_mutant(sample: str, mutation: str, rng: random.Random, folder: Path) -> Path:
    """The mutant file, named like its sample (so detection by name still applies)."""
    data = (SAMPLES / sample).read_bytes()
    folder.mkdir(parents=True, exist_ok=True)
    if mutation == "parquet_schema":
        path = folder / (Path(sample).stem + ".parquet")
        frame = pl.read_csv(SAMPLES / sample, infer_schema=False)
        drop = rng.sample(frame.columns, k=max(1, len(frame.columns) // 3))
        frame.drop(drop).with_columns(pl.lit(rng.random()).alias("x_unexpected")).write_parquet(path)
        return path
    suffix = ".gz" if mutation in ("gzip", "lying_gzip") else ""
    path = folder / (sample + suffix)
    path.write_bytes(MUTATIONS[mutation](data, rng))
    return path


def staged_totals(path: Path, work: Path) -> tuple[int, dict[str, dict[str, float]], list[str]]:
    """(rows read, per-currency totals, warnings) of staging ``path`` as ingest would."""
    staging = work / "staging"
    try:
        staging.mkdir(parents=True, exist_ok=True)
        (p,) = plan([path])
        out = stage(p, staging, work / "w")
        return out.rows_in, out.totals, out.warnings
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _close(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> bool:
    if set(a) != set(b):
        return False
    return all(abs(a[c][m] - b[c][m]) <= 1e-6 * max(1.0, abs(b[c][m])) for c in a for m in a[c])


def judge(
    sample: str, mutation: str, path: Path, clean: tuple[int, dict[str, dict[str, float]]], work: Path
) -> Outcome:
    try:
        rows, totals, _ = staged_totals(path, work)
    except IngestError as exc:
        text = str(exc)
        if path.name not in text and str(path) not in text:
            return Outcome(sample, mutation, "crash", f"refusal does not name the file: {text[:200]}")
        return Outcome(sample, mutation, "refused", text[:300])
    except Exception:  # any other exception is the failure being counted
        return Outcome(sample, mutation, "crash", traceback.format_exc(limit=4)[-600:])
    if rows == clean[0] and _close(totals, clean[1]):
        return Outcome(sample, mutation, "equal")
    if mutation == "currency" and rows == clean[0]:
        merged = {m: sum(t[m] for t in totals.values()) for m in next(iter(clean[1].values()))}
        want = {m: sum(t[m] for t in clean[1].values()) for m in merged}
        ok = all(abs(merged[m] - want[m]) <= 1e-6 * max(1.0, abs(want[m])) for m in merged) and len(totals) > len(
            clean[1]
        )
        return Outcome(
            sample, mutation, "changed" if ok else "crash", "" if ok else f"currency split lost money: {totals}"
        )
    if mutation in PRESERVING:
        return Outcome(
            sample, mutation, "crash", f"a value-preserving change altered the result: {rows} rows, {totals}"
        )
    return Outcome(sample, mutation, "changed", f"{rows} rows vs {clean[0]}")


def run(count: int, seed: int, work: Path) -> list[Outcome]:
    """``count`` mutants, cycling through samples and mutations in a seeded order."""
    rng = random.Random(seed)
    clean = {s: staged_totals(SAMPLES / s, work / "clean")[:2] for s in CLEAN}
    pairs = [(s, m) for s in CLEAN for m in MUTATIONS]
    out = []
    for i in range(count):
        sample, mutation = pairs[i % len(pairs)] if i < len(pairs) else rng.choice(pairs)
        folder = work / f"m{i}"
        path = write_mutant(sample, mutation, rng, folder)
        out.append(judge(sample, mutation, path, clean[sample], work / f"j{i}"))
        shutil.rmtree(folder, ignore_errors=True)
    return out
