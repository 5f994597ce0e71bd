"""Every read-only table on every page goes through the formatting layer: as admin on the test
store, no displayed dataframe has a float column without a number format (raw decimals such as
359.4764, money without its currency), a field name as its header (x_Team, EffectiveCost,
incident_cases), money without its currency symbol, or a timestamp at midnight shown with its time (2025-12-01 00:00:00)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from finops_core import access
from ui import tables
from ui.format import COLUMN_FORMATS, SYMBOLS

ROOT = Path(__file__).resolve().parents[1]
PAGES = [k for k, roles in access.PAGE_ROLES.items() if "admin" in roles]
FIELD_NAME = re.compile(r"^x_|_|^[A-Z][a-z]+(?:[A-Z][a-z0-9]+)+$")  # x_Team, mtta_hours, EffectiveCost


def _page(demo_store: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> AppTest:
    monkeypatch.setenv("FINOPS_STORE", str(demo_store))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = at.session_state["name"] = "admin"
    at.session_state["roles"] = [access.DEMO_USERS["admin"][1]]
    at.session_state["logout"] = False
    at.run()
    return at.switch_page(f"views/{page}.py").run()


def problems(frame: pd.DataFrame, config: dict[str, dict[str, object]]) -> list[str]:
    """What a user would call unformatted in one displayed table (``config``: its column config)."""
    out = []
    for name in frame.columns:
        col = config.get(str(name), {})
        label = str(col.get("label") or name)
        if FIELD_NAME.search(label):
            out.append(f"header {label!r}")
        kind = dict(col.get("type_config") or {})  # type: ignore[call-overload]
        series = frame[name]
        if pd.api.types.is_float_dtype(series) and not kind.get("format"):
            out.append(f"{label!r}: floats without a number format, e.g. {series.dropna().head(1).tolist()}")
        money = pd.api.types.is_numeric_dtype(series) and tables.is_money(str(name))
        symbol = str(kind.get("format", "")).startswith(tuple(SYMBOLS.values()))  # "$%.4f": a cost per unit
        if money and kind.get("format") not in COLUMN_FORMATS.values() and not symbol:
            out.append(f"{label!r}: money without its currency ({kind.get('format')})")
        if pd.api.types.is_datetime64_any_dtype(series):
            times = series.dropna()
            midnight = len(times) and (times.dt.hour == 0).all() and (times.dt.minute == 0).all()
            if midnight and "HH" in str(kind.get("format", "HH")):
                out.append(f"{label!r}: dates shown with a time of day")
        elif series.dtype == object and series.astype(str).str.contains("00:00:00").any():
            out.append(f"{label!r}: text with 00:00:00")
    return out


@pytest.mark.parametrize("page", PAGES)
def test_no_table_shows_raw_floats_field_names_or_midnight_times(
    demo_store: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    at = _page(demo_store, monkeypatch, page)
    assert not at.exception
    found = []
    for i, table in enumerate(at.dataframe):
        config = json.loads(table.proto.columns or "{}")
        found += [f"table {i}: {p}" for p in problems(table.value, config)]
    assert not found, "\n".join(found)
