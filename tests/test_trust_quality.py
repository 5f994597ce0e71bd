"""Data-quality checks and the trust line (finops_core/trust/quality.py, rowchecks.py, line.py):
each check catches a constructed bad snapshot and stays quiet on the clean demo and on every
ingested sample."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from finops_core import db, store
from finops_core.ingest import ingest
from finops_core.query import ALL, Scope
from finops_core.schema import C
from finops_core.trust import invoices, line, quality
from tests.conftest import DEMO_END
from tests.test_cli import run

DATA = Path(__file__).parent / "data" / "ingest"
SAMPLES = [
    ["focus_converters-sample-anonymous-aws-export-dataset.csv"],
    ["aws-cur2-fixture.csv"],
    ["koku-tmp_example.csv"],
    ["koku-evidence-2019-06-03.csv"],
    ["finops-toolkit-EA_ActualCost_Small.csv", "finops-toolkit-EA_AmortizedCost_Small.csv"],
    ["focus_converters-reports_cost-csv_0000000030000269.csv"],
    ["azure-mca-fixture-actual.csv", "azure-mca-fixture-amortized.csv"],
]
SEPT_END = date(2026, 9, 30)
AFTER = SEPT_END + timedelta(days=10)  # September closed, data fresh enough only if as_of says so


@pytest.fixture(scope="module")
def september(demo_rows: pl.DataFrame) -> pl.DataFrame:
    """The demo's September for its two AWS payers (a few thousand rows)."""
    return demo_rows.filter(
        (pl.col(C.BillingPeriodStart).dt.strftime("%Y-%m") == "2026-09") & (pl.col(C.ProviderName) == "AWS")
    )


Make = Callable[..., Path]


@pytest.fixture()
def make(tmp_path: Path) -> Make:
    def build(*files: pl.DataFrame, warnings: list[str] | None = None) -> Path:
        root = tmp_path / f"store{len(list(tmp_path.iterdir()))}"
        with store.publish(root, note="test") as pub:
            for i, frame in enumerate(files):
                pub.write("2026-09", f"part-{i}", frame)
            pub.add_source({"name": "test.csv", "kind": "test", "warnings": warnings or []})
        return root

    return build


def found(root: Path, as_of: date = SEPT_END + timedelta(days=1), scope: Scope = ALL) -> dict[str, quality.Check]:
    return {c.name: c for c in quality.checks(store.connect(root), root, scope, as_of)}


def not_ok(checks: dict[str, quality.Check]) -> dict[str, str]:
    return {n: c.status for n, c in checks.items() if c.status not in ("ok", "info")}


def test_clean_month_passes_every_check(make: Make, september: pl.DataFrame) -> None:
    assert not_ok(found(make(september))) == {}


def test_a_missing_day_is_named_with_provider_account_and_day(make: Make, september: pl.DataFrame) -> None:
    gone = september.filter(
        (pl.col(C.ChargePeriodStart).dt.date() == date(2026, 9, 15)) & (pl.col(C.BillingAccountId) == "100000000002")
    )
    assert gone.height
    root = make(september.join(gone, on=september.columns, how="anti", nulls_equal=True))
    check = found(root)["completeness"]
    assert (check.status, check.count) == ("error", 1)
    assert "AWS" in check.detail and "Acme Data" in check.detail and "2026-09-15" in check.detail
    code, out, _ = run("check", "--store", str(root), "--as-of", "2026-10-01")
    assert code == 1 and "2026-09-15" in out and "100000000002" in out
    code, _, _ = run("check", "--store", str(make(september)), "--as-of", "2026-10-01")
    assert code == 0


def test_freshness_by_age_of_the_newest_day(make: Make, september: pl.DataFrame) -> None:
    root = make(september)
    assert found(root, SEPT_END + timedelta(days=2))["freshness"].status == "ok"  # through yesterday's yesterday
    assert found(root, SEPT_END + timedelta(days=3))["freshness"].status == "warning"
    stale = found(root, SEPT_END + timedelta(days=9))["freshness"]
    assert stale.status == "error" and stale.count == 2 and "2026-09-30" in stale.detail


