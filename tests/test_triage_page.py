"""AppTest of triage on the Anomalies page: after Save the page stays on the saved case."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from finops_core import triage
from tests.test_pages import _app


def test_after_save_the_selection_stays_on_the_saved_case(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, user="finops")
    at.switch_page("views/anomalies.py").run()
    assert not at.exception, at.exception
    shown = at.dataframe[0].value
    new = [i for i, s in enumerate(shown["status"]) if s == "New"]
    assert len(new) >= 2, "the demo needs two new cases for this test"
    picked = str(shown["id"].iloc[new[0]])
    at.session_state["anomaly_table_0"] = {"selection": {"rows": [new[0]], "columns": []}}
    at.run()
    move = next(s for s in at.selectbox if s.label == "Move to")
    move.set_value("False positive")  # closed: the case leaves the default (open) filter
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception, at.exception
    saved = triage.cases().filter(pl.col("id") == picked).row(0, named=True)
    assert saved["status"] == "False positive" and saved["version"] == 2
    assert any(s.value.startswith(f"Saved {picked}: False positive") for s in at.success)
    # the open form is still the saved case's (now False positive), not the next row's New case
    move = next(s for s in at.selectbox if s.label == "Move to")
    assert move.value == "False positive" and move.options == ["False positive", "Investigating"]
    others = triage.cases().filter(pl.col("id") != picked)
    before = {r["id"]: r["version"] for r in others.iter_rows(named=True)}
    next(b for b in at.button if b.label == "Save").click().run()  # a second Save touches only that case
    after = triage.cases()
    assert {r["id"]: r["version"] for r in after.filter(pl.col("id") != picked).iter_rows(named=True)} == before
