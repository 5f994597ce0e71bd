"""Business metrics: validation with file, line and field; versions; the CLI; the demo's metrics file."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finops_core import cli, state
from finops_core.unit import metrics

GOOD = "date,metric,value,team,product\n2026-01-01,orders,10,,Storefront\n2026-01-02,orders,12.5,,Storefront\n"


def test_parse_csv_good() -> None:
    lines = metrics.parse_csv(GOOD, "m.csv")
    assert lines.schema == pl.Schema(metrics.SCHEMA)
    assert lines["value"].to_list() == [10.0, 12.5]
    assert lines["date"].to_list() == [date(2026, 1, 1), date(2026, 1, 2)]
    assert lines["team"].to_list() == ["", ""]


def test_parse_csv_errors_name_file_line_and_field() -> None:
    text = (
        "date,metric,value\n"
        "2026-01-01,orders,5\n"
        "2026-13-01,orders,x\n"
        "2026-01-01,orders,5\n"
        "2026-01-03,,-1\n"
        "2026-01-04,orders\n"
    )
    with pytest.raises(metrics.MetricsError) as err:
        metrics.parse_csv(text, "m.csv")
    assert err.value.errors == [
        "m.csv:3: date: '2026-13-01' is not a date (YYYY-MM-DD)",
        "m.csv:3: value: 'x' is not a number (no thousands separators or units)",
        "m.csv:5: metric: required",
        "m.csv:5: value: -1 is negative",
        "m.csv:6: expected 3 fields, got 2",
        "m.csv:4: date/metric/team/product: duplicate of m.csv:2",
    ]


def test_parse_csv_header_errors() -> None:
    with pytest.raises(metrics.MetricsError) as err:
        metrics.parse_csv("day,metric,amount\n", "m.csv")
    assert "m.csv:1: day: unknown column (expected date, metric, value, team, product)" in err.value.errors
    assert "m.csv:1: value: missing column" in err.value.errors


def test_parse_parquet_names_rows() -> None:
    buf = io.BytesIO()
    pl.DataFrame(
        {"date": [date(2026, 1, 1), date(2026, 1, 2)], "metric": ["tokens", "tokens"], "value": [3.0, float("nan")]}
    ).write_parquet(buf)
    with pytest.raises(metrics.MetricsError) as err:
        metrics.parse_parquet(buf.getvalue(), "m.parquet")
    assert err.value.errors == ["m.parquet: row 2: value: 'nan' is not a finite number"]


def test_save_versions_and_audit(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    first = metrics.save(metrics.parse_csv(GOOD), "ana", "a.csv", db)
    second = metrics.save(metrics.parse_csv(GOOD.replace("12.5", "13")), "ben", "b.csv", db)
    assert (first, second) == (1, 2)
    assert metrics.current(db)["value"].to_list() == [10.0, 13.0]
    assert metrics.current(db, version=1)["value"].to_list() == [10.0, 12.5]
    assert metrics.versions(db)["username"].to_list() == ["ben", "ana"]
    assert state.audit_log(db, action="metrics_load").height == 2


def test_cli_load_and_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINOPS_STATE", str(tmp_path / "state"))  # not the session's: the page seeds from the demo
    bad = tmp_path / "bad.csv"
    bad.write_text("date,metric,value\n2026-01-01,orders,-3\n")
    assert cli.main(["metrics", "load", str(bad)]) == 2
    assert f"{bad}:2: value: -3 is negative" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    assert metrics.versions().is_empty()
    assert cli.main(["metrics", "load", str(good), "--user", "ci"]) == 0
    assert metrics.versions()["username"].to_list() == ["ci"]
    assert metrics.current()["value"].to_list() == [10.0, 12.5]


def test_demo_metrics_file(demo_store: Path) -> None:
    lines = metrics.load(demo_store / "demo" / "metrics.csv")
    per = metrics.summary(lines)
    assert set(per["metric"]) == {"transactions", "orders", "queries", "sessions", "searches", "active_customers"}
    assert per["days"].n_unique() == 1  # every metric covers the whole window
    assert (lines["value"] > 0).all()
