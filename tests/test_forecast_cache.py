"""The forecast cache shared by all sessions (ui/cache.forecasts): sessions that miss one key at
once fit it once, and a failed fit is not cached."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from ui import cache


def _fit_counting(calls: list[str], started: threading.Event) -> Any:
    def fit(series: dict[str, Any]) -> dict[str, Any]:
        calls.append(threading.current_thread().name)
        started.set()
        time.sleep(0.5)  # a slow fit: the other sessions arrive while it runs
        return {"fitted": series["n"]}

    return fit


def test_sessions_missing_one_key_at_once_fit_it_once() -> None:
    calls: list[str] = []
    started = threading.Event()
    fit = _fit_counting(calls, started)
    results: list[Any] = []

    def session() -> None:
        results.append(cache.forecasts("v-once", "k", lambda: {"n": 3}, fit))

    first = threading.Thread(target=session, name="s0")
    first.start()
    assert started.wait(10)  # the first session is fitting; the others miss the cache now
    others = [threading.Thread(target=session, name=f"s{i}") for i in range(1, 6)]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(30)
    assert calls == ["s0"]
    assert results == [{"fitted": 3}] * 6
    assert cache.forecasts("v-once", "k", lambda: {"n": 4}, fit) == {"fitted": 3}  # a plain hit
    assert calls == ["s0"]


def test_a_failed_fit_is_not_cached_and_the_next_session_fits_again() -> None:
    def broken(series: dict[str, Any]) -> Any:
        raise RuntimeError("no data")

    with pytest.raises(RuntimeError):
        cache.forecasts("v-fail", "k", lambda: {"n": 1}, broken)
    assert cache.forecasts("v-fail", "k", lambda: {"n": 1}, lambda s: {"fitted": s["n"]}) == {"fitted": 1}
