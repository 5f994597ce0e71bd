from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from finops_core import backlog, state
from finops_core.query import Scope

ITEM = {
    "title": "Delete idle volumes",
    "category": "idle/orphaned",
    "team": "payments",
    "sub_account_name": "acct",
    "service_name": "EBS",
    "estimated_monthly_saving": 400,
    "currency": "USD",
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
    bad = (
        "item_id,title,category,status,estimated_monthly_saving,currency\n"
        "A,ok,other,Proposed,10,USD\nB,x,nonsense,Proposed,5,USD\n"
    )
    with pytest.raises(backlog.BacklogError, match=r"up.csv row 3: category"):
        backlog.import_csv(bad, "fran", db, source="up.csv")
    assert backlog.items(db).is_empty()  # nothing half-imported
    good = "item_id,title,category,status,estimated_monthly_saving,currency\nA,ok,other,Proposed,10,eur\n"
    assert backlog.import_csv(good, "fran", db) == 1
    assert backlog.import_csv(good, "fran", db) == 0  # re-import adds nothing
    exported = backlog.export_csv(db)
    assert exported.splitlines()[0].startswith("item_id,title,category")
    assert backlog.import_csv(exported, "fran", tmp_path / "other.sqlite") == 1
    assert backlog.items(tmp_path / "other.sqlite")["currency"].to_list() == ["EUR"]
    assert "currency" in exported.splitlines()[0].split(",")


def test_an_item_needs_a_currency_code(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    with pytest.raises(backlog.BacklogError, match="currency: '' is not a currency code"):
        backlog.create("OPT-1", {**ITEM, "currency": ""}, "fran", db)
    no_column = "item_id,title,category,status,estimated_monthly_saving\nA,ok,other,Proposed,10\n"
    with pytest.raises(backlog.BacklogError, match="CSV row 2: currency"):
        backlog.import_csv(no_column, "fran", db)
    with pytest.raises(backlog.BacklogError, match="currency: 'DOLLARS'"):
        backlog.create("OPT-1", {**ITEM, "currency": "dollars"}, "fran", db)


def test_an_older_state_database_gains_the_currency_column(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    old_schema = backlog.SCHEMA.replace(",\n    currency TEXT NOT NULL DEFAULT ''", "")
    assert "currency" not in old_schema
    con.executescript(old_schema)
    con.execute(
        "INSERT INTO backlog_item (item_id, title, category, status, created_at, updated_at) "
        "VALUES ('OPT-9', 'old item', 'other', 'Proposed', '2026-01-01', '2026-01-01')"
    )
    con.commit()
    con.close()
    item = backlog.items(db).row(0, named=True)
    assert item["item_id"] == "OPT-9" and item["currency"] == ""
    with pytest.raises(backlog.BacklogError, match="currency"):
        backlog.update("OPT-9", 1, "fran", {"owner": "fran@x"}, db)  # an edit must name the currency
    assert backlog.update("OPT-9", 1, "fran", {"currency": "EUR"}, db) == 2
    assert backlog.items(db)["currency"].to_list() == ["EUR"]


def test_readers_see_their_scope_only(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    backlog.create("OPT-1", ITEM, "fran", db)
    backlog.create("OPT-2", {**ITEM, "team": "search", "sub_account_name": "search-prod"}, "fran", db)
    for v, status in enumerate(("Approved", "In progress"), start=1):
        backlog.update("OPT-2", v, "fran", {"status": status}, db)
    backlog.update("OPT-2", 3, "fran", {"status": "Implemented", "implemented_on": "2026-05-01"}, db)
    backlog.update("OPT-2", 4, "fran", {"status": "Validated"}, db)
    payments = Scope(teams=("payments",))
    assert backlog.items(db, scope=payments)["item_id"].to_list() == ["OPT-1"]
    by_account = Scope(sub_accounts=("222",))
    ids = {"acct": "111", "search-prod": "222"}
    assert backlog.items(db, scope=by_account, sub_account_ids=ids)["item_id"].to_list() == ["OPT-2"]
    assert backlog.items(db, scope=by_account).is_empty()  # without the id map no sub account matches
    assert backlog.throughput(db)["validated"].sum() == 1
    assert backlog.throughput(db, scope=payments).is_empty()
    with pytest.raises(backlog.BacklogError, match="not in your scope"):
        backlog.history("OPT-2", db, scope=payments)
    assert backlog.history("OPT-1", db, scope=payments).height == 1


def test_open_items_are_only_those_still_to_do(tmp_path: Path) -> None:
    """Implemented and validated items are done, rejected and won't-do ones dismissed: none is open."""
    db = tmp_path / "s.sqlite"
    for n, status in enumerate(
        ["Proposed", "Approved", "In progress", "Implemented", "Validated", "Rejected", "Won't do"]
    ):
        done = {"implemented_on": "2026-05-01"} if status in ("Implemented", "Validated") else {}
        backlog.create(f"OPT-{n}", ITEM | {"status": status} | done, "fran", db)
    assert sorted(backlog.open_items(backlog.items(db))["item_id"].to_list()) == ["OPT-0", "OPT-1", "OPT-2"]


def test_an_import_is_refused_whole_when_a_check_refuses_a_row(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    text = "item_id,title,category,sub_account_name,service_name,currency,status\n"
    text += "OPT-1,a,other,acct,EBS,USD,Proposed\nOPT-2,b,other,acct,Nope,USD,Proposed\n"

    def check(item: dict[str, object], where: str) -> None:
        if item["service_name"] == "Nope":
            raise backlog.BacklogError(f"{where}: no billing rows")

    with pytest.raises(backlog.BacklogError, match=r"items\.csv row 3: no billing rows"):
        backlog.import_csv(text, "fran", db, "items.csv", check=check)
    assert backlog.items(db).is_empty()
