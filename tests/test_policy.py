"""Tag policy as code: validation with file, line and field; rules, values and expiring exemptions;
compliance over time on a constructed store (exact) and on the demo (equal to the compliance
rollup's for the same requirement); two Terraform plan layouts (AWS tags and tags_all in nested
modules, GCP labels and effective_labels, Azure tags) through the CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finops_core import cli, governance, rollups, store, tagrules
from finops_core.policy import billing, judge, plan, rules
from finops_core.query import CostQuery
from finops_core.schema import C
from finops_core.tagrules import RulesError
from tests.test_allocation import SPLIT_BASE, _row, _store

PLANS = Path(__file__).parent / "data" / "terraform"
TAGS = tagrules.parse(
    "fold_case: [team, environment]\nkeys:\n  team: [owner-team]\n  environment: [env]\n"
    "values:\n  environment: {production: prod}\n"
)
POLICY = """\
rules:
  - id: ownership
    require: [team, environment]
    values:
      environment: [prod, staging, dev]
      team: {pattern: '^[a-z][a-z0-9-]*$'}
  - id: cost-center
    scope: {provider: [AWS, Microsoft, Google Cloud]}
    require: [cost_center]
    values:
      cost_center: {pattern: '^CC-[0-9]{4}$'}
  - id: db-owner
    scope: {resource_types: ['aws_db_*']}
    require: [owner]
exemptions:
  - rule: ownership
    keys: [environment]
    scope: {resources: ['module.web.*']}
    expires: 2026-12-31
    reason: module.web gets environments from its workspace in Q1
