"""What the benchmarks share: building a demo store, one cold call then the median of warm repeats."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any


def cold_and_warm(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(first call ms, median of the next ``repeat`` calls ms)."""
    started = time.perf_counter()
    fn()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - started)
    return cold * 1000, statistics.median(warm) * 1000


def ensure_demo(root: Path, rows: int, seed: int, end: date) -> None:
    """Build the demo store at ``root`` in a child process unless it already holds a version."""
    from finops_core import store

    if store.current_version(root) is not None:
        return
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "finops_core", "demo", "--store", str(root), "--rows", str(rows)]
    subprocess.run([*cmd, "--seed", str(seed), "--end", end.isoformat()], check=True, capture_output=True)
    print(f"built {rows:,} rows in {time.perf_counter() - started:.0f} s", file=sys.stderr)