def test_a_line_item_in_two_files_is_a_duplicate_but_twins_in_one_file_are_not(
    make: Make, september: pl.DataFrame
) -> None:
    twice = september.head(7)
    dup = found(make(september, twice))["duplicate_line"]
    assert (dup.status, dup.count) == ("error", 7)
    assert dup.money["USD"] == pytest.approx(twice[C.BilledCost].abs().sum())
    assert set(dup.samples["file"]) == {"billing_period=2026-09/part-1.parquet"}
    assert found(make(pl.concat([september, twice])))["duplicate_line"].status == "ok"


@pytest.mark.parametrize(
    ("rule", "change", "severity"),
    [
        ("required_null", pl.lit(None, pl.String).alias(C.ServiceName), "error"),
        ("negative_cost", (-pl.col(C.BilledCost) - 1).alias(C.BilledCost), "warning"),
        ("tags_not_object", pl.lit('["team", "web"]').alias(C.Tags), "warning"),
        ("effective_above_list", (pl.col(C.ListCost) * 2 + 1).alias(C.EffectiveCost), "warning"),
    ],
)
def test_row_rules_count_the_rows_and_money_and_point_at_them(
    make: Make, september: pl.DataFrame, rule: str, change: pl.Expr, severity: str
) -> None:
    usage = (pl.col(C.ChargeCategory) == "Usage") & pl.col(C.CommitmentDiscountId).is_null()
    bad = september.filter(usage).head(3).with_columns(change)
    rest = september.join(september.filter(usage).head(3), on=september.columns, how="anti", nulls_equal=True)
    check = found(make(rest, bad))[rule]
    assert (check.status, check.count) == (severity, 3)
    assert check.money["USD"] == pytest.approx(bad[C.BilledCost].abs().sum())
    assert check.samples.height == 3 and set(check.samples["row_number"]) == {1, 2, 3}


def test_credits_and_corrections_may_be_negative(make: Make, september: pl.DataFrame) -> None:
    credit = september.head(2).with_columns(pl.lit("Credit").alias(C.ChargeCategory), pl.lit(-50.0).alias(C.BilledCost))
    fix = september.head(2).with_columns(pl.lit("Correction").alias(C.ChargeClass), pl.lit(-5.0).alias(C.BilledCost))
    assert found(make(september, credit.vstack(fix).with_columns(pl.lit("x").alias(C.ResourceId))))[
        "negative_cost"
    ].status == ("ok")


def test_two_currencies_in_one_account_and_two_categories_for_one_service(make: Make, september: pl.DataFrame) -> None:
    eur = september.head(4).with_columns(pl.lit("EUR").alias(C.BillingCurrency), pl.lit("y").alias(C.ResourceId))
    service = september[C.ServiceName][0]
    recat = september.filter(pl.col(C.ServiceName) == service).head(2)
    other = "Storage" if recat[C.ServiceCategory][0] != "Storage" else "Compute"
    checks = found(make(september, eur, recat.with_columns(pl.lit(other).alias(C.ServiceCategory))))
    assert checks["mixed_currency"].status == "error" and "EUR, USD" in checks["mixed_currency"].detail
    assert checks["service_category"].status == "warning" and service in checks["service_category"].detail


def test_open_months_and_restatements_are_listed(make: Make, september: pl.DataFrame) -> None:
    root = make(september)
    with store.publish(root, note="restated") as pub:
        pub.write("2026-09", "part-0", september)
        pub.add_source({"name": "restated.csv", "kind": "test", "replaces": ["abc"], "warnings": []})
    assert "2026-09 still open" in found(root, SEPT_END + timedelta(days=2))["open_months"].detail
    closed = found(root, SEPT_END + timedelta(days=6))["open_months"]
    assert "still open" not in closed.detail and "restated.csv replaced 1 earlier source" in closed.detail


def test_ingest_warnings_of_live_sources_are_reported(tmp_path: Path, september: pl.DataFrame) -> None:
    export = tmp_path / "focus-export.parquet"
    sample = september.head(40).with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col(C.ContractedCost)).alias(C.ContractedCost)
    )
    sample.write_parquet(export)
    root = tmp_path / "store"
    report = ingest([export], root, "focus")
    warned = [w for r in report.inputs for w in r.warnings]
    assert any("ContractedCost" in w for w in warned)
    check = found(root)["ingest_warnings"]
    assert (check.status, check.count) == ("warning", len(warned)) and "ContractedCost" in check.detail


