"""Tables with CSV and XLSX downloads, and the 'view chart data' expander."""

from __future__ import annotations

import io

import polars as pl
import polars.selectors as cs
import streamlit as st

from finops_core import exports
from ui.auth import audit_download
from ui.format import column_format, header

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
PERCENT_COLUMNS = ("delta_pct", "share", "utilization", "coverage", "savings_rate", "compliance")


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
        lambda: exports.spreadsheet_csv(frame),
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
        key_columns = tuple(c for c in frame.columns[:1])
        show(frame, currency, key_columns)
        downloads(frame, name, key)


def column_config(
    frame: pl.DataFrame, currency: str, key_columns: tuple[str, ...] = (), money: tuple[str, ...] = ()
) -> dict[str, object]:
    """Human headers for every column; money (the usual cost columns and ``money``) with its
    currency; shares as percentages; dates without a time; ``key_columns`` pinned at the left."""
    fmt = column_format(currency)
    config: dict[str, object] = {}
    for name, dtype in frame.schema.items():
        title, pinned = header(name), name in key_columns
        if name in MONEY_COLUMNS or name in money or name.endswith("_cost") or name.endswith("Cost"):
            config[name] = st.column_config.NumberColumn(title, format=fmt, pinned=pinned)
        elif name in PERCENT_COLUMNS or name.endswith("_pct") or name.endswith("_share"):
            config[name] = st.column_config.NumberColumn(title, format="percent", pinned=pinned)
        elif isinstance(dtype, pl.Datetime):
            config[name] = st.column_config.DatetimeColumn(title, format="D MMM YYYY HH:mm", pinned=pinned)
        elif isinstance(dtype, pl.Date):
            config[name] = st.column_config.DateColumn(title, format="D MMM YYYY", pinned=pinned)
        elif dtype.is_float():
            config[name] = st.column_config.NumberColumn(title, format="%.2f", pinned=pinned)
        elif dtype.is_integer():
            config[name] = st.column_config.NumberColumn(title, format="%d", pinned=pinned)
        else:
            config[name] = st.column_config.Column(title, pinned=pinned)
    return config


def show(
    frame: pl.DataFrame,
    currency: str = "USD",
    key_columns: tuple[str, ...] = (),
    first: tuple[str, ...] = (),
    money: tuple[str, ...] = (),
    **kwargs: object,
) -> object:
    """``st.dataframe`` through the formatting layer: ``key_columns`` then ``first`` lead (the
    columns that matter, not scrolled off to the right), the key columns stay pinned."""
    lead = [c for c in (*key_columns, *first) if c in frame.columns]
    ordered = frame.select(*dict.fromkeys(lead), *(c for c in frame.columns if c not in lead))
    options: dict[str, object] = {"hide_index": True, "width": "stretch"} | kwargs
    options["column_config"] = column_config(ordered, currency, key_columns, money) | dict(
        options.get("column_config") or {}  # type: ignore[call-overload]
    )
    return st.dataframe(ordered, **options)  # type: ignore[call-overload]
