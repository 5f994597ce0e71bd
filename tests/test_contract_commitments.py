"""FOCUS 1.3 contract commitments: the Contract Commitment dataset (columns and rules from the 1.3
spec's ``specification/datasets/contract_commitment``) and the cost rows' ContractApplied, stored
in the version; consumption checked against a sum computed here from the CSV's own JSON."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finops_core import store
from finops_core.contract_commitments import contract_commitments
from finops_core.ingest import IngestError, ingest
from finops_core.ingest.contracts import NAMES
from finops_core.query import CostQuery, Scope
from finops_core.sync import runner
from finops_core.sync.sources import Source
from tests.test_pages import _app

DATA = Path(__file__).parent / "data" / "focus-1.3"
COSTS = DATA / "focus-1.3-cost-and-usage.csv"
CONTRACTS = DATA / "focus-1.3-contract-commitment.csv"
Q = CostQuery(date(2026, 10, 1), date(2026, 10, 31))


def _applied(path: Path) -> dict[str, tuple[float, float]]:
    """(applied cost, applied quantity) per commitment id, read from the CSV's ContractApplied JSON."""
    out: dict[str, list[float]] = {}
    for raw in pl.read_csv(path, infer_schema=False)["ContractApplied"].drop_nulls():
        for e in json.loads(raw)["Elements"]:
            acc = out.setdefault(e["ContractCommitmentId"], [0.0, 0.0])
            acc[0] += e["ContractCommitmentAppliedCost"] or 0.0
            acc[1] += e["ContractCommitmentAppliedQuantity"] or 0.0
    return {k: (v[0], v[1]) for k, v in out.items()}


def _by_id(frame: pl.DataFrame) -> dict[str, dict[str, object]]:
    return {r["ContractCommitmentId"]: r for r in frame.iter_rows(named=True)}


def test_cost_rows_and_contract_commitments_ingest_with_their_consumption(tmp_path: Path) -> None:
    report = ingest([COSTS, CONTRACTS], tmp_path)
    assert report.contracts == [(str(CONTRACTS), 3)]
    assert "ContractApplied kept as the contract commitments" in report.inputs[0].notes[0]
    got = _by_id(contract_commitments(store.connect(tmp_path), Q, "USD"))
    want = _applied(COSTS)
    assert set(got) == {"cc-spend-2026", "cc-ec2-hours-2026", "cc-spend-2027"}
    spend, hours, later = got["cc-spend-2026"], got["cc-ec2-hours-2026"], got["cc-spend-2027"]
    assert spend["committed"] == 1000.0 and spend["unit"] == "USD"
    assert spend["consumed"] == pytest.approx(want["cc-spend-2026"][0]) and spend["consumed"] > 0
    assert spend["remaining"] == pytest.approx(1000.0 - want["cc-spend-2026"][0])
    assert hours["committed"] == 5000.0 and hours["unit"] == "Hours"
    assert hours["consumed"] == pytest.approx(want["cc-ec2-hours-2026"][1]) and hours["consumed"] > 0
    assert later["consumed"] == 0 and later["charges"] == 0  # its period has not started
    # up to an end day before any charge, nothing is consumed yet
    early = _by_id(contract_commitments(store.connect(tmp_path), CostQuery(date(2026, 9, 1), date(2026, 9, 5)), "USD"))
    assert early["cc-spend-2026"]["consumed"] == 0


def test_viewer_scope_applies_to_contracts(tmp_path: Path) -> None:
    ingest([COSTS, CONTRACTS], tmp_path)
    con = store.connect(tmp_path)
    sub = pl.read_csv(COSTS, infer_schema=False)["SubAccountId"][0]
    mine = _by_id(contract_commitments(con, CostQuery(Q.start, Q.end, scope=Scope(sub_accounts=(sub,))), "USD"))
    assert set(mine) == {"cc-spend-2026", "cc-ec2-hours-2026"}  # only commitments their charges count towards
    assert mine["cc-spend-2026"]["consumed"] == pytest.approx(_applied(COSTS)["cc-spend-2026"][0])
    other = contract_commitments(con, CostQuery(Q.start, Q.end, scope=Scope(teams=("payments",))), "USD")
    assert other.is_empty()


def test_a_restated_delivery_takes_its_applied_rows_with_it(tmp_path: Path) -> None:
    ingest([COSTS, CONTRACTS], tmp_path)
    frame = pl.read_csv(COSTS, infer_schema=False)
    halved = [
        None if v is None else json.dumps({"Elements": [e | {"ContractCommitmentAppliedCost": (e["ContractCommitmentAppliedCost"] or 0) / 2} for e in json.loads(v)["Elements"]]})
        for v in frame["ContractApplied"]
    ]  # fmt: skip
    restated = tmp_path / "in" / "restated.csv"
    restated.parent.mkdir()
    frame.with_columns(pl.Series("ContractApplied", halved, pl.String)).write_csv(restated)
    ingest([restated], tmp_path)
    got = _by_id(contract_commitments(store.connect(tmp_path), Q, "USD"))
    assert got["cc-spend-2026"]["consumed"] == pytest.approx(_applied(COSTS)["cc-spend-2026"][0] / 2)
    assert len(list(store.version_dir(tmp_path).glob("contracts/applied/*/*.parquet"))) == 1


