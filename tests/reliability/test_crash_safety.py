"""An ingest or rebuild killed at any moment leaves the store as it was before or after it."""

from __future__ import annotations

from pathlib import Path

from tests.reliability import crash


def test_killed_writers_leave_a_whole_store(tmp_path: Path) -> None:
    trials = crash.run(ingests=6, rebuilds=2, seed=11, work=tmp_path)
    bad = [t for t in trials if t.state == "other" or not t.recovered]
    assert not bad, bad
    # the delays spread over the run: some kills land before the switch, at least one after (or the
    # trials are not testing the publish at all)
    assert {t.state for t in trials} >= {"before"}
