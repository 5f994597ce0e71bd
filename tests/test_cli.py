from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import polars as pl
import pytest

from finops_core.cli import main
from finops_core.schema import FOCUS_NAMES, C


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_query_prints_one_row_per_group_and_currency(demo_store: Path, demo_rows: pl.DataFrame) -> None:
    code, out, _ = run(
        "query",
        "--store",
        str(demo_store),
        "--start",
        "2026-09-01",
        "--end",
        "2026-09-30",
        "--group-by",
        "ProviderName",
        "--filter",
        "ChargeCategory=Usage",
        "--metric",
        "BilledCost",
    )
    assert code == 0
    frame = pl.read_csv(io.StringIO(out))
    assert frame.columns == [C.ProviderName, C.BillingCurrency, C.BilledCost]
    sel = demo_rows.filter(
        (pl.col(C.ChargePeriodStart).dt.date().is_between(pl.date(2026, 9, 1), pl.date(2026, 9, 30)))
        & (pl.col(C.ChargeCategory) == "Usage")
    )
    assert frame[C.BilledCost].sum() == pytest.approx(sel[C.BilledCost].sum(), abs=0.005 * frame.height)  # cents


def test_query_json_and_repeated_filters(demo_store: Path) -> None:
    code, out, _ = run(
        "query",
        "--store",
        str(demo_store),
        "--group-by",
        "x_Team",
        "--filter",
        "x_Team=payments",
        "--filter",
        "x_Team=search",
        "--format",
        "json",
    )
    assert code == 0
    assert {r[C.x_Team] for r in json.loads(out)} == {"payments", "search"}


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("query", "--group-by", "Nope"), "unknown dimension 'Nope'"),
        (("query", "--filter", "ServiceName"), "expected DIM=VALUE"),
        (("query", "--start", "2026-13-01"), "not a date"),
        (("export", "--out", "/tmp/x.txt"), ".parquet or .csv"),
    ],
)
def test_bad_usage_exits_2_and_names_the_field(demo_store: Path, argv: tuple[str, ...], needle: str) -> None:
    code, _, err = run(argv[0], "--store", str(demo_store), *argv[1:])
    assert code == 2
    assert needle in err


def test_empty_store_exits_2(tmp_path: Path) -> None:
    code, _, err = run("query", "--store", str(tmp_path))
    assert code == 2 and "empty" in err


def test_export_writes_focus_rows(demo_store: Path, demo_rows: pl.DataFrame, tmp_path: Path) -> None:
    code, _, _ = run("export", "--store", str(demo_store), "--out", str(tmp_path / "all.parquet"))
    assert code == 0
    out = pl.read_parquet(tmp_path / "all.parquet")
    assert out.columns[:57] == list(FOCUS_NAMES) and out.height == demo_rows.height
    assert out[C.EffectiveCost].sum() == pytest.approx(demo_rows[C.EffectiveCost].sum(), rel=1e-12)
    code, _, _ = run("export", "--store", str(demo_store), "--out", str(tmp_path / "all.csv"))
    first = (tmp_path / "all.csv").read_text().splitlines()[1]
    assert code == 0 and "T00:00:00Z" in first
