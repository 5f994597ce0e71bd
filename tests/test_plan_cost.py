"""Cost impact of a Terraform plan: exact estimates on a constructed store (median of similar
resources, the fall-back order, a removed resource's own cost, a resize), the Markdown, the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from finops_core import cli
from finops_core.policy import impact, plan
from tests.test_allocation import SPLIT_BASE, _row, _store

EC2 = "Amazon Elastic Compute Cloud"
M = 365.25 / 12
DAYS = (date(2026, 3, 30), date(2026, 3, 31))


def _billed(
    sku: str, per_day: float, resource: str, service: str = EC2, region: str = "us-east-1"
) -> list[dict[str, object]]:
    return [_row(d, per_day, service=service, resource=resource) | {"SkuId": sku, "RegionId": region} for d in DAYS]


@pytest.fixture()
def costs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    rows = [
        *_billed("m5.xlarge", 2.0, "arn:aws:ec2:us-east-1:1:instance/i-a"),
        *_billed("m5.xlarge", 3.0, "arn:aws:ec2:us-east-1:1:instance/i-b"),
        *_billed("m5.xlarge", 10.0, "arn:aws:ec2:us-east-1:1:instance/i-c"),
        *_billed("m5.xlarge", 7.0, "arn:aws:ec2:eu-west-1:1:instance/i-e", region="eu-west-1"),
        *_billed("m5.large", 1.0, "arn:aws:ec2:us-east-1:1:instance/i-0old"),
        # an old month outside the 30-day window does not count
        _row(date(2026, 1, 5), 500.0, service=EC2, resource="arn:aws:ec2:us-east-1:1:instance/i-z")
        | {"SkuId": "m5.xlarge", "RegionId": "us-east-1"},
    ]
    con = _store(tmp_path, monkeypatch, rows, SPLIT_BASE + "    method: even\n")
    yield impact.resource_costs(con)
    con.close()


def _rc(address: str, type_: str, actions: list[str], before: Any, after: Any) -> dict[str, Any]:
    provider = "registry.terraform.io/hashicorp/" + type_.split("_")[0].replace("azurerm", "azurerm")
    change = {"actions": actions, "before": before, "after": after, "after_unknown": {}}
    return {
        "address": address,
        "mode": "managed",
        "type": type_,
        "name": "x",
        "provider_name": provider,
        "change": change,
    }


PLAN = {
    "format_version": "1.2",
    "resource_changes": [
        _rc(
            "aws_instance.new",
            "aws_instance",
            ["create"],
            None,
            {"instance_type": "m5.xlarge", "availability_zone": "us-east-1b"},
        ),
        _rc("aws_instance.gone", "aws_instance", ["delete"], {"instance_type": "m5.large", "id": "i-0old"}, None),
        _rc(
            "aws_instance.up",
            "aws_instance",
            ["update"],
            {"instance_type": "m5.large", "id": "i-0old"},
            {"instance_type": "m5.xlarge"},
        ),
        _rc(
            "aws_instance.far",
            "aws_instance",
            ["create"],
            None,
            {"instance_type": "m5.xlarge", "availability_zone": "ap-south-1a"},
        ),
        _rc("aws_instance.odd", "aws_instance", ["create"], None, {"instance_type": "x9.huge"}),
        _rc(
            "google_compute_instance.vm",
            "google_compute_instance",
            ["create"],
            None,
            {"machine_type": "n2-standard-4", "zone": "europe-west1-b"},
        ),
        _rc("aws_iam_role.r", "aws_iam_role", ["create"], None, {"name": "r"}),
        _rc(
            "aws_instance.same",
            "aws_instance",
            ["update"],
            {"instance_type": "m5.large"},
            {"instance_type": "m5.large"},
        ),
    ],
    "configuration": {
        "provider_config": {"aws": {"name": "aws", "expressions": {"region": {"constant_value": "us-east-1"}}}}
    },
}


def test_estimates_from_similar_billed_resources(costs) -> None:  # type: ignore[no-untyped-def]
    table = impact.plan_impact(costs, plan.resources(PLAN), impact.default_region(PLAN))
    got = {r["address"]: r for r in table.iter_rows(named=True)}
    assert list(got) == [
        "aws_instance.new",
        "aws_instance.gone",
        "aws_instance.up",
        "aws_instance.far",
        "aws_instance.odd",
        "google_compute_instance.vm",
        "aws_iam_role.r",
    ]  # an update that changes no size costs nothing and is not listed
    assert got["aws_instance.new"]["monthly_change"] == pytest.approx(3.0 * M)  # median of 2, 3, 10 a day in us-east-1
    assert "median of 3 billed resource(s)" in got["aws_instance.new"]["how"]
    assert got["aws_instance.gone"]["monthly_change"] == pytest.approx(-1.0 * M)
    assert got["aws_instance.gone"]["how"] == "its own cost, last 30 days"
    assert got["aws_instance.up"]["monthly_change"] == pytest.approx(2.0 * M)  # 3 a day for m5.xlarge minus its own 1
    assert got["aws_instance.up"]["region"] == "us-east-1"  # the provider's region
    assert got["aws_instance.far"]["monthly_change"] == pytest.approx(
        5.0 * M
    )  # no m5.xlarge in ap-south-1: median of 2, 3, 7, 10
    assert "matched on SKU, any region" in got["aws_instance.far"]["how"]
    assert got["aws_instance.odd"]["monthly_change"] == pytest.approx(2.5 * M)  # region only: median of 1, 2, 3, 10
    assert "matched on region, any SKU" in got["aws_instance.odd"]["how"]
    assert got["google_compute_instance.vm"]["monthly_change"] is None
    assert got["google_compute_instance.vm"]["region"] == "europe-west1"
    assert got["aws_iam_role.r"]["service"] is None
    md = impact.markdown(table)
    total = (3.0 - 1.0 + 2.0 + 5.0 + 2.5) * M
    assert f"**Total: +{total:,.2f} USD per month**" in md
    assert "| `aws_instance.gone` | remove | m5.large | us-east-1 | -30.44 USD | its own cost, last 30 days |" in md
    assert "Not priced (no billed service for the type): `aws_iam_role.r`" in md


def test_sizes_and_regions_read_from_plan_attributes() -> None:
    assert impact.sku_of({"size": "Standard_D4s_v5"}) == "D4s v5"
    assert impact.sku_of({"instance_class": "db.r5.large"}) == "db.r5.large"
    assert impact.region_of({"location": "West Europe"}, None) == "westeurope"
    assert impact.region_of({"availability_zone": "eu-central-1c"}, None) == "eu-central-1"
    assert impact.region_of({"zone": "us-central1-a"}, None) == "us-central1"
    assert impact.region_of({}, "us-west-2") == "us-west-2"


def test_plan_cost_cli_on_the_demo(demo_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plans = Path(__file__).parent / "data" / "terraform"
    assert cli.main(["plan-cost", str(plans / "gcp_azure_plan.json"), "--store", str(demo_store)]) == 0
    md = capsys.readouterr().out
    assert md.startswith("### Estimated monthly cost impact")
    assert "| `azurerm_linux_virtual_machine.api` | add | D4s v5 | westeurope |" in md
    assert "**Total: +" in md
    assert cli.main(["plan-cost", str(plans / "missing.json"), "--store", str(demo_store)]) == 2
