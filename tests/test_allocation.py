"""Allocation rules: precedence, effective dates, each split method, conservation, invalid rule
files, and a rule change (dry run, then save) checked against an independent allocation."""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from finops_core import allocation, governance, rollups, store
from finops_core.schema import METRICS, UNALLOCATED, C, conform
from finops_core.tagrules import RulesError
from tests.allocation_ref import allocate
from tests.test_cli import run

TAGS = "keys:\n  team: [owner-team]\n"


def _row(
    day: date,
    cost: float,
    sub: str = "acct-a",
    service: str = "Compute",
    resource: str | None = "res-1",
    team: str | None = None,
) -> dict[str, object]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    month = datetime(day.year, day.month, 1, tzinfo=UTC)
    return {
        C.ChargePeriodStart: start,
        C.ChargePeriodEnd: start.replace(hour=23),
        C.BillingPeriodStart: month,
        C.BillingPeriodEnd: month.replace(month=month.month % 12 + 1, year=month.year + month.month // 12),
        C.BillingCurrency: "USD",
        C.BilledCost: cost,
        C.EffectiveCost: cost,
        C.ListCost: cost * 1.5,
        C.ContractedCost: cost,
        C.SubAccountId: sub,
        C.ServiceName: service,
        C.ResourceId: resource,
        C.ChargeCategory: "Usage",
        C.ProviderName: "Test",
        C.Tags: json.dumps({"team": team}) if team else None,
    }


def _store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[dict[str, object]], rules: str
) -> duckdb.DuckDBPyConnection:
    """A store of ``rows`` built with allocation rules ``rules``; returns a connection to it."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir(exist_ok=True)
    (rules_dir / "allocation.yaml").write_text(rules)
    (rules_dir / "tags.yaml").write_text(TAGS)
    monkeypatch.setenv("FINOPS_RULES", str(rules_dir))
    frame = conform(pl.DataFrame(rows))
    root = tmp_path / "store"
    with store.publish(root) as pub:
        for (period,), part in frame.group_by(pl.col(C.BillingPeriodStart).dt.strftime("%Y-%m")):
            pub.write(str(period), "part-0", part)
    return store.connect(root)


def _teams(con: duckdb.DuckDBPyConnection, view: str = "daily") -> dict[str, float]:
    return dict(con.execute(f"SELECT {C.x_Team}, sum({C.EffectiveCost}) FROM {view} GROUP BY 1").fetchall())


PRECEDENCE = """
attribution:
  - {id: tag-team, set: team, tag: team}
  - id: account-a
    set: team
    value: alpha
    match: {SubAccountId: [acct-a]}
  - id: pattern-b
    set: team
    value: beta
    match:
      ResourceId: {pattern: '^res-b'}
"""


def test_first_matching_rule_wins_in_file_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = date(2026, 1, 10)
    con = _store(
        tmp_path,
        monkeypatch,
        [
            _row(d, 1.0, sub="acct-a", team="gamma"),  # a tag beats the account rule
            _row(d, 2.0, sub="acct-a", resource="res-b-1"),  # the account rule comes before the pattern
            _row(d, 4.0, sub="acct-b", resource="res-b-2"),  # the pattern
            _row(d, 8.0, sub="acct-c", resource="res-c"),  # nothing matches
        ],
        PRECEDENCE,
    )
    got = dict(
        con.execute(f"SELECT {C.EffectiveCost}, {C.x_Team} || '/' || {C.x_AllocationRule} FROM costs").fetchall()
    )
    assert got == {1.0: "gamma/tag-team", 2.0: "alpha/account-a", 4.0: "beta/pattern-b", 8.0: f"{UNALLOCATED}/none"}
    assert _teams(con) == {"gamma": 1.0, "alpha": 2.0, "beta": 4.0, UNALLOCATED: 8.0}


def test_effective_dates_keep_earlier_months_on_the_old_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = """
attribution:
  - {id: before, set: team, value: search, until: 2026-02-28, match: {SubAccountId: [acct-a]}}
  - {id: after, set: team, value: ml, from: 2026-03-01, match: {SubAccountId: [acct-a]}}
