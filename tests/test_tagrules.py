from __future__ import annotations

from pathlib import Path

import pytest

from finops_core import store, tagrules
from finops_core.dimensions import tag_values
from tests.test_cli import run


def _tags(text: str | None) -> tuple[str | None, ...]:
    v = tag_values(text, tagrules.load())
    return (v["team"], v["product"], v["environment"], v["cost_center"], v["owner"])


def test_shipped_rules_fold_keys_case_aliases_and_typos() -> None:
    assert _tags('{"Team": "Checkout", "Environment": "production"}')[:3] == ("checkout", None, "prod")
    assert _tags('{"owner-team": "paymnets", "env": "prd", "product": "Payments"}')[:3] == (
        "payments",
        "Payments",
        "prod",
    )
    assert _tags('{"CostCenter": "CC-1010", "team": " web "}')[0] == "web"
    assert _tags('{"CostCenter": "CC-1010"}')[3] == "CC-1010"
    assert _tags(None) == (None,) * 5


def test_typo_suggester_proposes_aliases_for_a_person_to_accept() -> None:
    costs = {
        "payments": 1000.0,
        "search": 900.0,
        "catalog": 800.0,
        "identity": 700.0,
        "ml": 600.0,
        "web": 500.0,
        "paymnets": 90.0,
        "serach": 70.0,
        "catalgo": 50.0,
        "identiy": 30.0,
    }
    proposals = {(a, c) for a, c, _, _ in tagrules.suggest(costs)}
    assert proposals == {
        ("paymnets", "payments"),
        ("serach", "search"),
        ("catalgo", "catalog"),
        ("identiy", "identity"),
    }
    codes = {"CC-1010": 900.0, "CC-1040": 800.0, "CC-2010": 700.0, "CC-1O10": 20.0, "cc-1010 ": 10.0}
    assert {(a, c) for a, c, _, _ in tagrules.suggest(codes)} == {("CC-1O10", "CC-1010"), ("cc-1010 ", "CC-1010")}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("keys:\n  team: owner-team\n", ":2: keys.team: expected a list of names"),
        ("keys:\n  squad: [x]\n", ":2: keys.squad: not one of team"),
        ("values:\n  team: [a, b]\n", ":2: values.team: expected alias: value pairs"),
        ("fold_case: [colour]\n", ":1: fold_case: 'colour' is not one of"),
        ("colour: red\n", ":1: colour: unknown field"),
        ("keys: [\n", "not valid YAML"),
    ],
)
def test_bad_rules_files_are_refused_with_file_line_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "tags.yaml"
    path.write_text(text)
    with pytest.raises(tagrules.RulesError) as err:
        tagrules.load(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_rebuild_after_a_rules_change_keeps_every_row_and_total(demo_store: Path) -> None:
    before = store.manifest(demo_store)
    code, _, _ = run("rebuild", "--store", str(demo_store))
    after = store.manifest(demo_store)
    assert code == 0 and after["data_version"] != before["data_version"]
    for period, info in before["partitions"].items():  # the same files, rows and totals; new rollups
        again = after["partitions"][period]
        assert (again["files"], again["rows"]) == (info["files"], info["rows"])
        for cur, totals in info["totals"].items():
            assert again["totals"][cur]["EffectiveCost"] == pytest.approx(totals["EffectiveCost"], rel=1e-12)
    code, out, _ = run("tags", "--store", str(demo_store), "--key", "team")
    assert code == 0 and out.startswith("alias,canonical")
