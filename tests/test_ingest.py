"""Ingest of real provider samples and the CUR 2.0 fixture: totals against independent sums of the
raw files, refusal of bad input with a located message, idempotency, restatement and crash safety."""

from __future__ import annotations

import ast
import csv
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from finops_core import db, store
from finops_core.cli import main
from finops_core.ingest import IngestError, ingest, plan
from finops_core.schema import FOCUS_NAMES, C

DATA = Path(__file__).parent / "data" / "ingest"
AWS_LEGACY = DATA / "focus_converters-sample-anonymous-aws-export-dataset.csv"
CUR2 = DATA / "aws-cur2-fixture.csv"
GCP = [DATA / "koku-tmp_example.csv", DATA / "koku-evidence-2019-06-03.csv"]
AZ_ACTUAL = DATA / "finops-toolkit-EA_ActualCost_Small.csv"
AZ_AMORTIZED = DATA / "finops-toolkit-EA_AmortizedCost_Small.csv"
OCI = DATA / "focus_converters-reports_cost-csv_0000000030000269.csv"


def raw_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def num(text: str) -> float:
    return float(text) if text.strip() else 0.0


def totals(root: Path) -> dict[str, tuple[int, float, float]]:
    """(rows, BilledCost, EffectiveCost) per currency, read from the snapshot files directly."""
    frame = pl.read_parquet(store.partition_files(root))
    out = frame.group_by(C.BillingCurrency).agg(pl.len(), pl.col(C.BilledCost).sum(), pl.col(C.EffectiveCost).sum())
    return {r[0]: (r[1], round(r[2], 9), round(r[3], 9)) for r in out.iter_rows()}  # summation order varies


def snapshot(root: Path) -> pl.DataFrame:
    return pl.read_parquet(store.partition_files(root))


@pytest.mark.parametrize(
    ("path", "key"),
    [(AWS_LEGACY, "aws-cur"), (CUR2, "aws-cur"), (GCP[0], "gcp"), (AZ_ACTUAL, "azure"), (OCI, "oci")],
)
def test_detects_each_format_from_its_header(path: Path, key: str) -> None:
    assert key == plan([path])[0].source.KEY


def test_unknown_format_is_refused_listing_the_known_ones(tmp_path: Path) -> None:
    f = tmp_path / "mystery.csv"
    f.write_text("when,what,amount\n2026-01-01,coffee,3\n")
    with pytest.raises(IngestError, match=r"mystery.csv: row 1 \(header\): unknown export format") as err:
        ingest([f], tmp_path / "store")
    for key in ("focus", "aws-cur", "azure", "gcp", "oci"):
        assert key in str(err.value)


def test_aws_legacy_cur_totals_match_unblended_cost_by_line_item_type(tmp_path: Path) -> None:
    rows = raw_rows(AWS_LEGACY)
    by_type: dict[str, float] = defaultdict(float)
    for r in rows:
        by_type[r["lineItem/LineItemType"]] += num(r["lineItem/UnblendedCost"])
    assert set(by_type) == {"Usage", "Tax"}  # this sample has no commitments: Billed = Effective = unblended
    report = ingest([AWS_LEGACY], tmp_path)
    assert report.inputs[0].rows == len(rows) == 1281
    got = snapshot(tmp_path).group_by(C.ChargeCategory).agg(pl.col(C.BilledCost).sum(), pl.col(C.EffectiveCost).sum())
    got_map = {r[0]: (r[1], r[2]) for r in got.iter_rows()}
    for line_type, category in (("Usage", "Usage"), ("Tax", "Tax")):
        assert got_map[category][0] == pytest.approx(by_type[line_type], abs=1e-12)
        assert got_map[category][1] == pytest.approx(by_type[line_type], abs=1e-12)
    tagged = snapshot(tmp_path).filter(pl.col(C.Tags).is_not_null())
    raw_tagged = sum(1 for r in rows if any(v for k, v in r.items() if k.startswith("resourceTags/")))
    assert tagged.height == raw_tagged


