from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finops_core import state, triage


def _found(impact: float = 500.0, start: date = date(2026, 5, 1), ident: str = "a1") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [ident],
            "scope": ["service"],
            "key": ["EC2 / acct"],
            "BillingCurrency": ["USD"],
            "kind": ["spike"],
            "start": [start],
            "end": [start],
            "impact": [impact],
            "x_Team": ["payments"],
        }
    )


def test_workflow_history_and_audit(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    assert triage.sync(_found(), {"payments": "ana@x"}, path=db, now="2026-05-02T08:00:00.000000Z") == 1
    assert triage.sync(_found(), path=db) == 0  # known anomalies are not duplicated
    case = triage.cases(db).row(0, named=True)
    assert case["status"] == "New" and case["owner"] == "ana@x" and case["version"] == 1
    v = triage.update("a1", 1, "fran", status="Acknowledged", path=db, now="2026-05-02T10:00:00.000000Z")
    v = triage.update(
        "a1", v, "fran", status="Investigating", note="NAT traffic", path=db, now="2026-05-02T12:00:00.000000Z"
    )
    triage.update("a1", v, "fran", status="Resolved", path=db, now="2026-05-03T08:00:00.000000Z")
    hist = triage.history("a1", db)
    assert hist["to_status"].to_list() == ["New", "Acknowledged", "Investigating", "Resolved"]
    assert set(state.audit_log(db, action="anomaly_change")["username"]) == {"fran"}
    times = triage.response_times(db).row(0, named=True)
    assert times["team"] == "payments" and times["month"] == "2026-05"
    assert times["mtta_hours"] == pytest.approx(2.0) and times["mttr_hours"] == pytest.approx(24.0)


def test_invalid_transitions_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    triage.sync(_found(), path=db)
    with pytest.raises(triage.TriageError, match="cannot go from New to Resolved"):
        triage.update("a1", 1, "fran", status="Resolved", path=db)
    assert triage.cases(db)["status"][0] == "New"


def test_two_writers_one_wins_the_other_is_told(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    triage.sync(_found(), path=db)
    triage.update("a1", 1, "fran", owner="fran@x", path=db)
    with pytest.raises(triage.TriageError, match="changed by someone else"):
        triage.update("a1", 1, "sam", owner="sam@x", path=db)
    assert triage.cases(db)["owner"][0] == "fran@x"


def test_expected_label_suppresses_similar_recurrences(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    triage.sync(_found(), path=db)
    triage.update("a1", 1, "fran", status="Expected", note="quarterly batch", path=db)
    triage.sync(
        _found(impact=800.0, start=date(2026, 8, 1), ident="a2"), path=db, now="2026-08-02T08:00:00.000000Z"
    )  # similar: suppressed
    triage.sync(_found(impact=5000.0, start=date(2026, 9, 1), ident="a3"), path=db)  # 10x bigger: not
    status = dict(triage.cases(db).select("id", "status").iter_rows())
    assert status == {"a1": "Expected", "a2": "Expected", "a3": "New"}
    times = triage.response_times(db)
    assert times.filter(pl.col("month") == "2026-08")["resolved"][0] == 0  # suppression is not a human response
