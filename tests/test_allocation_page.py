"""AppTest: the Allocation & tagging page renders for each role, its numbers equal finops_core's,
and a rule change dry-runs then saves from the page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from finops_core import governance, store
from tests.test_pages import _app, _base_query, _money

PAGE = "views/allocation.py"


def _open(demo_store: Path, monkeypatch: pytest.MonkeyPatch, user: str, tab: str | None = None):  # type: ignore[no-untyped-def]
    """The page as ``user``, on ``tab`` (by its URL parameter; only the open tab runs)."""
    at = _app(demo_store, monkeypatch, user=user, **({"p_tab": tab} if tab else {}))
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_admin_sees_every_tab_with_numbers_equal_to_core(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(demo_store, monkeypatch, "admin")
    assert at.title[0].value == "Allocation & tagging"
    assert [t.label for t in at.tabs] == [
        "Coverage",
        "Tag compliance",
        "Remediation",
        "Showback",
        "Rule explorer",
        "Rules",
    ]
    q = _base_query(demo_store)
    con = store.connect(demo_store)
    cov = governance.coverage(con, q)
    show = governance.showback(con, q)
    con.close()
    tile = next(m.value for m in at.metric if m.label == "Allocation coverage")
    assert float(tile.rstrip("%")) / 100 == pytest.approx(cov["allocated"].sum() / cov["total"].sum(), abs=0.0006)
    unallocated = _money(next(m.value for m in at.metric if m.label == "Unallocated"))
    assert unallocated == pytest.approx(cov["total"].sum() - cov["allocated"].sum(), abs=0.5)
    at = _open(demo_store, monkeypatch, "admin", "Showback")
    table_total = _money(next(m.value for m in at.metric if m.label == "Total of the table"))
    assert table_total == pytest.approx(show["total"].sum(), abs=0.5)
    assert table_total == pytest.approx(cov["total"].sum(), abs=0.5)  # showback conserves the period's spend


def test_viewer_sees_only_their_scope_and_no_rules(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(demo_store, monkeypatch, "viewer", "Showback")
    assert "Rules" not in [t.label for t in at.tabs]
    showback = next(df.value for df in at.dataframe if "direct" in df.value.columns)
    assert set(showback["x_Team"]) == {"payments"}
    at = _open(demo_store, monkeypatch, "viewer", "Remediation")
    remediation = next(df.value for df in at.dataframe if "likely_owner" in df.value.columns)
    assert set(remediation["allocated_to"]) <= {"payments"}


def test_rule_change_dry_run_then_save_from_the_page(
    demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    shutil.copytree(demo_store, root)
    monkeypatch.setenv("FINOPS_RULES", str(tmp_path / "rules"))
    at = _open(root, monkeypatch, "admin", "Rules")
    at.radio(key="al_file").set_value("allocation.yaml").run()
    area = at.text_area[0]
    area.set_value(
        area.value.replace(
            "value: search\n    match: {SubAccountId: ['210000000005']}",
            "value: catalog\n    match: {SubAccountId: ['210000000005']}",
        )
    ).run()
    at.button(key="al_dry").click().run()
    assert not at.exception, at.exception
    assert any("would move between teams" in m.value for m in at.markdown)
    before = store.current_version(root)
    at.button(key="al_save").click().run()
    assert not at.exception, at.exception
    assert store.current_version(root) != before
    assert (tmp_path / "rules" / "allocation.yaml").exists()
    assert governance.rule_history("allocation.yaml").height >= 1


def test_rule_explorer_account_picker_shows_names(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from finops_core.schema import C

    at = _open(demo_store, monkeypatch, "finops", "Rule explorer")
    at.selectbox(key="al_ex_dim").set_value(C.SubAccountId).run()
    assert not at.exception
    con = store.connect(demo_store)
    names = dict(con.execute(f"SELECT DISTINCT {C.SubAccountId}, {C.SubAccountName} FROM daily").fetchall())
    con.close()
    picker = at.selectbox(key="al_ex_value")
    shown = picker.options
    labelled = {f"{n} ({i})" if n != i else i for i, n in names.items()}
    assert shown and set(shown) <= labelled and any(" (" in label for label in shown)  # "payments-prod (2100...)"
    at = _open(demo_store, monkeypatch, "finops", "Tag compliance")
    # the heat map names every row of its axis (no dropped labels) in a colour-blind-safe scheme
    charts = [c.proto.spec for c in at.get("arrow_vega_lite_chart")] + [c.proto.spec for c in at.get("vega_lite_chart")]
    text = json.dumps(json.loads(next(c for c in charts if "Tag compliance by" in c)))
    assert '"labelOverlap": false' in text and "redyellowgreen" not in text


def test_only_the_open_tab_runs(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first load runs the Coverage tab only: the policy compliance, rule explorer, remediation
    and showback queries wait until their tab is opened (by a click or its link)."""
    from finops_core import explorer
    from finops_core.policy import billing

    called: list[str] = []
    for module, name in [
        (billing, "policy_compliance"),
        (explorer, "explain"),
        (governance, "remediation"),
        (governance, "showback"),
        (governance, "typo_table"),
    ]:
        real = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda *a, _real=real, _name=name, **k: called.append(_name) or _real(*a, **k)
        )
    import streamlit as st

    st.cache_data.clear()  # page results cached by earlier tests would hide the calls
    _open(demo_store, monkeypatch, "admin", None)
    assert called == []
    at = _open(demo_store, monkeypatch, "admin", "Rule explorer")
    assert called == ["explain"] and not at.exception