def _cur2_parquet(tmp_path: Path) -> Path:
    """The CUR 2.0 fixture as Data Exports writes Parquet: typed numbers and dates, MAP columns."""
    out = tmp_path / "cur2.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rel = f"read_csv('{CUR2}', all_varchar = true)"
    cols = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    exprs = []
    for name, *_ in cols:
        q = f'"{name}"'
        if name in ("product", "resource_tags"):
            exprs.append(f"CAST(json_transform({q}, '\"MAP(VARCHAR, VARCHAR)\"') AS MAP(VARCHAR, VARCHAR)) AS {q}")
        elif name.endswith("_date") and "commitment" not in name:
            exprs.append(f"CAST({q} AS TIMESTAMPTZ) AS {q}")
        elif any(k in name for k in ("cost", "rate", "amount", "commitment", "fee")) and "description" not in name:
            exprs.append(f"TRY_CAST({q} AS DOUBLE) AS {q}")
        else:
            exprs.append(f"nullif({q}, '') AS {q}")
    con.execute(f"COPY (SELECT {', '.join(exprs)} FROM {rel}) TO '{out}' (FORMAT parquet)")
    con.close()
    return out


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_cur2_fixture_maps_commitments_per_the_mapping(tmp_path: Path, fmt: str) -> None:
    path = CUR2 if fmt == "csv" else _cur2_parquet(tmp_path)
    ingest([path], tmp_path / "store")
    df = snapshot(tmp_path / "store")
    raw = raw_rows(CUR2)
    # invoice basis: the sum of unblended cost over every line item (SP covered usage and its negation cancel)
    assert df[C.BilledCost].sum() == pytest.approx(sum(num(r["line_item_unblended_cost"]) for r in raw))
    # amortized, per INGEST-MAPPINGS.md §1; fee rows 0, their unused part on a separate Usage/Unused row
    effective = 0.0
    for r in raw:
        lt = r["line_item_line_item_type"]
        if lt == "SavingsPlanCoveredUsage":
            effective += num(r["savings_plan_savings_plan_effective_cost"])
        elif lt == "DiscountedUsage":
            effective += num(r["reservation_effective_cost"])
        elif lt == "SavingsPlanRecurringFee":
            effective += num(r["savings_plan_total_commitment_to_date"]) - num(r["savings_plan_used_commitment"])
        elif lt == "RIFee":
            effective += num(r["reservation_unused_amortized_upfront_fee_for_billing_period"]) + num(
                r["reservation_unused_recurring_fee"]
            )
        elif lt not in ("SavingsPlanNegation", "Fee"):
            effective += num(r["line_item_unblended_cost"])
    assert df[C.EffectiveCost].sum() == pytest.approx(effective)
    assert df.height == len(raw) + 2  # two unused-commitment rows
    assert store.manifest(tmp_path / "store")["sources"][0]["rows_in"] == len(raw)
    assert df.filter(pl.col(C.ChargeCategory) == "Purchase")[C.EffectiveCost].abs().sum() == 0
    unused = df.filter(pl.col(C.CommitmentDiscountStatus) == "Unused")
    assert sorted(unused[C.EffectiveCost].to_list()) == pytest.approx([0.5, 1.0])
    assert (unused[C.ResourceId] == unused[C.CommitmentDiscountId]).all()
    covered = df.filter(pl.col(C.CommitmentDiscountStatus) == "Used")
    assert covered[C.BilledCost].abs().sum() == 0 and set(covered[C.PricingCategory]) == {"Committed"}
    assert set(df[C.ChargeCategory]) == {"Usage", "Purchase", "Tax", "Credit"}
    assert df.filter(pl.col(C.ChargeClass) == "Correction")[C.BilledCost].to_list() == [-1.0]
    assert '"user_team":"payments"' in df.filter(pl.col(C.Tags).is_not_null())[C.Tags][0]


