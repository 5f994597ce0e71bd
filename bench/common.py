"""Timing shared by the benchmarks: one cold call, then the median of warm repeats."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
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
