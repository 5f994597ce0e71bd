"""The company-wide detection stored at publish answers exactly what a live detection would."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from finops_core import anomalies, anomaly_results, db, store
from finops_core.query import CostQuery, Scope
from finops_core.schema import C


def _whole(con: object) -> CostQuery:
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]  # type: ignore[arg-type]
    return CostQuery(first, last)


def _live(con: object, q: CostQuery) -> pl.DataFrame:
    found = anomalies.detect_with_teams(con, q, stored=False)  # type: ignore[arg-type]
    return anomaly_results.conform(found).sort("id")


def test_stored_detection_equals_a_live_one(demo_store: Path) -> None:
    con = store.connect(demo_store)
    q = _whole(con)
    stored = anomaly_results.stored(con, q)
    assert stored is not None and stored.height > 0
    assert_frame_equal(stored.sort("id"), _live(con, q))
    # the page's call is answered from the table, sorted as a live detection is
    answered = anomalies.detect_with_teams(con, q)
    assert_frame_equal(answered, stored)
    assert answered["impact"].is_sorted(descending=True)


def test_other_questions_run_detection(demo_store: Path) -> None:
    con = store.connect(demo_store)
    q = _whole(con)
    team = db.rows(
        con,
        f"SELECT {C.x_Team} FROM daily WHERE {C.x_Team} IS NOT NULL GROUP BY 1 ORDER BY sum(EffectiveCost) DESC LIMIT 1",
    )[0][0]
    others = (
        replace(q, scope=Scope(teams=(team,))),  # a viewer: detection on their rows only
        replace(q, start=q.start + timedelta(days=30)),
        replace(q, metric=C.BilledCost),
        q.with_filter(C.x_Team, (team,)),
    )
    for other in others:
        assert anomaly_results.stored(con, other) is None
    viewer = anomaly_results.conform(anomalies.detect_with_teams(con, others[0])).sort("id")
    assert_frame_equal(viewer, _live(con, others[0]))
    assert set(viewer[C.x_Team].drop_nulls()) <= {team}


def test_an_empty_detection_is_stored_with_its_columns() -> None:
    empty = anomaly_results.conform(pl.DataFrame())
    assert empty.is_empty() and list(empty.schema) == list(anomaly_results.ANOMALY_SCHEMA)
