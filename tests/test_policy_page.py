"""AppTest: the Allocation page's tag policy section shows the policy in force and its compliance
history equal to finops_core's, within the viewer's scope."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from finops_core import store
from finops_core.policy import billing, rules
from finops_core.schema import C
from tests.test_pages import _app, _base_query


def _history(demo_store: Path, scope: object = None) -> pl.DataFrame:
    con = store.connect(demo_store)
    try:
        first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchall()[0]
        q = replace(_base_query(demo_store), start=first, end=last, **({"scope": scope} if scope else {}))
        return billing.policy_compliance(con, q, rules.path().read_text(), str(rules.path()))[0]
    finally:
        con.close()


@pytest.mark.parametrize("user", ["finance", "viewer"])
def test_policy_section_matches_core(demo_store: Path, monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    at = _app(demo_store, monkeypatch, user=user, p_tab="Tag compliance")
    at.switch_page("views/allocation.py").run()
    assert not at.exception, at.exception
    assert any(s.value == "Tag policy" for s in at.subheader)
    shown_rules = next(d.value for d in at.dataframe if "require" in d.value.columns)
    assert list(shown_rules["rule"]) == [r.id for r in rules.load().rules]
    want = _history(demo_store, at.session_state["user"].scope if user == "viewer" else None)
    shown = pl.from_pandas(next(d.value for d in at.dataframe if "in_scope" in d.value.columns))
    assert shown.height == want.height == 25  # one USD row per month
    # as the formatting layer shows them: shares to a hundredth of a percent, money to the cent
    assert shown["compliance"].to_list() == pytest.approx(want["compliance"].to_list(), abs=5e-5)
    assert shown["in_scope"].to_list() == pytest.approx(want["in_scope"].to_list(), abs=0.005)


def test_a_viewers_policy_history_is_their_teams_only(demo_store: Path) -> None:
    from finops_core import access

    everyone, payments = _history(demo_store), _history(demo_store, access.DEMO_USERS["viewer"][2])
    assert 0 < payments["in_scope"].sum() < everyone["in_scope"].sum() / 3