@pytest.mark.parametrize("path", GCP)
def test_gcp_billed_cost_ties_to_the_invoice_net_of_credits(tmp_path: Path, path: Path) -> None:
    """Google invoices cost + credits: BilledCost sums to that, EffectiveCost is what it was (the
    same sum), and each row's promotional credits are a Credit row of their own."""
    rows = raw_rows(path)
    credits = [ast.literal_eval(r["credits"]) if r["credits"].strip() else [] for r in rows]
    net = sum(float(r["cost"]) + sum(c["amount"] for c in cs) for r, cs in zip(rows, credits, strict=True))
    promoted = [cs for cs in credits if any(c["type"] == "PROMOTION" for c in cs)]
    report = ingest([path], tmp_path)
    (got,) = report.inputs
    assert (got.rows_in, got.rows) == (len(rows), len(rows) + len(promoted))
    (currency,) = {r["currency"] for r in rows}
    n, billed, effective = totals(tmp_path)[currency]
    assert n == got.rows
    assert billed == pytest.approx(net, abs=1e-12) and effective == pytest.approx(net, abs=1e-12)
    df = snapshot(tmp_path)
    credit_rows = df.filter(pl.col(C.ChargeCategory) == "Credit")
    promo = sum(c["amount"] for cs in promoted for c in cs if c["type"] == "PROMOTION")
    assert credit_rows.height == len(promoted) and credit_rows[C.BilledCost].sum() == pytest.approx(promo, abs=1e-12)
    assert credit_rows[C.ConsumedQuantity].null_count() == credit_rows.height


def test_gcp_free_trial_nets_to_zero_and_labels_are_tags(tmp_path: Path) -> None:
    ingest(GCP, tmp_path)
    free_trial = snapshot(tmp_path).filter(pl.col(C.BillingAccountId) == "018984-D0AAA4-940B88")
    assert free_trial[C.BilledCost].sum() == pytest.approx(0.0, abs=1e-12)  # the free trial covers it all
    assert free_trial.filter(pl.col(C.ChargeCategory) == "Credit").height == 38
    assert snapshot(tmp_path).filter(pl.col(C.Tags).str.contains('"vm_key_proj2":"vm_label_proj2"')).height == 110


def test_azure_actual_plus_amortized_follows_microsofts_recipe(tmp_path: Path) -> None:
    amortized, actual = raw_rows(AZ_AMORTIZED), raw_rows(AZ_ACTUAL)
    commit = ("Reservation", "SavingsPlan")
    purchases = [r for r in actual if r["ChargeType"] in ("Purchase", "Refund") and r["PricingModel"] in commit]
    effective = sum(float(r["Cost"]) for r in amortized)
    billed = sum(
        float(r["Cost"]) for r in amortized if not (r["ChargeType"] == "Usage" and r["PricingModel"] in commit)
    ) + sum(float(r["Cost"]) for r in purchases)
    report = ingest([AZ_ACTUAL, AZ_AMORTIZED], tmp_path)
    by_file = {Path(r.label): (r.rows_in, r.rows) for r in report.inputs}
    assert by_file == {AZ_ACTUAL: (len(actual), len(purchases)), AZ_AMORTIZED: (len(amortized), len(amortized))}
    assert len(amortized) + len(purchases) == 29
    (_, got_billed, got_effective) = totals(tmp_path)["USD"]
    assert got_billed == pytest.approx(billed) and got_effective == pytest.approx(effective)
    df = snapshot(tmp_path)
    assert df[C.ChargePeriodEnd].min() > df[C.ChargePeriodStart].min()  # inclusive dates became exclusive ends
    assert df[C.BillingPeriodEnd].dt.day().unique().to_list() == [1]
    assert all(t.startswith("{") for t in df[C.Tags].drop_nulls())


def test_oci_cost_report_totals(tmp_path: Path) -> None:
    rows = raw_rows(OCI)
    ingest([OCI], tmp_path)
    n, billed, effective = totals(tmp_path)["USD"]
    assert n == len(rows) == 506
    assert billed == pytest.approx(sum(num(r["cost/myCost"]) for r in rows), abs=1e-8) == effective


