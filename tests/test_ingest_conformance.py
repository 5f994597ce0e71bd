"""Refuse what is unusable, keep what is merely nonconforming: rows breaking a FOCUS rule whose cost
is unambiguous are ingested with a located warning counted by rule, stored in the manifest."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from finops_core import store
from finops_core.ingest import IngestError, ingest
from finops_core.schema import C
from tests.test_ingest import CUR2, OCI, _cli, _edit, _focus_csv, num, raw_rows, snapshot, totals


def _raw_totals(path: Path) -> tuple[int, float, float]:
    rows = raw_rows(path)
    return len(rows), sum(num(r[C.BilledCost]) for r in rows), sum(num(r[C.EffectiveCost]) for r in rows)


def test_a_focus_file_with_rows_lacking_contracted_cost_ingests_with_a_located_warning(tmp_path: Path) -> None:
    src = _focus_csv(tmp_path)
    bad = src
    for row, value in ((2, "NULL"), (5, ""), (9, "null")):
        bad = _edit(bad, tmp_path / "no-contracted.csv", row, C.ContractedCost, value)
    code, out = _cli("ingest", str(bad), "--store", str(tmp_path / "store"))
    assert code == 0
    assert "rule ContractedCost-null: 3 rows (row 3 (file line 3), row 6 (file line 6), row 10 (file line 10))" in out
    assert "column ContractedCost: has no value (empty or NULL); FOCUS requires one (kept empty)" in out
    n, billed, effective = totals(tmp_path / "store")["USD"]
    raw_n, raw_billed, raw_effective = _raw_totals(bad)
    assert n == raw_n and billed == pytest.approx(raw_billed, abs=1e-9) and effective == pytest.approx(raw_effective)
    assert snapshot(tmp_path / "store")[C.ContractedCost].null_count() == 3
    (source,) = store.manifest(tmp_path / "store")["sources"]
    (issue,) = source["issues"]
    assert (issue["rule"], issue["rows"], [f["row"] for f in issue["first"]]) == ("ContractedCost-null", 3, [3, 6, 10])


def test_reversed_period_unknown_currency_and_unit_are_kept_with_warnings(tmp_path: Path) -> None:
    src = _focus_csv(tmp_path)
    frame = pl.read_csv(src, infer_schema=False)
    start, end = frame[C.ChargePeriodStart][0], frame[C.ChargePeriodEnd][0]
    frame = frame.with_columns(
        pl.lit("MC").alias(C.BillingCurrency),
        pl.lit("MC").alias(C.PricingCurrency),
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit(start))
        .otherwise(pl.col(C.ChargePeriodEnd))
        .alias(C.ChargePeriodEnd),
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit(end))
        .otherwise(pl.col(C.ChargePeriodStart))
        .alias(C.ChargePeriodStart),
        pl.when(pl.col(C.PricingUnit).is_not_null()).then(pl.lit("Hrs")).alias(C.PricingUnit),
    )
    bad = tmp_path / "odd.csv"
    frame.write_csv(bad)
    report = ingest([bad], tmp_path / "store")
    rules = {i["rule"]: i["rows"] for i in report.inputs[0].issues}
    assert rules == {
        "ChargePeriod-reversed": 1,
        "BillingCurrency-not-ISO-4217": frame.height,
        "PricingUnit-format": frame[C.PricingUnit].drop_nulls().len(),
    }
    assert set(totals(tmp_path / "store")) == {"MC"}


def test_ten_hours_is_a_unit_quantity_and_conforms(tmp_path: Path) -> None:
    """FOCUS UnitFormat allows '<unit-quantity> <plural-units>' ("1000 Tokens"), so "10 Hours" is valid."""
    src = _focus_csv(tmp_path)
    frame = pl.read_csv(src, infer_schema=False)
    ok = frame.with_columns(pl.when(pl.col(C.PricingUnit).is_not_null()).then(pl.lit("10 Hours")).alias(C.PricingUnit))
    ok.write_csv(tmp_path / "ten.csv")
    assert ingest([tmp_path / "ten.csv"], tmp_path / "store").inputs[0].issues == []


def _oci_with(tmp_path: Path, blank: str) -> Path:
    """The OCI sample with rows 10, 20 and 30 at zero cost and no currency ('zero'), or only row
    10's currency emptied ('costed')."""
    rows = raw_rows(OCI)
    assert num(rows[10]["cost/myCost"]) != 0
    for i in (10, 20, 30) if blank == "zero" else (10,):
        rows[i]["cost/currencyCode"] = ""
        if blank == "zero":
            rows[i]["cost/myCost"] = "0"
    out = tmp_path / f"oci-{blank}.csv"
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def test_oci_zero_cost_rows_without_currency_take_the_accounts(tmp_path: Path) -> None:
    path = _oci_with(tmp_path, "zero")
    zero = sum(1 for r in raw_rows(path) if not r["cost/currencyCode"])
    assert zero == 3
    report = ingest([path], tmp_path / "store")
    (issue,) = [i for i in report.inputs[0].issues if i["rule"] == "BillingCurrency-null-zero-cost"]
    assert issue["rows"] == zero and issue["source_column"] == "cost/currencyCode"
    n, billed, _ = totals(tmp_path / "store")["USD"]
    assert n == 506 and billed == pytest.approx(sum(num(r["cost/myCost"]) for r in raw_rows(path)), abs=1e-9)


