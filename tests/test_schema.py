from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from finops_core import schema
from finops_core.schema import C

ROOT = Path(__file__).resolve().parents[1]


def test_carries_all_57_focus_1_2_columns_once() -> None:
    assert len(schema.FOCUS_NAMES) == 57
    assert len(set(schema.FOCUS_NAMES)) == 57
    levels = [c.level for c in schema.FOCUS_COLUMNS]
    # FOCUS 1.2: 21 Mandatory, 32 Conditional, 4 Recommended columns
    assert levels.count(schema.Level.MANDATORY) == 21
    assert levels.count(schema.Level.CONDITIONAL) == 32
    assert levels.count(schema.Level.RECOMMENDED) == 4
    assert all(n.startswith("x_") for n in schema.ALLOCATION_NAMES)
    for name in ("x_Team", "x_Product", "x_Environment", "x_CostCenter", "x_Owner"):
        assert name in schema.ALLOCATION_NAMES


def test_constants_match_their_names() -> None:
    for attr, value in vars(C).items():
        if not attr.startswith("_"):
            assert attr == value


def test_service_subcategories_belong_to_one_category() -> None:
    seen: dict[str, str] = {}
    for cat in schema.SERVICE_CATEGORIES:
        for sub in schema.subcategories_of(cat):
            assert seen.setdefault(sub, cat) == cat
    assert len(schema.SERVICE_CATEGORIES) == 19


def test_conform_orders_columns_and_fills_missing() -> None:
    frame = pl.DataFrame({"x_Extra": ["a"], C.BilledCost: [1], C.ServiceName: ["S"]})
    out = schema.conform(frame)
    assert out.columns[:57] == list(schema.FOCUS_NAMES)
    assert out.columns[-1] == "x_Extra"
    assert out[C.BilledCost].dtype == pl.Float64
    assert out[C.ChargeCategory][0] is None


def test_finops_core_never_imports_streamlit() -> None:
    pattern = re.compile(r"^\s*(import streamlit|from streamlit)", re.M)
    offenders = [p for p in (ROOT / "finops_core").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