def test_focus_export_round_trips(tmp_path: Path) -> None:
    ingest([CUR2], tmp_path / "a")
    out = tmp_path / "focus.csv"
    assert main(["export", "--store", str(tmp_path / "a"), "--out", str(out)]) == 0
    report = ingest([out], tmp_path / "b")
    assert report.inputs[0].source == "focus"
    assert totals(tmp_path / "b") == totals(tmp_path / "a")
    assert snapshot(tmp_path / "b").columns == list(FOCUS_NAMES)


def test_focus_older_spellings_and_nulls_are_normalized(tmp_path: Path) -> None:
    ingest([CUR2], tmp_path / "a")
    frame = snapshot(tmp_path / "a").with_columns(
        pl.col(C.ChargeCategory).str.to_lowercase(),
        pl.col(C.ChargeClass).fill_null("NULL"),
        pl.lit("").alias(C.SubAccountId),
        pl.lit("000123").alias(C.BillingAccountId),
    )
    frame = frame.rename({C.EffectiveCost: "AmortizedCost", C.ChargeCategory: "ChargeType"}).drop(
        C.PricingCurrency, C.PricingCurrencyEffectiveCost, C.InvoiceId, C.BillingAccountType
    )
    src = tmp_path / "focus-1.0.csv"
    frame.write_csv(src)
    ingest([src], tmp_path / "b")
    got = snapshot(tmp_path / "b")
    assert set(got[C.ChargeCategory]) == {"Usage", "Purchase", "Tax", "Credit"}
    assert got[C.BillingAccountId].unique().to_list() == ["000123"]
    assert got[C.ChargeClass].drop_nulls().to_list() == ["Correction"]
    assert got[C.SubAccountId].null_count() == got.height
    assert got[C.EffectiveCost].sum() == pytest.approx(15.0)
    assert (got[C.PricingCurrency] == got[C.BillingCurrency]).all()


def _focus_csv(tmp_path: Path) -> Path:
    ingest([CUR2], tmp_path / "seed")
    out = tmp_path / "valid.csv"
    main(["export", "--store", str(tmp_path / "seed"), "--out", str(out)])
    return out


def _edit(src: Path, dst: Path, row: int, column: str, value: str) -> Path:
    frame = pl.read_csv(src, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row - 1).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )
    frame.write_csv(dst)
    return dst


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        (C.ChargePeriodStart, "2023-02-01T30:00:00Z", "ISO 8601"),
        (C.ChargePeriodEnd, "11/1/25", "ISO 8601"),
        (C.BilledCost, "$50,000.00", "is not a number"),
        (C.EffectiveCost, "NaN", "is not a number"),
        (C.Tags, "[1, 2]", "is not a JSON object"),
        (C.ChargeCategory, "Spending", "is not one of"),
        (C.EffectiveCost, "", "has no value (empty or NULL) but FOCUS requires one"),
        (C.ChargePeriodStart, "NULL", "has no value"),
    ],
)
def test_bad_value_is_refused_naming_file_row_and_column(tmp_path: Path, column: str, value: str, needle: str) -> None:
    bad = _edit(_focus_csv(tmp_path), tmp_path / "bad.csv", 3, column, value)
    root = tmp_path / "store"
    ingest([AWS_LEGACY], root)
    before, before_totals = store.current_version(root), totals(root)
    code, err = _cli("ingest", str(bad), "--store", str(root))
    assert code == 2
    assert f"{bad}: row 4 (file line 4): column {column}" in err and needle in err  # the 3rd row under the header
    assert store.current_version(root) == before and totals(root) == before_totals
    assert not list((root / "versions").glob(".staging-*"))


def _cli(*argv: str) -> tuple[int, str]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue() + err.getvalue()


