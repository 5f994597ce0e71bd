"""FOCUS versions 1.0 to 1.4 are told by their columns; the output names the version and the
columns not carried. The 1.3 and 1.4 fixtures are our 1.2 export plus the columns those versions
introduced (FOCUS_Spec ``specification/datasets/cost_and_usage/columns/*.md``, "Introduced")."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from finops_core.ingest import IngestError, ingest
from finops_core.ingest.focus import version
from finops_core.schema import FOCUS_NAMES, C
from tests.test_ingest import _cli, _focus_csv, snapshot, totals

# Cost and Usage columns new in 1.3 (eight: 65 with the 57 of 1.2) and in 1.4
NEW_IN_1_3 = {
    "AllocatedMethodId": None,
    "AllocatedMethodDetails": None,
    "AllocatedResourceId": None,
    "AllocatedResourceName": None,
    "AllocatedTags": None,
    "ContractApplied": '{"Elements": [{"ContractCommitmentId": "cc-1", "ContractCommitmentAppliedCost": 1.5}]}',
    "ServiceProviderName": "AWS",
    "HostProviderName": "AWS",
}
NEW_IN_1_4 = {"InvoiceDetailId": "INV-1-0001", "CommitmentProgramEligibilityDetails": None}


def _fixture(tmp_path: Path, name: str, extra: dict[str, str | None]) -> Path:
    frame = pl.read_csv(_focus_csv(tmp_path), infer_schema=False)
    frame = frame.with_columns(pl.lit(v, pl.String).alias(k) for k, v in extra.items())
    out = tmp_path / name
    frame.write_csv(out)
    return out


@pytest.mark.parametrize(
    ("name", "extra", "want"),
    [("focus-1.3.csv", NEW_IN_1_3, "1.3"), ("focus-1.4.csv", NEW_IN_1_3 | NEW_IN_1_4, "1.4")],
)
def test_focus_1_3_and_1_4_ingest_and_say_what_was_not_carried(
    tmp_path: Path, name: str, extra: dict[str, str | None], want: str
) -> None:
    path = _fixture(tmp_path, name, extra)
    assert version(pl.read_csv(path, n_rows=0).columns)[0] == want
    code, out = _cli("ingest", str(path), "--store", str(tmp_path / "store"))
    assert code == 0 and f"FOCUS {want} (by its columns" in out
    assert f"{len(extra)} column(s) not carried (no FOCUS 1.2 column): {', '.join(extra)}" in out
    ingest([tmp_path / "valid.csv"], tmp_path / "plain")
    assert totals(tmp_path / "store") == totals(tmp_path / "plain")
    assert snapshot(tmp_path / "store").columns == list(FOCUS_NAMES)  # the published schema stays FOCUS 1.2


def test_service_provider_name_stands_in_for_a_missing_provider_name(tmp_path: Path) -> None:
    frame = pl.read_csv(_fixture(tmp_path, "f.csv", NEW_IN_1_3), infer_schema=False).drop(C.ProviderName)
    frame = frame.with_columns(pl.lit("Amazon Web Services").alias("ServiceProviderName"))
    frame.write_csv(tmp_path / "no-provider.csv")
    report = ingest([tmp_path / "no-provider.csv"], tmp_path / "store")
    assert "ServiceProviderName carried as ProviderName" in report.inputs[0].notes[0]
    assert set(snapshot(tmp_path / "store")[C.ProviderName]) == {"Amazon Web Services"}


@pytest.mark.parametrize(
    ("drop", "want"),
    [
        (["InvoiceId", "BillingAccountType", "PricingCurrency", "PricingCurrencyEffectiveCost", "SubAccountType"], "1.1"),
        (
            [
                "InvoiceId", "BillingAccountType", "PricingCurrency", "PricingCurrencyEffectiveCost", "SubAccountType",
                "CapacityReservationId", "CommitmentDiscountQuantity", "ServiceSubcategory", "SkuMeter", "SkuPriceDetails",
            ],
            "1.0",
        ),
    ],
)  # fmt: skip
def test_older_versions_are_told_by_the_columns_they_lack(tmp_path: Path, drop: list[str], want: str) -> None:
    columns = [c for c in FOCUS_NAMES if c not in drop]
    assert version(columns)[0] == want
    assert version(["ChargeType", "AmortizedCost", "BilledCost"])[0] == "1.0-preview"


def test_a_partial_1_3_contract_commitment_dataset_is_named_with_its_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "contract.csv"
    path.write_text(
        "ContractId,ContractPeriodStart,ContractPeriodEnd,ContractCommitmentId,ContractCommitmentCategory,"
        "ContractCommitmentCost,BillingCurrency\nc-1,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z,cc-1,Spend,1000,USD\n"
    )
    with pytest.raises(
        IngestError,
        match=r"contract.csv: row 1 \(header\): FOCUS 1.3 Contract Commitment dataset without column\(s\) "
        r"ContractCommitmentType, ContractCommitmentDescription",
    ):
        ingest([path], tmp_path / "store")
