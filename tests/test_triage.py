from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finops_core import access, incidents, state, triage, triage_notify
from finops_core.reports.delivery import Settings


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
    # from the anomaly's start (1 May 00:00 UTC), not from when the app first saw it (2 May 08:00)
    assert times["mtta_hours"] == pytest.approx(34.0) and times["mttr_hours"] == pytest.approx(56.0)


def test_mtta_counts_from_the_anomalys_start_not_from_first_seen(tmp_path: Path) -> None:
    """An anomaly that started on 1 May but was loaded on 8 May has a week of response time already."""
    db = tmp_path / "s.sqlite"
    triage.sync(_found(), path=db, now="2026-05-08T00:00:00.000000Z")
    triage.update("a1", 1, "fran", status="Acknowledged", path=db, now="2026-05-08T01:00:00.000000Z")
    times = triage.response_times(db).row(0, named=True)
    assert times["mtta_hours"] == pytest.approx(7 * 24 + 1) and times["month"] == "2026-05"
    assert times["resolved"] == 0 and times["mttr_hours"] is None


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


def _case(ident: str, scope: str, team: str, start: str, end: str, impact: float, currency: str = "USD") -> dict:
    return {"id": ident, "scope": scope, "key": ident, "team": team, "currency": currency, "start": start,
            "end": end, "impact": impact, "status": "New"}  # fmt: skip


def test_one_event_seen_at_service_and_team_scope_is_one_incident() -> None:
    cases = pl.DataFrame(
        [
            _case("svc", "service", "ml", "2026-05-03", "2026-05-06", 800.0),
            _case("team", "team", "ml", "2026-05-02", "2026-05-05", 1000.0),
            _case("later", "service", "ml", "2026-06-10", "2026-06-11", 300.0),  # no overlap
            _case("web", "team", "web", "2026-05-03", "2026-05-04", 200.0),  # another team
            _case("eur", "team", "ml", "2026-05-03", "2026-05-04", 50.0, "EUR"),  # another currency
            _case("total", "total", "", "2026-05-02", "2026-05-06", 2000.0),  # no team: linked to nothing
        ]
    )
    linked = incidents.link(cases)
    incident = dict(linked.select("id", "incident").iter_rows())
    assert incident["svc"] == incident["team"] == "team"  # named for its earliest case
    assert len({incident[k] for k in ("later", "web", "eur", "total", "team")}) == 5
    assert dict(linked.select("id", "incident_cases").iter_rows())["svc"] == 2
    tiles = incidents.incident_summary(linked, triage.CLOSED)
    # the team's spike holds the service's: the incident counts its largest case once
    assert tiles == {"open_incidents": 5, "open_impact": 1000 + 300 + 200 + 50 + 2000, "open_cases": 6}


def test_the_owner_is_notified_through_the_webhook_and_it_is_recorded(tmp_path: Path) -> None:
    import http.server
    import json
    import threading

    got: list[dict[str, str]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    db = tmp_path / "s.sqlite"
    triage.sync(_found(), path=db)
    case = triage.cases(db).row(0, named=True)
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        ok, where = triage_notify.notify(case, "sam", "sam@x", "fran", Settings(webhook_url=url), db)
    finally:
        server.shutdown()
    assert ok and where == url
    assert "fran made you the owner of anomaly a1" in got[0]["text"]
    failed = triage_notify.notify(case, "sam", "", "fran", Settings(), db)
    assert failed == (False, "no webhook URL or SMTP host configured")
    log = triage_notify.notifications("a1", db)
    assert log["ok"].to_list() == [True, False] and log["channel"].to_list() == ["webhook", "none"]


def test_known_owners_come_from_the_users_file(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    access.create_demo_users(users, "pw-123456789")
    owners = triage_notify.known_owners(users)
    assert set(owners) == set(access.DEMO_USERS) and all(owners.values())