def test_shifted_row_and_missing_column_are_refused(tmp_path: Path) -> None:
    lines = CUR2.read_text().splitlines()
    shifted = tmp_path / "shifted.csv"
    shifted.write_text("\n".join([*lines[:4], lines[4] + ",extra", *lines[5:]]) + "\n")
    with pytest.raises(IngestError, match=r"shifted.csv: row 5 \(file line 5\): expected 45 columns, found 46"):
        ingest([shifted], tmp_path / "s")
    header = lines[0].split(",")
    i = header.index("line_item_unblended_cost")
    dropped = tmp_path / "dropped.csv"
    rows = list(csv.reader(lines))
    with dropped.open("w", newline="") as fh:
        csv.writer(fh).writerows([r[:i] + r[i + 1 :] for r in rows])
    with pytest.raises(IngestError, match=r"dropped.csv: row 1 \(header\).*line_item_unblended_cost"):
        ingest([dropped], tmp_path / "s")


def test_mixed_currencies_in_one_billing_account_are_refused(tmp_path: Path) -> None:
    frame = pl.read_csv(CUR2, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 6)
        .then(pl.lit("EUR"))
        .otherwise(pl.col("line_item_currency_code"))
        .alias("line_item_currency_code")
    )
    bad = tmp_path / "mixed.csv"
    frame.write_csv(bad)
    with pytest.raises(
        IngestError,
        match=r"mixed.csv: billing account 111122223333 has several billing currencies.*row 7: column BillingCurrency: 'EUR'",
    ):
        ingest([bad], tmp_path / "s")
    assert store.current_version(tmp_path / "s") is None


def test_truncated_gzip_and_parquet_are_refused(tmp_path: Path) -> None:
    import gzip

    data = gzip.compress(AWS_LEGACY.read_bytes())
    gz = tmp_path / "cur.csv.gz"
    gz.write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match=r"cur.csv.gz.*(GZIP|gzip|Compressed|end)"):
        ingest([gz], tmp_path / "s")
    pq = _cur2_parquet(tmp_path)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(pq.read_bytes()[:-200])
    with pytest.raises(IngestError, match=r"cut.parquet: not a readable parquet file"):
        ingest([cut], tmp_path / "s")
    full = tmp_path / "whole.csv.gz"
    full.write_bytes(data)
    assert ingest([full], tmp_path / "ok").inputs[0].rows == 1281


def test_reingest_is_a_no_op(tmp_path: Path) -> None:
    first = ingest([CUR2, OCI], tmp_path)
    version, before = store.current_version(tmp_path), totals(tmp_path)
    again = ingest([CUR2, OCI], tmp_path)
    assert first.published and not again.published
    assert all(r.skipped for r in again.inputs)
    assert store.current_version(tmp_path) == version and totals(tmp_path) == before
    code, out = _cli("ingest", str(CUR2), "--store", str(tmp_path))
    assert code == 0 and "already in the store" in out and "store unchanged" in out


def test_restated_month_replaces_the_older_export(tmp_path: Path) -> None:
    ingest([CUR2, OCI], tmp_path)
    old_sha = store.manifest(tmp_path)["sources"][0]["sha256"]
    restated = _edit(CUR2, tmp_path / "cur2-restated.csv", 1, "line_item_unblended_cost", "20.0")
    report = ingest([restated], tmp_path)
    assert report.inputs[0].replaces == [old_sha]
    got = totals(tmp_path)["USD"]
    oci = sum(num(r["cost/myCost"]) for r in raw_rows(OCI))
    assert got[0] == 12 + 506  # replaced, not added
    assert got[1] == pytest.approx(115.0 + 10.0 + oci)
    m = store.manifest(tmp_path)
    new_sha = store.sha256_file(restated)[:12]
    assert [f for p in m["partitions"].values() for f in p["files"] if f.startswith("aws-cur--")] == [
        f"aws-cur--111122223333--{new_sha}--000.parquet"
    ]
    assert m["sources"][-1]["replaces"] == [old_sha]


