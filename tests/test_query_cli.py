"""``python -m finops_core query``: named periods, grains, comparisons, rounded money, $FINOPS_STORE.
Run as a cron job would: a subprocess with only the environment."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finops_core import drilldown, store
from finops_core.query import CostQuery
from finops_core.schema import C
from tests.test_cli import run

ROOT = Path(__file__).resolve().parents[1]
SEP = (date(2026, 9, 1), date(2026, 9, 30))  # the test store's data ends 15 Oct 2026


def _core(demo_store: Path, q: CostQuery, fn=drilldown.cost_by_dimension) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    con = store.connect(demo_store)
    try:
        return fn(con, q)
    finally:
        con.close()


def test_cron_style_run_reads_finops_store_and_names_the_last_month(demo_store: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FINOPS_STORE"} | {"FINOPS_STORE": str(demo_store)}
    done = subprocess.run(
        [sys.executable, "-m", "finops_core", "query", "--period", "last-month", "--group-by", "x_Team"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    frame = pl.read_csv(io.StringIO(done.stdout))
    want = _core(demo_store, CostQuery(*SEP, group_by=(C.x_Team,)))
    got = dict(zip(zip(frame[C.x_Team], frame[C.BillingCurrency], strict=True), frame[C.EffectiveCost], strict=True))
    assert len(got) == want.height
    for team, cur, value in want.select(C.x_Team, C.BillingCurrency, C.EffectiveCost).iter_rows():
        assert got[(team, cur)] == round(value, 2)  # rounded to cents, not 359.4764...


def test_grain_month_splits_and_sums(demo_store: Path) -> None:
    code, out, err = run(
        "query", "--store", str(demo_store), "--period", "qtd", "--grain", "month", "--group-by", "ServiceCategory"
    )
    assert code == 0, err
    frame = pl.read_csv(io.StringIO(out), try_parse_dates=True)
    assert frame.columns == ["period", C.ServiceCategory, C.BillingCurrency, C.EffectiveCost]
    assert set(frame["period"].to_list()) == {date(2026, 10, 1)}  # Q4 to date: October only
    total = drilldown.total
    want = _core(demo_store, CostQuery(date(2026, 10, 1), date(2026, 10, 15)), total)
    for cur, value in want.iter_rows():
        got = frame.filter(pl.col(C.BillingCurrency) == cur)[C.EffectiveCost].sum()
        assert got == pytest.approx(value, abs=0.005 * frame.height)
    code, out, _ = run("query", "--store", str(demo_store), "--period", "mtd", "--grain", "week")
    weeks = pl.read_csv(io.StringIO(out), try_parse_dates=True)["period"].unique().sort().to_list()
    assert weeks == [date(2026, 9, 28), date(2026, 10, 5), date(2026, 10, 12)]  # weeks start on Monday


def test_compare_previous_calendar_month(demo_store: Path) -> None:
    code, out, err = run(
        "query", "--store", str(demo_store), "--period", "last-month", "--compare", "previous", "--format", "json"
    )
    assert code == 0, err
    rows = pl.read_json(io.StringIO(out))
    assert set(rows["compared_with"]) == {"2026-08-01..2026-08-31"}
    aug = _core(demo_store, CostQuery(date(2026, 8, 1), date(2026, 8, 31)), drilldown.total)
    for cur, value in aug.iter_rows():
        assert rows.filter(pl.col(C.BillingCurrency) == cur)["previous"][0] == pytest.approx(value, abs=0.005)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--period", "last-month", "--start", "2026-09-01"), "either --period or --start/--end"),
        (("--period", "fortnight"), "invalid choice"),
        (("--grain", "month", "--compare", "previous"), "--compare: compare totals without --grain"),
        (
            (
                "--grain",
                "hour",
            ),
            "invalid choice",
        ),
    ],
)
def test_bad_options_name_the_option(demo_store: Path, argv: tuple[str, ...], needle: str) -> None:
    code, _, err = run("query", "--store", str(demo_store), *argv)
    assert code == 2 and needle in err