def test_a_contract_file_replaces_the_commitments_of_its_contracts(tmp_path: Path) -> None:
    ingest([COSTS, CONTRACTS], tmp_path)
    frame = pl.read_csv(CONTRACTS, infer_schema=False)
    other = frame.head(1).with_columns(
        pl.lit("ctr-other").alias("ContractId"), pl.lit("cc-other").alias("ContractCommitmentId")
    )
    revised = frame.filter(pl.col("ContractCommitmentId") != "cc-spend-2027")
    path = tmp_path / "in" / "contracts-v2.csv"
    path.parent.mkdir()
    pl.concat([revised, other]).write_csv(path)
    ingest([path], tmp_path)
    assert set(_by_id(contract_commitments(store.connect(tmp_path), Q, "USD"))) == {
        "cc-spend-2026",
        "cc-ec2-hours-2026",
        "cc-other",
    }
    assert ingest([path], tmp_path).published is False  # the same file again: nothing to do


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        ("ContractCommitmentCategory", "Commit", "column ContractCommitmentCategory: 'Commit' is not one of"),
        ("ContractCommitmentCost", "1,000", "column ContractCommitmentCost: '1,000' is not a number"),
        ("ContractCommitmentCost", "", "column ContractCommitmentCost: has no value but a Spend commitment needs one"),
        (
            "ContractCommitmentPeriodStart",
            "01/01/2026",
            "column ContractCommitmentPeriodStart: '01/01/2026' is not an ISO",
        ),
        ("ContractCommitmentPeriodEnd", "2025-12-01T00:00:00Z", "column ContractCommitmentPeriodEnd: is not after"),
        (
            "ContractCommitmentId",
            "cc-ec2-hours-2026",
            "column ContractCommitmentId: 'cc-ec2-hours-2026' is listed twice",
        ),
        ("ContractId", "", "column ContractId: has no value"),
    ],
)
def test_a_bad_contract_row_is_refused_with_its_location(tmp_path: Path, column: str, value: str, needle: str) -> None:
    frame = pl.read_csv(CONTRACTS, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(value or None)).otherwise(pl.col(column)).alias(column)
    )
    path = tmp_path / "bad-contracts.csv"
    frame.write_csv(path)
    row = "row 3" if "listed twice" in needle else "row 2 (file line 2)"
    with pytest.raises(IngestError, match="bad-contracts.csv: " + row.replace("(", r"\(").replace(")", r"\)")) as e:
        ingest([path], tmp_path / "store")
    assert needle in str(e.value)
    assert store.current_version(tmp_path / "store") is None


def test_contract_dataset_columns_are_the_spec_s_thirteen() -> None:
    assert len(NAMES) == 13 and set(NAMES) == set(pl.read_csv(CONTRACTS, n_rows=0).columns)


def test_contract_applied_that_is_not_json_is_refused_with_its_location(tmp_path: Path) -> None:
    frame = pl.read_csv(COSTS, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("[{oops"))
        .otherwise(pl.col("ContractApplied"))
        .alias("ContractApplied")
    )
    path = tmp_path / "bad.csv"
    frame.write_csv(path)
    with pytest.raises(
        IngestError, match=r"bad.csv: row 2 \(file line 2\): column ContractApplied: '\[\{oops' is not a JSON"
    ):
        ingest([path], tmp_path / "store")


def test_the_commitments_page_lists_a_synced_contract_with_its_consumption(
    demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    shutil.copytree(demo_store, root)
    exports = tmp_path / "exports" / "focus"
    exports.mkdir(parents=True)
    shutil.copy(COSTS, exports)
    shutil.copy(CONTRACTS, exports)
    (o,) = runner.sync([Source("focus", str(tmp_path / "exports"))], root)
    assert o.status == "ok" and o.ingested == 2
    at = _app(root, monkeypatch, user="finops")
    at.switch_page("views/commitments.py").run()
    assert not at.exception
    assert "Contract commitments" in [s.value for s in at.subheader]
    table = next(d.value for d in at.dataframe if "ContractCommitmentId" in d.value.columns)
    rows = {r["ContractCommitmentId"]: r for r in table.to_dict("records")}
    assert rows["cc-spend-2026"]["consumed"] == pytest.approx(_applied(COSTS)["cc-spend-2026"][0])
    assert rows["cc-ec2-hours-2026"]["consumed"] == pytest.approx(_applied(COSTS)["cc-ec2-hours-2026"][1])