"""


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("rules:\n  - id: a\n    requires: [team]\n", "p.yaml:3: rules[0].requires: unknown field"),
        ("rules:\n  - require: [team]\n", "p.yaml:2: rules[0].id: required"),
        ("rules:\n  - id: a\n", "p.yaml:2: rules[0]: a rule needs require or values"),
        (
            "rules:\n  - id: a\n    values:\n      team: {pattern: '(['}\n",
            "p.yaml:4: rules[0].values.team.pattern: not a regular expression",
        ),
        (
            "rules:\n  - id: a\n    require: [team]\n    scope: {region: [eu]}\n",
            "p.yaml:4: rules[0].scope.region: unknown field",
        ),
        (
            "rules:\n  - {id: a, require: [team]}\n  - {id: a, require: [owner]}\n",
            "p.yaml:3: rules[1].id: duplicate of the rule on line 2",
        ),
        (
            "rules:\n  - {id: a, require: [team]}\nexemptions:\n  - {rule: b, expires: 2026-01-01, reason: x}\n",
            "p.yaml:4: exemptions[0].rule: no rule 'b' (rules: a)",
        ),
        (
            "rules:\n  - {id: a, require: [team]}\nexemptions:\n  - {rule: a, expires: 2026-02-30, reason: x}\n",
            "p.yaml:4: exemptions[0].expires: '2026-02-30' is not a date (YYYY-MM-DD)",
        ),
        (
            "rules:\n  - {id: a, require: [team]}\nexemptions:\n  - {rule: a, reason: x}\n",
            "p.yaml:4: exemptions[0].expires: required",
        ),
        (
            "rules:\n  - {id: a, require: [team]}\nexemptions:\n  - {rule: a, keys: [owner], expires: 2026-01-01, reason: x}\n",
            "p.yaml:4: exemptions[0].keys: rule 'a' has no key 'owner'",
        ),
        ("exemptions: []\n", "p.yaml:1: rules: the policy has no rules"),
    ],
)
def test_invalid_policies_name_file_line_and_field(text: str, error: str) -> None:
    with pytest.raises(RulesError) as err:
        rules.parse(text, "p.yaml")
    assert str(err.value).startswith(error)


def test_the_shipped_policy_is_valid() -> None:
    policy = rules.load(rules.SHIPPED)
    assert [r.id for r in policy.rules] == ["ownership", "cost-center"]
    assert all(e.reason for e in policy.exemptions)


def test_values_are_read_through_the_tag_rules_and_exemptions_expire() -> None:
    policy = rules.parse(POLICY, "p.yaml", TAGS)
    facts = {"provider": "AWS", "resources": "module.web.aws_instance.x"}
    good = {"owner-team": "Payments", "env": "production", "cost_center": "CC-1010"}
    assert judge.violations(policy, good, facts, date(2026, 6, 1)) == []
    bad = {"team": "pay ments", "cost_center": "1010"}
    found = judge.violations(policy, bad, facts, date(2026, 12, 31))
    assert [(v["rule"], v["key"], v["problem"], v["value"], bool(v["exempt"])) for v in found] == [
        ("ownership", "team", "not allowed (expected pattern ^[a-z][a-z0-9-]*$)", "pay ments", False),
        ("ownership", "environment", "missing", "", True),
        (
            "cost-center",
            "cost_center",
            "not allowed (expected pattern ^[A-Z]{2}-[0-9]{4}$)".replace("[A-Z]{2}", "CC"),
            "1010",
            False,
        ),
    ]
    later = judge.violations(policy, bad, facts, date(2027, 1, 1))
    assert not any(v["exempt"] for v in later)  # the day after the expiry date it no longer applies
    assert judge.violations(policy, bad, {"provider": None}, date(2026, 6, 1))[-1]["rule"] == "ownership"


def _expected(found: list[dict[str, str]]) -> list[tuple[str, str, str, str, bool]]:
    return [(v["address"], v["rule"], v["key"], v["problem"], bool(v["exempt"])) for v in found]


def test_aws_plan_with_modules_tags_all_and_replacements() -> None:
    policy = rules.parse(POLICY, "p.yaml", TAGS)
    found = plan.load_checked(PLANS / "aws_plan.json", policy, date(2026, 6, 1))
    assert _expected(found) == [
        (
            "module.web.aws_instance.app[0]",
            "ownership",
            "team",
            "not allowed (expected pattern ^[a-z][a-z0-9-]*$)",
            False,
        ),
        ("module.web.aws_instance.app[1]", "ownership", "environment", "missing", True),
        ("module.web.aws_instance.app[1]", "cost-center", "cost_center", "missing", False),
        ("module.web.module.db.aws_db_instance.main", "ownership", "team", "missing", False),
        ("module.web.module.db.aws_db_instance.main", "ownership", "environment", "missing", True),
        ("module.web.module.db.aws_db_instance.main", "db-owner", "owner", "missing", False),
    ]
    # tags_all (with the provider's default_tags) is read, except where it is unknown until apply
    assert {v["address"]: v["tags_from"] for v in found} == {
        "module.web.aws_instance.app[0]": "tags_all",
        "module.web.aws_instance.app[1]": "tags",
        "module.web.module.db.aws_db_instance.main": "tags_all",
    }
    assert found[0]["value"] == "web team"  # fold_case applies as in the bill


def test_gcp_labels_and_azure_tags_plan() -> None:
    policy = rules.parse(POLICY, "p.yaml", TAGS)
    found = plan.load_checked(PLANS / "gcp_azure_plan.json", policy, date(2026, 6, 1))
    allowed_env = "not allowed (expected one of prod, staging, dev)"
    assert _expected(found) == [
        ('module.analytics.google_compute_instance.worker["etl"]', "ownership", "environment", allowed_env, False),
        ('module.analytics.google_compute_instance.worker["etl"]', "cost-center", "cost_center", "missing", False),
        ("google_storage_bucket.scratch", "ownership", "team", "missing", False),
        ("google_storage_bucket.scratch", "ownership", "environment", "missing", False),
        ("google_storage_bucket.scratch", "cost-center", "cost_center", "missing", False),
        (
            "azurerm_linux_virtual_machine.api",
            "cost-center",
            "cost_center",
            "not allowed (expected pattern ^CC-[0-9]{4}$)",
            False,
        ),
    ]
    planned = {r.address: r for r in plan.resources(plan.read(PLANS / "gcp_azure_plan.json"))}
    assert planned["module.analytics.google_bigquery_dataset.events"].attribute == "effective_labels"
    assert planned["azurerm_linux_virtual_machine.api"].provider == "Microsoft"


def test_account_scoped_rules_apply_only_when_the_account_is_given() -> None:
    policy = rules.parse(
        "rules:\n  - id: p\n    scope: {accounts: ['payments-*']}\n    require: [owner]\n", "p.yaml", TAGS
    )
    planned = plan.resources(plan.read(PLANS / "gcp_azure_plan.json"))
    assert plan.check(policy, planned, date(2026, 6, 1)) == []
    assert len(plan.check(policy, planned, date(2026, 6, 1), "payments-prod")) == 4  # every checked resource


def test_check_plan_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    args = ["policy", "check-plan", "--policy", str(policy), "--as-of", "2026-06-01"]
    assert cli.main([*args, str(PLANS / "aws_plan.json")]) == 1
    out = capsys.readouterr()
    assert "module.web.module.db.aws_db_instance.main: owner: missing (rule db-owner)" in out.out
    assert "4 violation(s), 2 exempt" in out.err
    clean = tmp_path / "clean.json"
    doc = plan.read(PLANS / "aws_plan.json")
    doc["resource_changes"] = (
        doc["resource_changes"][:1] + doc["resource_changes"][4:]
    )  # the tagged bucket and no-tag resources
    clean.write_text(json.dumps(doc))
    assert cli.main([*args, str(clean)]) == 0
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert cli.main([*args, str(broken)]) == 2
    assert f"{broken}:1: not JSON" in capsys.readouterr().err
    policy.write_text("rules:\n  - id: a\n    requires: [team]\n")
    assert cli.main([*args, str(clean)]) == 2
    assert f"{policy}:3: rules[0].requires: unknown field" in capsys.readouterr().err


BILLING_POLICY = """\
rules:
  - {id: ownership, scope: {accounts: [acct-a, sandbox]}, require: [team, environment]}
  - id: cost-center
    scope: {accounts: [acct-a, sandbox]}
    require: [cost_center]
    values: {cost_center: {pattern: 'CC-[0-9]{4}'}}
