"""Writers at the same time: the state database from several processes, one backlog item edited
twice from one version, two CLI ingests into one store, and a reader across a publish."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from finops_core import backlog, state, store
from finops_core.backlog import BacklogError
from finops_core.ingest import ingest
from tests.reliability import crash

REPO = Path(__file__).resolve().parents[2]
WRITER = """
import sys
from pathlib import Path
from finops_core import backlog, state
path, who, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(n):
    state.record("concurrency_test", who, {"i": i}, path=path)
    item = f"{who}-{i}"
    fields = {"title": item, "category": "rightsizing", "team": "payments", "estimated_monthly_saving": 10.0,
              "currency": "USD", "status": "Proposed"}
    backlog.create(item, fields, who, path=path)
    backlog.update(item, 1, who, {"method_note": "edited"}, path=path)
print("ok")
"""


def test_state_writes_from_several_processes_all_land(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state.record("start", "test", path=path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(path), f"p{k}", "40"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for (out, err), p in zip(results, procs, strict=True):
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]  # no "database is locked"
    con = state.connect(path)
    try:
        counted = con.execute("SELECT count(*) FROM audit_log WHERE action = 'concurrency_test'").fetchone()
    finally:
        con.close()
    assert counted == (160,)
    items = backlog.items(path=path)
    assert items.height == 160 and set(items["version"]) == {2}


def test_a_second_save_from_the_same_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    fields = {"title": "rightsize", "category": "rightsizing", "team": "payments", "currency": "USD"}
    backlog.create("b1", fields | {"estimated_monthly_saving": 100.0, "status": "Proposed"}, "ann", path=path)
    assert backlog.update("b1", 1, "ann", {"method_note": "ann's"}, path=path) == 2
    with pytest.raises(BacklogError, match="changed by someone else"):
        backlog.update("b1", 1, "bob", {"method_note": "bob's"}, path=path)  # bob opened version 1
    assert backlog.items(path=path)["method_note"].to_list() == ["ann's"]


def test_two_cli_ingests_at_once_never_interleave(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ingest([crash.BASE_FILE], root)
    big = crash.SAMPLES / "focus_converters-sample-anonymous-aws-export-dataset.csv"
    cmds = [
        [sys.executable, "-m", "finops_core", "ingest", "--store", str(root), str(f)] for f in (big, crash.NEXT_FILE)
    ]
    procs = [subprocess.Popen(c, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    outcomes = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    for code, err in outcomes:
        assert code == 0 or (code == 2 and "another writer is publishing" in err), err[-1500:]
        assert "Traceback" not in err
    live = {s["name"] for s in store.manifest(root)["sources"]}
    won = [f.name for f, (code, _) in zip((big, crash.NEXT_FILE), outcomes, strict=True) if code == 0]
    assert set(won) <= live and won  # every ingest that said ok is in the store, and one did
    store.connect(root).execute("SELECT count(*) FROM costs").fetchall()


def test_a_reader_keeps_its_version_across_a_publish(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ingest([crash.BASE_FILE], root)
    reader = store.connect(root)
    before = reader.execute("SELECT count(*), sum(BilledCost) FROM focus_rows").fetchall()
    ingest([crash.NEXT_FILE], root)  # publishes while the reader's connection is open
    assert reader.execute("SELECT count(*), sum(BilledCost) FROM focus_rows").fetchall() == before
    after = store.connect(root).execute("SELECT count(*) FROM focus_rows").fetchall()
    assert after[0][0] > before[0][0]
