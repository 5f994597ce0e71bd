from __future__ import annotations

from pathlib import Path

import pytest

from finops_core import backlog, state

ITEM = {
    "title": "Delete idle volumes",
    "category": "idle/orphaned",
    "team": "payments",
    "sub_account_name": "acct",
    "service_name": "EBS",
    "estimated_monthly_saving": 400,
    "status": "Proposed",
}


def test_workflow_with_history_and_audit(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    backlog.create("OPT-1", ITEM, "fran", db)
    v = 1
    for status in ("Approved", "In progress"):
        v = backlog.update("OPT-1", v, "fran", {"status": status}, db)
    with pytest.raises(backlog.BacklogError, match="implemented_on: required"):
        backlog.update("OPT-1", v, "fran", {"status": "Implemented"}, db)
    v = backlog.update("OPT-1", v, "fran", {"status": "Implemented", "implemented_on": "2026-05-01"}, db)
    v = backlog.update("OPT-1", v, "ana", {"status": "Validated"}, db)
    item = backlog.items(db).row(0, named=True)
    assert item["status"] == "Validated" and item["version"] == v == 5
    assert backlog.history("OPT-1", db).height == 5
    assert state.audit_log(db, action="backlog_change").height == 5
    assert backlog.throughput(db)["validated"].sum() == 1
    with pytest.raises(backlog.BacklogError, match="cannot go from Validated to Proposed"):
        backlog.update("OPT-1", v, "fran", {"status": "Proposed"}, db)


def test_two_writers_the_second_is_told_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    backlog.create("OPT-1", ITEM, "fran", db)
    backlog.update("OPT-1", 1, "fran", {"owner": "fran@x"}, db)  # both opened version 1
    with pytest.raises(backlog.BacklogError, match="changed by someone else"):
        backlog.update("OPT-1", 1, "sam", {"estimated_monthly_saving": 999}, db)
    item = backlog.items(db).row(0, named=True)
    assert item["owner"] == "fran@x" and item["estimated_monthly_saving"] == 400


def test_csv_import_is_validated_with_row_numbers_and_round_trips(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    bad = "item_id,title,category,status,estimated_monthly_saving\nA,ok,other,Proposed,10\nB,x,nonsense,Proposed,5\n"
    with pytest.raises(backlog.BacklogError, match=r"up.csv row 3: category"):
        backlog.import_csv(bad, "fran", db, source="up.csv")
    assert backlog.items(db).is_empty()  # nothing half-imported
    good = "item_id,title,category,status,estimated_monthly_saving\nA,ok,other,Proposed,10\n"
    assert backlog.import_csv(good, "fran", db) == 1
    assert backlog.import_csv(good, "fran", db) == 0  # re-import adds nothing
    exported = backlog.export_csv(db)
    assert exported.splitlines()[0].startswith("item_id,title,category")
    assert backlog.import_csv(exported, "fran", tmp_path / "other.sqlite") == 1
