"""Saved views in the state database: per owner, replaced by name, deletable only by their owner."""

from __future__ import annotations

from pathlib import Path

import pytest

from finops_core import saved_views, state
from finops_core.saved_views import SavedViewError


def test_save_list_load_replace_and_delete(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    first = saved_views.save("ana", "Payments MTD", {"team": ["payments"], "period": ["mtd"]}, db)
    again = saved_views.save("ana", "Payments MTD", {"team": ["payments"], "period": ["last_month"]}, db)
    other = saved_views.save("bo", "Payments MTD", {"team": ["search"]}, db)
    assert first == again != other
    assert [n for _, n, _ in saved_views.views("ana", db)] == ["Payments MTD"]
    assert saved_views.load(first, db) == ("ana", "Payments MTD", {"period": ["last_month"], "team": ["payments"]})
    saved_views.delete("bo", first, db)  # not bo's: left alone
    assert saved_views.load(first, db)[0] == "ana"
    saved_views.delete("ana", first, db)
    with pytest.raises(SavedViewError, match=f"no saved view {first}"):
        saved_views.load(first, db)
    assert state.audit_log(db, action="saved_view").height == 3


@pytest.mark.parametrize(
    ("name", "params", "needle"),
    [("  ", {}, "name: give 1 to 80"), ("x" * 81, {}, "name: give 1 to 80"), ("ok", {"Bad-Key": ["1"]}, "params:")],
)
def test_bad_views_are_refused(tmp_path: Path, name: str, params: dict[str, list[str]], needle: str) -> None:
    with pytest.raises(SavedViewError, match=needle):
        saved_views.save("ana", name, params, tmp_path / "state.sqlite")
