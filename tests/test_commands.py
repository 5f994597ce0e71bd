"""Cron-style runs of the per-capability subcommands: a subprocess each, no Streamlit, the store from
$FINOPS_STORE, CSV/JSON output with money rounded to cents, scope applied."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from finops_core import backlog, budget_periods, budgets
from finops_core.schema import C

ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = ("anomalies", "forecast", "budgets", "commitments", "savings")


@pytest.fixture(scope="module")
def cron_env(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment a cron job would have: the store and a state DB holding the demo's budgets and backlog."""
    state_dir = tmp_path_factory.mktemp("cron-state")
    db = state_dir / "state.sqlite"
    budgets.save(budgets.load(demo_store / "demo" / "budgets.csv"), "cron", "demo", db)
    backlog.import_csv((demo_store / "demo" / "backlog.csv").read_text(), "cron", db)
    return {**os.environ, "FINOPS_STORE": str(demo_store), "FINOPS_STATE": str(state_dir)}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finops_core", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def _csv(out: str) -> pl.DataFrame:
    return pl.read_csv(io.StringIO(out), infer_schema_length=None)


def _rounded(text: str) -> bool:
    return not re.search(r"\d\.\d{5,}", text)  # money to cents, shares to 4 places


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_each_subcommand_has_help_naming_the_formats(capability: str) -> None:
    done = _run(dict(os.environ), capability, "--help")
    assert done.returncode == 0 and "csv" in done.stdout and "FINOPS_STORE" in done.stdout


def test_anomalies_as_csv_and_json_within_a_scope(cron_env: dict[str, str]) -> None:
    done = _run(cron_env, "anomalies", "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = _csv(done.stdout)
    assert table.height > 0 and {"id", "start", "impact", "currency", "status"} <= set(table.columns)
    assert _rounded(done.stdout)
    scoped = _run(cron_env, "anomalies", "--format", "json", "--scope", "team:payments")
    rows = json.loads(scoped.stdout)
    assert scoped.returncode == 0 and rows and {r["team"] for r in rows} == {"payments"}


def test_budgets_of_the_quarter_from_month_lines(cron_env: dict[str, str], demo_store: Path) -> None:
    done = _run(cron_env, "budgets", "--period", "this-quarter", "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = _csv(done.stdout)
    period = table["period"][0]
    lines = budget_periods.rollup(budgets.load(demo_store / "demo" / "budgets.csv"), period)
    assert table["budget"].sum() == pytest.approx(lines.filter(pl.col("currency") == "USD")["amount"].sum())
    assert _rounded(done.stdout) and table["forecast at period end"].null_count() == 0


def test_budgets_of_the_fiscal_quarter_from_the_environment(cron_env: dict[str, str], demo_store: Path) -> None:
    """FINOPS_FISCAL_START=4: data to 15 Oct 2026 is in FY2027-Q3 (October to December 2026)."""
    env = cron_env | {"FINOPS_FISCAL_START": "4"}
    done = _run(env, "budgets", "--period", "this-quarter", "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = _csv(done.stdout)
    assert set(table["period"]) == {"FY2027-Q3"}
    lines = budget_periods.rollup(budgets.load(demo_store / "demo" / "budgets.csv"), "2026-Q4")
    assert table["budget"].sum() == pytest.approx(lines.filter(pl.col("currency") == "USD")["amount"].sum())
    explicit = _run(cron_env, "budgets", "--period", "this-fy", "--fiscal-start", "4", "--format", "csv")
    assert explicit.returncode == 0 and set(_csv(explicit.stdout)["period"]) == {"FY2027"}
    bad = _run(cron_env | {"FINOPS_FISCAL_START": "April"}, "budgets", "--period", "this-quarter")
    assert bad.returncode != 0 and "FINOPS_FISCAL_START" in bad.stderr and "Traceback" not in bad.stderr


def test_forecast_of_one_team_with_bands_budget_and_totals(cron_env: dict[str, str]) -> None:
    done = _run(cron_env, "forecast", "--team", "payments", "--format", "csv")
    assert done.returncode == 0, done.stderr
    plan = _csv(done.stdout)
    body = plan.filter(pl.col("basis") != "total")
    assert set(body["team"]) == {"payments"} and body.height >= 12
    grand = plan.filter((pl.col("team") == "All teams") & (pl.col("month") == "Total"))["expected"][0]
    assert grand == pytest.approx(body["expected"].sum(), abs=0.01 * body.height)
    assert (body["low 80 %"] <= body["high 80 %"]).all() and _rounded(done.stdout)


def test_commitments_and_savings(cron_env: dict[str, str]) -> None:
    done = _run(cron_env, "commitments", "--format", "csv", "--days", "30")
    assert done.returncode == 0, done.stderr
    table = _csv(done.stdout)
    assert table.height > 0 and {C.CommitmentDiscountName, "used", "unused", "utilization"} <= set(table.columns)
    assert _rounded(done.stdout)
    done = _run(cron_env, "savings", "--format", "json", "--scope", "team=payments")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows and {r["team"] for r in rows} == {"payments"}


def test_no_store_is_a_clear_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "FINOPS_STORE"}
    done = _run(env, "commitments")
    assert done.returncode == 2 and "pass --store or set FINOPS_STORE" in done.stderr