def test_a_costed_row_without_currency_is_refused_naming_the_source_column(tmp_path: Path) -> None:
    path = _oci_with(tmp_path, "costed")
    with pytest.raises(IngestError, match=r"column BillingCurrency \(source column cost/currencyCode\): has no value"):
        ingest([path], tmp_path / "store")
    assert store.current_version(tmp_path / "store") is None


def test_cr_cr_lf_line_ends_are_refused_with_their_row_and_line(tmp_path: Path) -> None:
    lines = CUR2.read_bytes().splitlines()
    bad = tmp_path / "crcrlf.csv"
    bad.write_bytes(b"\n".join(lines[:4]) + b"\n" + lines[4] + b"\r\r\n" + b"\n".join(lines[5:]) + b"\n")
    with pytest.raises(IngestError, match=r"crcrlf.csv: row 5 \(file line 5\): a line ending CR CR LF"):
        ingest([bad], tmp_path / "store")


def test_a_quoted_field_over_two_lines_makes_row_and_file_line_differ(tmp_path: Path) -> None:
    frame = pl.read_csv(_focus_csv(tmp_path), infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("two\nlines"))
        .otherwise(pl.col(C.ChargeDescription))
        .alias(C.ChargeDescription),
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("abc")).otherwise(pl.col(C.BilledCost)).alias(C.BilledCost),
    )
    bad = tmp_path / "multi.csv"
    frame.write_csv(bad)
    with pytest.raises(
        IngestError, match=r"multi.csv: row 4 \(file line 5\): column BilledCost: 'abc' is not a number"
    ):
        ingest([bad], tmp_path / "store")
    lines = bad.read_text().splitlines()
    shifted = tmp_path / "multi-shifted.csv"
    shifted.write_text("\n".join([*lines[:5], lines[5] + ",extra", *lines[6:]]) + "\n")
    with pytest.raises(IngestError, match=r"multi-shifted.csv: row 5 \(file line 6\): expected"):
        ingest([shifted], tmp_path / "store")


def test_a_provider_value_names_its_column_and_the_focus_one(tmp_path: Path) -> None:
    rows = raw_rows(OCI)
    rows[3]["cost/myCost"] = "1,5"
    bad = tmp_path / "oci-bad.csv"
    with bad.open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(IngestError) as err:
        ingest([bad], tmp_path / "store")
    assert (
        "oci-bad.csv: row 5 (file line 5): column cost/myCost (FOCUS BilledCost, EffectiveCost): '1,5' is not a number"
        in str(err.value)
    )


def test_an_empty_service_name_is_kept_and_the_store_still_answers(tmp_path: Path) -> None:
    from finops_core import db

    bad = _edit(_focus_csv(tmp_path), tmp_path / "no-service.csv", 3, C.ServiceName, "")
    report = ingest([bad], tmp_path / "store")
    assert {i["rule"]: i["rows"] for i in report.inputs[0].issues} == {"ServiceName-null": 1}
    con = store.connect(tmp_path / "store")
    try:
        by_service = dict(db.rows(con, f"SELECT {C.ServiceName}, count(*) FROM costs GROUP BY 1"))
    finally:
        con.close()
    assert by_service[None] == 1 and sum(by_service.values()) == _raw_totals(bad)[0]