def test_killed_ingest_leaves_the_store_unchanged(tmp_path: Path) -> None:
    ingest([OCI], tmp_path)
    before, before_totals = store.current_version(tmp_path), totals(tmp_path)
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        import finops_core.ingest as ing
        import finops_core.ingest.batch as batch
        real = batch.stage
        def dying(*a, **k):
            real(*a, **k)
            os._exit(9)  # killed after the Parquet files are staged, before the manifest and CURRENT
        batch.stage = dying
        ing.ingest([Path({str(CUR2)!r})], Path({str(tmp_path)!r}))
    """)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, env=os.environ | {"PYTHONPATH": str(root)})
    assert proc.returncode == 9
    assert store.current_version(tmp_path) == before and totals(tmp_path) == before_totals
    ingest([CUR2], tmp_path)  # the next writer clears the debris
    assert not list((tmp_path / "versions").glob(".staging-*"))
    assert totals(tmp_path)["USD"][0] == 506 + 12


def test_cli_prints_rows_totals_and_warnings(tmp_path: Path) -> None:
    code, out = _cli("ingest", str(OCI), str(AWS_LEGACY), "--store", str(tmp_path))
    assert code == 0
    assert "oci, 506 rows in, 506 rows published" in out and "aws-cur, 1281 rows in, 1281 rows published" in out
    assert "USD: BilledCost" in out
    code, out = _cli("ingest", str(OCI), "--store", str(tmp_path), "--source", "gcp")
    assert code == 2 and "--source gcp given, but the header is that of oci" in out


def test_ingested_rows_reach_the_costs_view(tmp_path: Path) -> None:
    ingest([AZ_ACTUAL, AZ_AMORTIZED, *GCP], tmp_path)
    con = store.connect(tmp_path)
    try:
        by_provider = dict(db.rows(con, f"SELECT {C.ProviderName}, count(*) FROM costs GROUP BY 1"))
    finally:
        con.close()
    assert by_provider == {"Microsoft": 29, "Google Cloud": 516 + 38}  # 38 promotional Credit rows


def _gcp_jsonl(src: Path, dst: Path) -> Path:
    """The CSV sample as BigQuery writes JSON lines: nested records, real lists, typed numbers."""
    import json

    def lit(text: str) -> Any:
        return ast.literal_eval(text) if text.strip() else []

    with dst.open("w") as fh:
        for r in raw_rows(src):
            rec = {
                "billing_account_id": r["billing_account_id"],
                "service": {"id": r["service.id"], "description": r["service.description"]},
                "sku": {"id": r["sku.id"], "description": r["sku.description"]},
                "usage_start_time": r["usage_start_time"],
                "usage_end_time": r["usage_end_time"],
                "project": {"id": r["project.id"], "name": r["project.name"], "labels": lit(r["project.labels"])},
                "labels": lit(r["labels"]),
                "system_labels": lit(r["system_labels"]),
                "location": {
                    "location": r["location.location"],
                    "region": r["location.region"],
                    "zone": r["location.zone"],
                },
                "cost": float(r["cost"]),
                "currency": r["currency"],
                "usage": {
                    "amount": float(r["usage.amount"]),
                    "unit": r["usage.unit"],
                    "amount_in_pricing_units": float(r["usage.amount_in_pricing_units"]),
                    "pricing_unit": r["usage.pricing_unit"],
                },
                "credits": lit(r["credits"]),
                "invoice": {"month": r["invoice.month"]},
                "cost_type": r["cost_type"],
            }
            fh.write(json.dumps(rec) + "\n")
    return dst


def test_gcp_json_lines_match_the_csv_flattening(tmp_path: Path) -> None:
    ingest(GCP, tmp_path / "csv")
    jsonl = [_gcp_jsonl(p, tmp_path / f"{p.stem}.jsonl") for p in GCP]
    report = ingest(jsonl, tmp_path / "json")
    assert {r.source for r in report.inputs} == {"gcp"}
    assert totals(tmp_path / "json") == totals(tmp_path / "csv")
    cols = [C.Tags, C.SubAccountId, C.ServiceName, C.ChargePeriodStart, C.BillingPeriodStart, C.EffectiveCost]
    a = snapshot(tmp_path / "csv").select(cols).sort(cols)
    b = snapshot(tmp_path / "json").select(cols).sort(cols)
    assert a.equals(b)


def test_azure_mca_fixture_pairs_by_name_and_zeroes_commitment_rows(tmp_path: Path) -> None:
    actual, amortized = DATA / "azure-mca-fixture-actual.csv", DATA / "azure-mca-fixture-amortized.csv"
    report = ingest([actual, amortized], tmp_path)
    amort_rows, actual_rows = raw_rows(amortized), raw_rows(actual)
    kept = [r for r in actual_rows if r["ChargeType"] in ("Purchase", "Refund")]
    assert [(r.rows_in, r.rows) for r in report.inputs] == [(len(actual_rows), len(kept)), (len(amort_rows),) * 2]
    df = snapshot(tmp_path)
    commit = ("Reservation", "SavingsPlan")
    billed = sum(
        float(r["CostInBillingCurrency"])
        for r in amort_rows
        if not (r["PricingModel"] in commit and r["ChargeType"] in ("Usage", "UnusedReservation", "UnusedSavingsPlan"))
    ) + sum(float(r["CostInBillingCurrency"]) for r in kept)
    assert df[C.BilledCost].sum() == pytest.approx(billed) == 37.5
    assert df[C.EffectiveCost].sum() == pytest.approx(sum(float(r["CostInBillingCurrency"]) for r in amort_rows))
    assert set(df[C.BillingAccountId]) == {"BP-1234"} and set(df[C.BillingAccountType]) == {"Billing Profile"}
    unused = df.filter(pl.col(C.CommitmentDiscountStatus) == "Unused")
    assert unused[C.ResourceId].to_list() == unused[C.CommitmentDiscountId].to_list() != [None]
    assert df.filter(pl.col(C.ChargeClass) == "Correction")[C.ChargeCategory].to_list() == ["Purchase"]
    assert set(df.filter(pl.col(C.CommitmentDiscountId).is_not_null())[C.CommitmentDiscountCategory]) == {
        "Usage",
        "Spend",
    }


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        (
            "commitment_discount_purchase_scenario_3.csv",
            "row 1 (header): missing mandatory FOCUS column(s) BillingAccountId",
        ),
        ("simple_saas_agreements_a1.csv", "row 2 (file line 2): column BilledCost: '$10,000.00 ' is not a number"),
    ],
)
def test_focus_spec_examples_are_refused_where_they_are_flawed(tmp_path: Path, name: str, needle: str) -> None:
    with pytest.raises(IngestError) as err:
        ingest([DATA / name], tmp_path)
    assert str(DATA / name) in str(err.value) and needle in str(err.value)
    assert store.current_version(tmp_path) is None


def test_the_demo_export_re_ingests_with_the_same_totals(demo_store: Path, tmp_path: Path) -> None:
    """Our own FOCUS export is valid FOCUS input: every row back, every currency's totals equal."""
    out = tmp_path / "demo.csv"
    assert main(["export", "--store", str(demo_store), "--out", str(out)]) == 0
    report = ingest([out], tmp_path / "again", "auto")
    assert report.published
    want = {
        cur: (b, e)
        for cur, b, e in db.rows(
            duckdb.connect(),
            f"SELECT {C.BillingCurrency}, sum({C.BilledCost}), sum({C.EffectiveCost}) FROM read_parquet(?) GROUP BY 1",
            [store.partition_files(demo_store)],
        )
    }
    (got,) = report.inputs
    assert got.rows == sum(p["rows"] for p in store.manifest(demo_store)["partitions"].values())
    for cur, (billed, effective) in want.items():
        assert got.totals[cur][C.BilledCost] == pytest.approx(billed, rel=1e-9)
        assert got.totals[cur][C.EffectiveCost] == pytest.approx(effective, rel=1e-9)
