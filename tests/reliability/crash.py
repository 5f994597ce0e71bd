"""Writers killed with SIGKILL at random moments, and what the store looks like afterwards.

Shared by ``test_crash_safety.py`` (a few kills on every CI run) and ``bench/reliability.py`` (50
ingests and 10 rebuilds). A trial copies a base store, starts ``python -m finops_core ingest`` (or
``rebuild``) on it in a child process, kills it after a random delay within the command's usual
run time, and then checks: the store opens, its rows hash to exactly the state before or after the
command, and the next writer takes the lock and publishes.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from finops_core import db, store
from finops_core.ingest import ingest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests" / "data" / "ingest"
BASE_FILE = SAMPLES / "aws-cur2-fixture.csv"
NEXT_FILE = SAMPLES / "azure-mca-fixture-actual.csv"


@dataclass
class Trial:
    command: str
    delay: float
    state: str  # before | after | other
    recovered: bool  # the next writer published


def rows_hash(root: Path) -> str:
    """A hash of every stored row as billed (what ``export`` writes), in a fixed order."""
    if store.current_version(root) is None:
        return "empty"
    con = store.connect(root)
    try:
        digest = hashlib.sha256()
        for row in db.rows(con, "SELECT * FROM focus_rows ORDER BY ALL"):
            digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        con.close()


def _cli(command: str, root: Path) -> list[str]:
    args = [sys.executable, "-m", "finops_core", command, "--store", str(root)]
    return args + ([str(NEXT_FILE)] if command == "ingest" else [])


def _timed(command: str, root: Path) -> float:
    start = time.perf_counter()
    subprocess.run(_cli(command, root), cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - start


def prepare(work: Path) -> tuple[Path, dict[str, str], dict[str, float]]:
    """A base store, the row hashes before/after each command, and each command's run time."""
    base = work / "base"
    ingest([BASE_FILE], base)
    expect = {"before": rows_hash(base)}
    took = {}
    for command in ("ingest", "rebuild"):
        done = work / f"done-{command}"
        shutil.copytree(base, done)
        took[command] = _timed(command, done)
        expect[command] = rows_hash(done)
        shutil.rmtree(done)
    return base, expect, took


def trial(command: str, base: Path, expect: dict[str, str], took: float, rng: random.Random, work: Path) -> Trial:
    root = work / "trial"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(base, root)
    delay = rng.uniform(0.05, took)
    child = subprocess.Popen(_cli(command, root), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    found = rows_hash(root)
    state = "before" if found == expect["before"] else "after" if found == expect[command] else "other"
    # the next writer: not blocked by the dead one's lock, and it clears what the dead one left
    try:
        ingest([NEXT_FILE], root) if command == "ingest" else store.rebuild(root)
        recovered = rows_hash(root) == expect[command] and not list((root / "versions").glob(".staging-*"))
    except Exception:  # a stale lock or debris that blocks the next writer is what is counted
        recovered = False
    shutil.rmtree(root, ignore_errors=True)
    return Trial(command, delay, state, recovered)


def run(ingests: int, rebuilds: int, seed: int, work: Path) -> list[Trial]:
    base, expect, took = prepare(work)
    rng = random.Random(seed)
    plan = ["ingest"] * ingests + ["rebuild"] * rebuilds
    return [trial(c, base, expect, took[c], rng, work) for c in plan]