"""
    con = _store(
        tmp_path,
        monkeypatch,
        [_row(date(2026, 1, 15), 10.0), _row(date(2026, 2, 28), 1.0), _row(date(2026, 3, 1), 20.0)],
        rules,
    )
    rows = con.execute(f"SELECT x_ChargeDate, {C.x_Team}, {C.x_AllocationRule} FROM costs ORDER BY 1").fetchall()
    assert [(r[1], r[2]) for r in rows] == [("search", "before"), ("search", "before"), ("ml", "after")]


SPLIT_BASE = """
attribution:
  - {id: tag-team, set: team, tag: team}
shared:
  - id: support
    pool: {ServiceName: [Support]}
"""


@pytest.mark.parametrize(
    ("method", "want"),
    [
        ("method: proportional", {"alpha": 330.0, "beta": 110.0}),
        ("method: even", {"alpha": 320.0, "beta": 120.0}),
        ("method: fixed\n    weights: {alpha: 10, beta: 90}", {"alpha": 304.0, "beta": 136.0}),
        ("method: even\n    to: [beta, gamma]", {"alpha": 300.0, "beta": 120.0, "gamma": 20.0}),
        ("method: proportional\n    to: [alpha]", {"alpha": 340.0, "beta": 100.0}),
    ],
)
def test_each_split_method(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, want: dict[str, float]
) -> None:
    d = date(2026, 4, 2)
    rows = [_row(d, 300.0, team="alpha"), _row(d, 100.0, team="beta"), _row(d, 40.0, service="Support", resource=None)]
    con = _store(tmp_path, monkeypatch, rows, SPLIT_BASE + "    " + method + "\n")
    for view in ("daily", "resource_daily", "costs"):
        got = _teams(con, view)
        assert got.keys() == want.keys(), view
        for team, cost in want.items():
            assert got[team] == pytest.approx(cost, rel=1e-12), (view, team)
    shared = con.execute(
        f"SELECT sum({C.BilledCost}), sum({C.ListCost}) FROM costs WHERE {C.x_AllocationRule} = 'support'"
    ).fetchall()[0]
    assert shared == pytest.approx((40.0, 60.0))  # every metric is split with the same shares


def test_a_pool_with_no_team_to_receive_it_keeps_its_cost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        _row(date(2026, 4, 2), 40.0, service="Support", resource=None),
        _row(date(2026, 5, 2), 10.0, team="alpha"),
        _row(date(2026, 5, 3), 5.0, service="Support", resource=None),
    ]
    con = _store(tmp_path, monkeypatch, rows, SPLIT_BASE + "    method: proportional\n")
    by_month = con.execute(
        f"SELECT month(x_ChargeDate), {C.x_Team}, sum({C.EffectiveCost}) FROM daily GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert by_month == [(4, UNALLOCATED, 40.0), (5, "alpha", 15.0)]


def test_conservation_on_the_demo_for_every_month_currency_and_metric(con, demo_rows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    keys = [C.x_BillingMonth, C.BillingCurrency]
    raw = demo_rows.with_columns(pl.col(C.BillingPeriodStart).dt.date().alias(C.x_BillingMonth))
    want = {tuple(r[:2]): r[2:] for r in raw.group_by(keys).agg(*[pl.col(m).sum() for m in METRICS]).iter_rows()}
    sums = ", ".join(f"sum({m})" for m in METRICS)
    assert len(want) >= 25
    for view in ("daily", "resource_daily", "costs"):
        got = {
            tuple(r[:2]): r[2:]
            for r in con.execute(f"SELECT {', '.join(keys)}, {sums} FROM {view} GROUP BY ALL").fetchall()
        }
        assert got.keys() == want.keys()
        for k, values in want.items():
            assert got[k] == pytest.approx(values, rel=1e-9), (view, k)
    assert con.execute(f"SELECT count(*) FROM daily WHERE {C.x_AllocationRule} LIKE 'split-%'").fetchall()[0][0] > 0


def test_a_build_that_does_not_conserve_is_refused(
    demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    shutil.copytree(demo_store, root)
    before = store.current_version(root)
    real = allocation.shares
    monkeypatch.setattr(allocation, "shares", lambda r, b: real(r, b).with_columns(pl.col("share") * 0.9))
    with pytest.raises(allocation.ConservationError, match="does not conserve EffectiveCost for billing period"):
        store.rebuild(root)
    assert store.current_version(root) == before
    assert not list((root / "versions").glob(".staging-*"))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("colour: red\n", ":1: colour: unknown field"),
        ("attribution:\n  - {set: team, value: x}\n", ":2: attribution[0]: missing field id"),
        ("attribution:\n  - {id: a, set: squad, value: x}\n", ":2: attribution[0].set: 'squad' is not one of"),
        ("attribution:\n  - {id: a, set: team}\n", ":2: attribution[0]: give exactly one of tag"),
        ("attribution:\n  - {id: a, set: team, value: x, tag: team}\n", "exactly one of tag"),
        (
            "attribution:\n  - {id: a, set: team, value: x, from: 2026-13-01}\n",
            ":2: attribution[0].from: '2026-13-01' is not a date",
        ),
        (
            "attribution:\n  - {id: a, set: team, value: x, from: 2026-03-01, until: 2026-01-01}\n",
            "is before from 2026-03-01",
        ),
        (
            "attribution:\n  - id: a\n    set: team\n    value: x\n    match: {Colour: [red]}\n",
            ":5: attribution[0].match.Colour: not a column",
        ),
        (
            "attribution:\n  - id: a\n    set: team\n    value: x\n    match:\n      ResourceId: {pattern: '(unclosed'}\n",
            ":6: attribution[0].match.ResourceId.pattern: invalid regular expression",
        ),
        (
            "attribution:\n  - {id: a, set: team, value: x}\n  - {id: a, set: team, value: y}\n",
            ":3: attribution[1].id: 'a' is already used on line 2",
        ),
        (
            "shared:\n  - {id: s, pool: {ServiceName: [S]}, method: fixed, weights: {a: 60, b: 30}}\n",
            ":2: shared[0].weights: percents sum to 90, not 100",
        ),
        (
            "shared:\n  - {id: s, pool: {ServiceName: [S]}, method: proportional, weights: {a: 100}}\n",
            "weights are only for method fixed",
        ),
        (
            "shared:\n  - {id: s, pool: {ServiceName: [S]}, method: random}\n",
            ":2: shared[0].method: expected one of proportional",
        ),
        ("shared:\n  - {id: s, method: even}\n", "missing field pool"),
        (
            "shared:\n  - {id: s1, pool: {ServiceName: [S]}, method: even, to: [platform]}\n"
            "  - {id: s2, pool: {x_Team: [platform]}, method: even}\n",
            "sends cost to 'platform', which is itself the pool of shared 's2' (line 3): splits may not recurse",
        ),
        ("required_tags: [team, colour]\n", ":1: required_tags: 'colour' is not one of"),
        ("attribution: [\n", "not valid YAML"),
    ],
)
def test_invalid_rules_are_refused_with_file_line_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "allocation.yaml"
    path.write_text(text)
    with pytest.raises(RulesError) as err:
        allocation.load(path)
    assert str(path) in str(err.value) and needle in str(err.value), str(err.value)


def test_shipped_rules_parse_and_cover_more_than_tags(con) -> None:  # type: ignore[no-untyped-def]
    rules = rollups.current_rules()
    assert len(rules.allocation.attribution) > 10 and {s.method for s in rules.allocation.splits} == {
        "proportional",
        "even",
        "fixed",
    }
    by_source = con.execute(
        f"SELECT {C.x_AllocationRule} = 'none', sum({C.EffectiveCost}) FROM daily GROUP BY 1"
    ).fetchall()
    unallocated = dict(by_source)[True]
    assert unallocated / sum(v for _, v in by_source) < 0.05


def _team_totals(frame: pl.DataFrame) -> dict[str, float]:
    usd = frame.filter(pl.col(C.BillingCurrency) == "USD")
    return dict(usd.group_by(C.x_Team).agg(pl.col(C.EffectiveCost).sum()).iter_rows())


def test_rule_change_dry_run_then_save_moves_the_expected_amount_in_the_cli(
    demo_store: Path, demo_rows: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    shutil.copytree(demo_store, root)
    monkeypatch.setenv("FINOPS_RULES", str(tmp_path / "rules"))
    current = rollups.current_rules()
    old = current.texts["allocation.yaml"]
    new = old.replace(
        "value: search\n    match: {SubAccountId: ['210000000005']}",
        "value: catalog\n    match: {SubAccountId: ['210000000005']}",
    )
    assert new != old
    # the independent expectation: allocate the raw rows with both rule sets in Polars
    want_before = _team_totals(allocate(demo_rows, current))
    want_after = _team_totals(allocate(demo_rows, rollups.parse_rules(current.texts | {"allocation.yaml": new})))
    moved = want_after["catalog"] - want_before["catalog"]
    assert moved > 1000 and want_after["search"] < want_before["search"]

    dry = governance.dry_run(root, {"allocation.yaml": new}).filter(pl.col(C.BillingCurrency) == "USD")
    per_team = dict(dry.group_by(C.x_Team).agg(pl.col("change").sum()).iter_rows())
    assert per_team["catalog"] == pytest.approx(moved, rel=1e-9)
    assert sum(per_team.values()) == pytest.approx(0.0, abs=1e-6)  # cost moves, none appears or vanishes
    assert store.current_version(root) == store.current_version(demo_store)  # a dry run writes nothing

    governance.save_rules(root, "allocation.yaml", new, "admin")
    code, out, _ = run(
        "query",
        "--store",
        str(root),
        "--start",
        "2000-01-01",
        "--end",
        "2100-01-01",
        "--group-by",
        "x_Team",
        "--filter",
        "BillingCurrency=USD",
    )
    assert code == 0
    got = dict(pl.read_csv(io.StringIO(out)).select(C.x_Team, C.EffectiveCost).iter_rows())
    for team, cost in want_after.items():
        assert got[team] == pytest.approx(cost, abs=0.005), team  # the CLI rounds money to cents
    history = governance.rule_history("allocation.yaml")
    assert history["username"][0] == "admin" and "+    value: catalog" in history["diff"][0]


def test_an_invalid_save_changes_nothing(demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "store"
    shutil.copytree(demo_store, root)
    monkeypatch.setenv("FINOPS_RULES", str(tmp_path / "rules"))
    before = store.current_version(root)
    with pytest.raises(RulesError, match=r"allocation.yaml:2: attribution\[0\].set"):
        governance.save_rules(root, "allocation.yaml", "attribution:\n  - {id: a, set: squad, value: x}\n", "admin")
    assert store.current_version(root) == before and not (tmp_path / "rules" / "allocation.yaml").exists()
    real = allocation.shares  # a rebuild that fails puts the previous rules back
    monkeypatch.setattr(allocation, "shares", lambda r, b: real(r, b).with_columns(pl.col("share") * 2))
    text = rollups.current_rules().texts["allocation.yaml"] + "\n# a comment\n"
    with pytest.raises(allocation.ConservationError):
        governance.save_rules(root, "allocation.yaml", text, "admin")
    assert store.current_version(root) == before and not (tmp_path / "rules" / "allocation.yaml").exists()


def test_compliance_and_remediation_match_the_raw_rows(con, demo_rows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    from finops_core.query import CostQuery

    q = CostQuery(date(2026, 9, 1), date(2026, 9, 30), filters=((C.BillingCurrency, ("USD",)),))
    rules = rollups.current_rules()
    rows = allocate(demo_rows, rules).filter(
        (pl.col(C.x_BillingMonth) == date(2026, 9, 1))
        & (pl.col(C.BillingCurrency) == "USD")
        & pl.col(C.ResourceId).is_not_null()
        & (pl.col(C.ChargeCategory) == "Usage")
        & (pl.col(C.CommitmentDiscountStatus).fill_null("") != "Unused")
    )
    tagged = rows[C.Tags].map_elements(lambda t: governance_has(t, rules, "team"), return_dtype=pl.Boolean)
    rows = rows.with_columns(tagged.alias("has_team"))
    want = rows.group_by(C.SubAccountName).agg(
        (pl.col(C.EffectiveCost).filter("has_team").sum() / pl.col(C.EffectiveCost).sum()).alias("team")
    )
    got = governance.compliance_summary(con, q, ("team",), C.SubAccountName)
    got_map = dict(got.select(C.SubAccountName, "team").iter_rows())
    for name, share in want.iter_rows():
        assert got_map[name] == pytest.approx(share, rel=1e-9), name
    gaps = governance.remediation(con, q, "team", 5)
    sept = rows.filter(pl.col(C.x_ChargeDate).is_between(q.start, q.end) & ~pl.col("has_team"))
    top = sept.group_by(C.ResourceId).agg(pl.col(C.EffectiveCost).sum()).sort(C.EffectiveCost, descending=True)
    assert gaps[C.ResourceId][0] == top[C.ResourceId][0]
    assert gaps["cost"][0] == pytest.approx(top[C.EffectiveCost][0], rel=1e-9)


def governance_has(tags: str | None, rules: rollups.RuleSet, key: str) -> bool:
    from finops_core.tagrules import folded_tags

    value = rules.tags.raw(folded_tags(tags), key)
    return value is not None and value.strip() != ""


def test_a_proposed_typo_alias_accepted_moves_its_cost(
    demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finops_core.query import CostQuery

    root = tmp_path / "store"
    shutil.copytree(demo_store, root)
    monkeypatch.setenv("FINOPS_RULES", str(tmp_path / "rules"))
    con = store.connect(root)
    q = CostQuery(date(2000, 1, 1), date(2100, 1, 1))
    proposals = governance.typo_table(con, q, "team")
    row = proposals.filter(pl.col("alias") == "identiy").row(0, named=True)
    assert row["canonical"] == "identity" and row["edit_distance"] <= 2
    teams = dict(con.execute(f"SELECT {C.x_Team}, sum({C.EffectiveCost}) FROM daily GROUP BY 1").fetchall())
    con.close()
    governance.accept_aliases(root, "team", {"identiy": "identity"}, "admin")
    con = store.connect(root)
    after = dict(con.execute(f"SELECT {C.x_Team}, sum({C.EffectiveCost}) FROM daily GROUP BY 1").fetchall())
    assert "identiy" not in after and "identiy" not in governance.typo_table(con, q, "team")["alias"].to_list()
    assert sum(after.values()) == pytest.approx(sum(teams.values()), rel=1e-12)
    assert after["identity"] > teams["identity"]
    saved = (tmp_path / "rules" / "tags.yaml").read_text()
    assert "    identiy: identity" in saved and saved.startswith("# Tag normalization")  # comments kept


def test_cli_rules_check_and_dry_run(demo_store: Path, tmp_path: Path) -> None:
    good = tmp_path / "allocation.yaml"
    good.write_text(rollups.current_rules().texts["allocation.yaml"].replace("value: search\n", "value: catalog\n", 1))
    code, _, err = run("rules", "check", str(good))
    assert code == 0 and "ok (" in err
    code, out, err = run("rules", "dry-run", str(good), "--store", str(demo_store))
    assert code == 0 and "nothing was saved" in err
    frame = pl.read_csv(io.StringIO(out))
    assert set(frame[C.x_Team]) >= {"search", "catalog"}
    assert frame["change"].sum() == pytest.approx(0.0, abs=0.05)
    bad = tmp_path / "bad" / "allocation.yaml"
    bad.parent.mkdir()
    bad.write_text("attribution:\n  - {id: a, set: team, value: x, until: someday}\n")
    code, _, err = run("rules", "check", str(bad))
    assert code == 2 and f"{bad}:2: attribution[0].until: 'someday' is not a date" in err
    code, _, err = run("rules", "check", str(tmp_path / "other.yaml"))
    assert code == 2 and "name the file allocation.yaml or tags.yaml" in err
