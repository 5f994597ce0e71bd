"""Downloaded CSVs cannot run formulas in a spreadsheet; other cells are written as they are."""

from __future__ import annotations

import csv
import io

import polars as pl

from finops_core import exports


def test_formula_cells_are_defused_and_the_rest_kept() -> None:
    hostile = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"]
    plain = ["payments", "a=b", "O'Brien", "", "1-2", "-"]
    frame = pl.DataFrame({"team": hostile + plain, "cost": [-1.5] * 12, "n": list(range(12))})
    rows = list(csv.DictReader(io.StringIO(exports.spreadsheet_csv(frame).decode())))
    assert [r["team"] for r in rows[:6]] == ["'" + v for v in hostile]
    assert [r["team"] for r in rows[6:11]] == plain[:5]
    assert rows[11]["team"] == "'-"  # a lone dash would be read as the start of a formula by some
    assert all(r["cost"] == "-1.5" for r in rows)  # numbers are numbers, never prefixed
    assert [int(r["n"]) for r in rows] == list(range(12))


def test_null_and_non_text_columns_pass_through() -> None:
    frame = pl.DataFrame({"a": [None, "=x"], "b": [1, 2]})
    out = exports.defused(frame)
    assert out["a"].to_list() == [None, "'=x"] and out["b"].to_list() == [1, 2]
