"""Tables with CSV and XLSX downloads, and the 'view chart data' expander."""

from __future__ import annotations

import io

import polars as pl
import polars.selectors as cs
import streamlit as st

from ui.auth import audit_download
from ui.format import column_format

MONEY_COLUMNS = (
    "EffectiveCost",
    "BilledCost",
    "ListCost",
    "ContractedCost",
    "current",
    "previous",
    "delta",
    "mtd",
    "projected",
)


def to_xlsx(frame: pl.DataFrame) -> bytes:
    """XLSX bytes; timestamps become naive UTC since Excel has no time zones."""
    buf = io.BytesIO()
    naive = frame.with_columns(cs.datetime(time_zone="*").dt.replace_time_zone(None))
    naive.write_excel(buf, autofit=True)
    return buf.getvalue()


def downloads(frame: pl.DataFrame, name: str, key: str) -> None:
    """CSV and XLSX download buttons for ``frame``; the files are built on click, not on every rerun."""
    row = st.container(horizontal=True, gap="small")
    row.download_button(
        "⬇ CSV",
        lambda: frame.write_csv().encode(),
        f"{name}.csv",
        "text/csv",
        key=f"{key}_csv",
        on_click=audit_download,
        args=(f"{name}.csv", frame.height),
    )
    row.download_button(
        "⬇ XLSX",
        lambda: to_xlsx(frame),
        f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{key}_xlsx",
        on_click=audit_download,
        args=(f"{name}.xlsx", frame.height),
    )


def money_config(frame: pl.DataFrame, currency: str) -> dict[str, object]:
    fmt = column_format(currency)
    config: dict[str, object] = {
        c: st.column_config.NumberColumn(c, format=fmt) for c in frame.columns if c in MONEY_COLUMNS
    }
    if "delta_pct" in frame.columns:
        config["delta_pct"] = st.column_config.NumberColumn("delta %", format="percent")
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            config[name] = st.column_config.DatetimeColumn(name, format="YYYY-MM-DD HH:mm")
    if "share" in frame.columns:
        config["share"] = st.column_config.NumberColumn("share", format="percent")
    return config


def chart_data(frame: pl.DataFrame, name: str, key: str, currency: str) -> None:
    """The rows behind a chart, in an expander, downloadable."""
    with st.expander("View chart data"):
        st.dataframe(frame, hide_index=True, width="stretch", column_config=money_config(frame, currency))
        downloads(frame, name, key)
