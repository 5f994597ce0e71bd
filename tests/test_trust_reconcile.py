"""Invoice reconciliation (finops_core/trust/reconcile.py, invoices.py) against the demo and constructed invoices."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from finops_core import db, store
from finops_core.demo.sidefiles import INVOICE_DISCREPANCY
from finops_core.query import ALL, QueryError, Scope
from finops_core.schema import C
from finops_core.trust import invoices, reconcile
from tests.test_cli import run

AS_OF = reconcile.Settings(as_of=date(2026, 12, 2))


@pytest.fixture()
def demo_invoices(demo_store: Path) -> pl.DataFrame:
    return invoices.load(demo_store / "demo" / "invoices.csv")


def _table(con, lines: pl.DataFrame | None) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    return reconcile.reconciliation(con, lines, ALL, AS_OF)


def test_billed_equals_an_independent_sum_of_the_rows(con, demo_rows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    got = reconcile.billed(con, ALL).select(*reconcile.KEY, "billed", "tax", "line_items")
    want = (
        demo_rows.with_columns(pl.col(C.BillingPeriodStart).dt.strftime("%Y-%m").alias("billing_period"))
        .group_by(
            pl.col(C.BillingAccountId).alias("billing_account_id"),
            "billing_period",
            pl.col(C.BillingCurrency).alias("currency"),
        )
        .agg(
            pl.col(C.BilledCost).sum().alias("want"),
            pl.col(C.BilledCost).filter(pl.col(C.ChargeCategory) == "Tax").sum().alias("want_tax"),
            pl.len().alias("n"),
        )
    )
    joined = got.join(want, on=list(reconcile.KEY), how="full")
    assert joined.height == got.height == want.height
    assert (joined["billed"] - joined["want"]).abs().max() < 1e-6  # type: ignore[operator]
    assert (joined["tax"] - joined["want_tax"]).abs().max() < 1e-6  # type: ignore[operator]
    assert (joined["line_items"] == joined["n"]).all()


def test_demo_planted_discrepancy_is_found_unexplained_and_the_rest_ties(con, demo_invoices: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    table = _table(con, demo_invoices)
    closed = table.filter(pl.col("status") != "month still open")
    off = closed.filter(pl.col("status") == "off")
    months = sorted(demo_invoices["billing_period"].unique())
    assert off.height == 1
    row = off.row(0, named=True)
    assert row["billing_account_id"] == INVOICE_DISCREPANCY.billing_account_id
    assert row["billing_period"] == months[-INVOICE_DISCREPANCY.months_before_end]
    assert row["unexplained"] == pytest.approx(INVOICE_DISCREPANCY.amount, abs=0.01)
    assert row["explained"] == 0
    rest = closed.filter(pl.col("status") != "off")
    assert set(rest["status"]) == {"ties"}
    assert rest["variance_pct"].abs().max() < reconcile.DEFAULT_TOLERANCE  # type: ignore[operator]
    # the open month (data ends mid-October) has rows and no invoice yet
    assert set(table.filter(pl.col("billing_period") == "2026-10")["status"]) == {"month still open"}


def test_a_variance_is_explained_by_the_reason_that_matches_it(con, demo_invoices: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    parts = reconcile.billed(con, ALL).filter(pl.col("tax") != 0).row(0, named=True)
    key = {k: parts[k] for k in reconcile.KEY}
    match = (pl.col("billing_account_id") == key["billing_account_id"]) & (
        pl.col("billing_period") == key["billing_period"]
    )
    without_tax = demo_invoices.with_columns(
        pl.when(match).then((pl.col("amount") - parts["tax"]).round(2)).otherwise(pl.col("amount")).alias("amount")
    )
    row = _table(con, without_tax).filter(match).row(0, named=True)
    assert row["status"] == "off"
    assert row["variance"] == pytest.approx(-parts["tax"], abs=0.01)
    assert row["explanation"] == reconcile.REASONS["tax"]
    assert row["unexplained"] == pytest.approx(0, abs=1e-9)
    # the same gap plus an unrelated 100.00 is not explained by tax: all of it stays unexplained
    odd = without_tax.with_columns(pl.when(match).then(pl.col("amount") + 100).otherwise(pl.col("amount")))
    row = _table(con, odd).filter(match).row(0, named=True)
    assert row["explanation"] == "" and row["unexplained"] == pytest.approx(row["variance"])


def test_statuses_for_missing_sides_and_currencies_stay_apart(con, demo_invoices: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    closed = demo_invoices.filter(pl.col("billing_period") == "2026-08")
    dropped = closed.row(0, named=True)
    extra = pl.DataFrame(
        [{**dropped, "currency": "EUR", "invoice_id": "INV-EXTRA", "amount": 10.0}], schema=invoices.SCHEMA
    )
    lines = pl.concat([demo_invoices.filter(pl.col("invoice_id") != dropped["invoice_id"]), extra])
    table = _table(con, lines).filter(
        (pl.col("billing_account_id") == dropped["billing_account_id"]) & (pl.col("billing_period") == "2026-08")
    )
    status = dict(zip(table["currency"], table["status"], strict=True))
    assert status == {"USD": "rows without invoice", "EUR": "invoice without rows"}
    # no invoices at all: the rows' own invoice ids, no totals
    bare = _table(con, None)
    assert set(bare.filter(pl.col("billing_period") == "2026-08")["status"]) == {"no invoice totals"}
    assert bare.filter(pl.col("billing_period") == "2026-08")["invoice_ids"].str.starts_with("INV-").all()


def test_a_month_stays_open_until_its_data_is_complete_and_a_few_days_have_passed() -> None:
    assert reconcile._open("2026-11", date(2026, 11, 30), date(2026, 12, 2))
    assert not reconcile._open("2026-11", date(2026, 11, 30), date(2026, 12, 6))
    assert reconcile._open("2026-11", date(2026, 11, 29), date(2027, 1, 1))  # a day missing at the end


def test_viewers_cannot_reconcile(con) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QueryError, match="scope"):
        reconcile.reconciliation(con, None, Scope(teams=("web",)))
    with pytest.raises(QueryError, match="scope"):
        reconcile.variance_lines(con, Scope(sub_accounts=("x",)), "a", "2026-08", "USD")


def test_drill_parts_sum_to_the_billed_total(con, demo_invoices: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    row = _table(con, demo_invoices).filter(pl.col("status") == "off").row(0, named=True)
    args = (row["billing_account_id"], row["billing_period"], row["currency"])
    lines = reconcile.variance_lines(con, ALL, *args)
    services = reconcile.variance_services(con, ALL, *args)
    assert lines[C.BilledCost].sum() == pytest.approx(row["billed"], abs=1e-6)
    assert services[C.BilledCost].sum() == pytest.approx(row["billed"], abs=1e-6)
    assert lines["line_items"].sum() == row["line_items"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("billing_account_id,billing_period,invoice_id,currency\n", "inv.csv:1: amount: missing column"),
        (
            "billing_account_id,billing_period,invoice_id,currency,amount\na,2026-13,i,USD,1\n",
            "inv.csv:2: billing_period",
        ),
        ("billing_account_id,billing_period,invoice_id,currency,amount\na,2026-01,i,usd,1\n", "inv.csv:2: currency"),
        ("billing_account_id,billing_period,invoice_id,currency,amount\na,2026-01,i,USD,$1.00\n", "inv.csv:2: amount"),
        ("billing_account_id,billing_period,invoice_id,currency,amount\na,2026-01,,USD,1\n", "inv.csv:2: invoice_id"),
        (
            "billing_account_id,billing_period,invoice_id,currency,amount\na,2026-01,i,USD,1\na,2026-01,i,USD,2\n",
            "inv.csv:3: invoice_id: 'i' of a in USD repeats line 2",
        ),
        ("billing_account_id,billing_period,invoice_id,currency,amount\na,2026-01,i,USD\n", "inv.csv:2: expected 5"),
        ("", "inv.csv:1: empty file"),
    ],
)
def test_bad_invoice_files_are_refused_with_line_and_field(text: str, needle: str) -> None:
    with pytest.raises(invoices.InvoiceError) as err:
        invoices.parse(text.encode(), "inv.csv")
    assert needle in str(err.value)


def test_xlsx_invoices_read_like_csv(demo_invoices: pl.DataFrame) -> None:
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf)
    sheet = book.add_worksheet("Invoices")
    sheet.write_row(0, 0, invoices.COLUMNS)
    for i, r in enumerate(demo_invoices.iter_rows(), start=1):
        sheet.write_row(i, 0, r)
    sheet.write_row(demo_invoices.height + 1, 0, ["a", "2026-01", "i", "USD", "twelve"])
    book.close()
    with pytest.raises(invoices.InvoiceError, match=rf"sheet Invoices\):{demo_invoices.height + 2}: amount"):
        invoices.parse(buf.getvalue(), "inv.xlsx")
    ok = io.BytesIO()
    book = xlsxwriter.Workbook(ok)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, invoices.COLUMNS)
    for i, r in enumerate(demo_invoices.iter_rows(), start=1):
        sheet.write_row(i, 0, r)
    book.close()
    assert invoices.parse(ok.getvalue(), "inv.xlsx").equals(demo_invoices)


def test_saved_versions_win_over_the_demo_file(demo_store: Path, demo_invoices: pl.DataFrame, tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    assert invoices.resolve(demo_store, path=db)[1].endswith("invoices.csv")
    changed = demo_invoices.head(3).with_columns(pl.col("amount") + 1)
    v1 = invoices.save(demo_invoices, "ann", "a.csv", db)
    v2 = invoices.save(changed, "bob", "b.csv", db)
    assert (v1, v2) == (1, 2)
    lines, origin = invoices.resolve(demo_store, path=db)
    assert lines is not None and lines.sort("invoice_id").equals(changed.sort("invoice_id"))
    assert "bob" in origin and "b.csv" in origin
    assert invoices.versions(db)["lines"].to_list() == [3, demo_invoices.height]


def test_cli_reconcile(demo_store: Path, tmp_path: Path) -> None:
    code, out, err = run("reconcile", "--store", str(demo_store), "--as-of", "2026-12-02", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["status"] for r in rows].count("off") == 1
    code, out, _ = run("reconcile", "--store", str(demo_store), "--as-of", "2026-12-02")
    assert code == 0 and "1,250.00" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("billing_account_id,billing_period,invoice_id,currency,amount\na,2026-01,i,USD,1,2\n")
    code, _, err = run("reconcile", "--store", str(demo_store), "--invoices", str(bad))
    assert code == 2 and f"{bad}:2: expected 5 fields" in err


def test_rollup_holds_every_row(demo_store: Path, demo_rows: pl.DataFrame) -> None:
    con = store.connect(demo_store)
    total = db.rows(con, "SELECT sum(line_items), sum(BilledCost) FROM invoice_lines")[0]
    assert total is not None
    assert total[0] == demo_rows.height
    assert total[1] == pytest.approx(demo_rows[C.BilledCost].sum(), rel=1e-12)


def test_a_complete_month_with_its_invoice_is_compared_inside_the_restatement_window(con, demo_invoices) -> None:  # type: ignore[no-untyped-def]
    early = reconcile.Settings(as_of=date(2026, 10, 3))  # September ended 2 days ago; its invoice is in
    sept = reconcile.reconciliation(con, demo_invoices, ALL, early).filter(pl.col("billing_period") == "2026-09")
    assert set(sept["status"]) == {"ties"}
    without = demo_invoices.filter(pl.col("billing_period") != "2026-09")
    sept = reconcile.reconciliation(con, without, ALL, early).filter(pl.col("billing_period") == "2026-09")
    assert set(sept["status"]) == {"month still open"}  # no invoice yet: not "rows without invoice"