def test_a_viewer_gets_only_completeness_and_freshness_of_their_accounts(con, demo_store: Path) -> None:  # type: ignore[no-untyped-def]
    sql = f"SELECT {C.x_Team} FROM daily WHERE {C.ProviderName} = 'Snowflake' AND {C.x_Team} <> 'Unallocated' LIMIT 1"
    team = db.rows(con, sql)[0][0]
    mine = {r[0] for r in db.rows(con, f"SELECT DISTINCT {C.BillingAccountId} FROM daily WHERE {C.x_Team} = ?", [team])}
    checks = quality.checks(con, demo_store, Scope(teams=(team,)), DEMO_END + timedelta(days=1))
    assert [c.name for c in checks] == ["completeness", "freshness"]
    days = quality.account_days(con, Scope(teams=(team,)))
    assert set(days["account"]) == mine and len(mine) < quality.account_days(con, ALL).height


def test_clean_demo_passes_and_its_trust_line_names_the_planted_invoice(con, demo_store: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    as_of = DEMO_END + timedelta(days=1)
    checks = {c.name: c for c in quality.checks(con, demo_store, ALL, as_of)}
    assert not_ok(checks) == {}
    lines, _ = invoices.resolve(demo_store, path=tmp_path / "state.sqlite")
    trust = line.trust_line(con, demo_store, ALL, lines, as_of)
    assert trust.text.startswith(f"Complete through {DEMO_END.day} Oct for AWS, Google Cloud, Microsoft and Snowflake")
    assert "October 2026 still open" in trust.text
    assert "September 2026 ties to invoices" in trust.text
    assert "July 2026: Acme Google Cloud +1,250.00 USD unexplained" in trust.text
    assert trust.status == "warning"


def test_a_viewers_trust_line_says_nothing_of_invoices_or_other_accounts(con, demo_store: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines, _ = invoices.resolve(demo_store, path=tmp_path / "state.sqlite")
    sql = f"SELECT any_value({C.SubAccountId}) FROM daily WHERE {C.ProviderName} = 'Snowflake'"
    sub = db.rows(con, sql)[0][0]
    trust = line.trust_line(con, demo_store, Scope(sub_accounts=(sub,)), lines, DEMO_END + timedelta(days=1))
    assert trust.text == f"Complete through {DEMO_END.day} Oct for Snowflake · October 2026 still open"
    assert trust.status == "info"


def test_change_log_has_every_publish_with_its_cost_delta(make: Make, september: pl.DataFrame) -> None:
    root = make(september)
    extra = september.head(5).with_columns(pl.lit(10.0).alias(C.BilledCost), pl.lit("z").alias(C.ResourceId))
    with store.publish(root, note="second", user="ann") as pub:  # the period is written anew, 5 rows more
        pub.write("2026-09", "part-0", september)
        pub.write("2026-09", "part-1", extra)
    log = quality.change_log(root)
    assert log["note"].to_list() == ["second", "test"]
    assert log["user"][0] == "ann"
    assert log["rows"].to_list() == [september.height + 5, september.height]
    assert log["billed_delta"][0] == pytest.approx(50.0)
    assert log["billed_delta"][1] == pytest.approx(september[C.BilledCost].sum())


@pytest.mark.parametrize("files", SAMPLES, ids=lambda f: f[0][:24])
def test_every_ingested_sample_passes(tmp_path: Path, files: list[str]) -> None:
    """No check fires on a real sample, but for the warnings its own ingest gave (nonconforming
    units, reversed periods: true findings, shown as they were reported)."""
    report = ingest([DATA / f for f in files], tmp_path)
    days = quality.account_days(store.connect(tmp_path), ALL)
    checks = found(tmp_path, days["last_day"].max() + timedelta(days=1))
    warned = [w for r in report.inputs for w in r.warnings]
    assert not_ok(checks) == ({"ingest_warnings": "warning"} if warned else {})
    assert checks["ingest_warnings"].count == len(warned)