exemptions:
  - {rule: ownership, scope: {accounts: [sandbox]}, expires: 2026-01-31, reason: retiring}
  - {rule: cost-center, scope: {accounts: [sandbox]}, expires: 2026-01-31, reason: retiring}
"""


def test_compliance_over_time_on_a_constructed_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = []
    for day in (date(2026, 1, 10), date(2026, 2, 10)):
        for cost, sub, res, tags in (
            (100.0, "acct-a", "r1", {"team": "alpha", "environment": "prod", "cost_center": "CC-0001"}),
            (50.0, "acct-a", "r2", {"team": "alpha"}),
            (30.0, "sandbox", "r3", None),
            (10.0, "acct-z", "r4", None),  # no rule covers acct-z
            (20.0, "acct-a", None, None),  # not taggable: no resource
        ):
            row = _row(day, cost, sub=sub, resource=res)
            rows.append(row | {C.SubAccountName: sub, C.Tags: json.dumps(tags) if tags else None})
    con = _store(tmp_path, monkeypatch, rows, SPLIT_BASE + "    method: even\n")
    policy = rules.parse(BILLING_POLICY, "p.yaml", rollups.version_rules(con, "r").tags)
    evaluated = billing.evaluate(con, CostQuery(date(2026, 1, 1), date(2026, 2, 28)), policy)
    history = billing.compliance_history(evaluated)
    cols = ("taggable_cost", "out_of_scope", "in_scope", "compliant", "exempt", "violating", "compliance")
    assert history.select(cols).rows() == [
        (190.0, 10.0, 180.0, 100.0, 30.0, 50.0, 130 / 180),
        (190.0, 10.0, 180.0, 100.0, 0.0, 80.0, 100 / 180),  # the sandbox's exemption expired in January
    ]
    top = billing.top_violations(evaluated)
    assert sorted(top.select("broken", C.SubAccountName, "cost").rows()) == sorted(
        [
            ("ownership/environment: missing", "acct-a", 50.0),
            ("cost-center/cost_center: missing", "acct-a", 50.0),
            ("ownership/team: missing", "sandbox", 30.0),
            ("ownership/environment: missing", "sandbox", 30.0),
            ("cost-center/cost_center: missing", "sandbox", 30.0),
        ]
    )
    assert top["cost"].to_list() == [50.0, 50.0, 30.0, 30.0, 30.0]  # costliest first


@pytest.mark.parametrize("currency", ["USD", "EUR"])
def test_demo_policy_on_team_equals_the_compliance_rollup(demo_store: Path, currency: str) -> None:
    con = store.connect(demo_store)
    first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchall()[0]
    q = CostQuery(first, last, filters=((C.BillingCurrency, (currency,)),))
    policy = rules.parse("rules:\n  - {id: t, require: [team]}\n", "p.yaml", rollups.version_rules(con, "r").tags)
    ours = billing.compliance_history(billing.evaluate(con, q, policy))
    theirs = governance.compliance(con, q, ("team",))
    assert ours.height == theirs.height == 25
    assert ours["in_scope"].to_list() == pytest.approx(theirs["taggable_cost"].to_list(), rel=1e-9)
    assert ours["compliance"].to_list() == pytest.approx(theirs["team"].to_list(), rel=1e-9)


def test_policy_check_cli_on_the_demo(demo_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["policy", "check", "--store", str(demo_store), "--format", "csv"]) == 0
    history = pl.read_csv(capsys.readouterr().out.encode())
    assert history.height == 50  # 25 months x 2 currencies
    parts = history["compliant"] + history["exempt"] + history["violating"] + history["out_of_scope"]
    assert (parts - history["taggable_cost"]).abs().max() < 3e-4  # type: ignore[operator]  # 4 decimals in the CSV
    assert cli.main(["policy", "check", "--store", str(demo_store), "--fail-below", "1.0"]) == 1
