"""Tables with CSV and XLSX downloads, and the 'view chart data' expander."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import polars as pl
import polars.selectors as cs
import streamlit as st

from finops_core import exports
from ui.auth import audit_download
from ui.format import SYMBOLS, column_format, header
from ui.format import money as format_money

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
    "cost",
    "impact",
    "amount",
    "budget",
    "actual",
    "variance",
    "estimated",
    "realized",
    "estimated_monthly_saving",
    "realized_monthly",
    "uncertainty_monthly",
)
PERCENT_COLUMNS = ("delta_pct", "share", "utilization", "coverage", "savings_rate", "compliance", "realization")
CURRENCY_COLUMNS = ("BillingCurrency", "currency", "amount_currency")  # a row's own currency, when a table has one
_ISO = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"


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


def is_money(name: str, money: tuple[str, ...] = ()) -> bool:
    return name in MONEY_COLUMNS or name in money or name.endswith(("_cost", "Cost", "_saving"))


def is_unit_cost(name: str) -> bool:
    """A cost per unit (cost per customer, per query): money with four decimals, not cents."""
    return name.startswith("unit_cost")


def unit_cost_format(currency: str) -> str:
    symbol = SYMBOLS.get(currency)
    return f"{symbol}%.4f" if symbol else f"%.4f {currency}"


def is_percent(name: str) -> bool:
    return name in PERCENT_COLUMNS or name.endswith(("_pct", "_share", " %"))


def column_config(
    frame: pl.DataFrame, currency: str, key_columns: tuple[str, ...] = (), money: tuple[str, ...] = ()
) -> dict[str, object]:
    """Human headers for every column; money (the usual cost columns and ``money``) with its
    currency; shares as percentages; dates without a time; ``key_columns`` pinned at the left."""
    fmt = column_format(currency)
    config: dict[str, object] = {}
    for name, dtype in frame.schema.items():
        title, pinned = header(name), name in key_columns
        if dtype.is_numeric() and is_money(name, money) and is_unit_cost(name):
            config[name] = st.column_config.NumberColumn(title, format=unit_cost_format(currency), pinned=pinned)
        elif dtype.is_numeric() and is_money(name, money):
            config[name] = st.column_config.NumberColumn(title, format=fmt, pinned=pinned)
        elif dtype.is_numeric() and is_percent(name):
            config[name] = st.column_config.NumberColumn(title, format="percent", pinned=pinned)
        elif isinstance(dtype, pl.Datetime):
            config[name] = st.column_config.DatetimeColumn(title, format="D MMM YYYY HH:mm", pinned=pinned)
        elif isinstance(dtype, pl.Date):
            config[name] = st.column_config.DateColumn(title, format="D MMM YYYY", pinned=pinned)
        elif dtype.is_float():  # quantities: thousands separated, the decimals they have
            config[name] = st.column_config.NumberColumn(title, format="localized", pinned=pinned)
        elif dtype.is_integer():
            config[name] = st.column_config.NumberColumn(title, format="%d", pinned=pinned)
        else:
            config[name] = st.column_config.Column(title, pinned=pinned)
    return config


def _utc(text: str) -> datetime:
    """An ISO date or timestamp (naive ones are UTC, as the state database writes them) in UTC."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def displayed(frame: pl.DataFrame, money: tuple[str, ...] = ()) -> tuple[pl.DataFrame, str | None]:
    """``frame`` as a table shows it: money rounded to the cent (so -0.004 is 0.00, never -$0.00) and
    shares to a hundredth of a percent (never -0 %);
    timestamps at midnight and ISO date strings as dates, other ISO timestamps as datetimes; when a
    currency column holds more than one currency, each amount as text in its own row's currency
    (amounts in two currencies share no number format). Returns (frame, the single currency or None)."""
    out = frame
    for name, dtype in frame.schema.items():
        if dtype == pl.String and frame[name].drop_nulls().len() and frame[name].drop_nulls().str.contains(_ISO).all():
            out = out.with_columns(pl.col(name).map_elements(_utc, return_dtype=pl.Datetime("us", "UTC")))
    for name, dtype in out.schema.items():
        if isinstance(dtype, pl.Datetime) and out[name].drop_nulls().len():
            clock = out[name].dt.hour().cast(pl.Int32) * 3600 + out[name].dt.minute().cast(pl.Int32) * 60
            if ((clock + out[name].dt.second().cast(pl.Int32)).drop_nulls() == 0).all():
                out = out.with_columns(pl.col(name).dt.date())
    amounts = [c for c, t in out.schema.items() if t.is_numeric() and is_money(c, money)]
    shares = [c for c, t in out.schema.items() if t.is_float() and is_percent(c) and c not in amounts]
    cents = [c for c in amounts if not is_unit_cost(c)]
    rounded = [pl.col(c).cast(pl.Float64).round(2) for c in cents] + [pl.col(c).round(4) for c in shares]
    out = out.with_columns(pl.when(r == 0).then(0.0).otherwise(r).name.keep() for r in rounded)  # no -0.0
    # a cost per unit keeps its precision (shown to 4 places); only what shows as zero is zero
    per_unit = [pl.col(c).cast(pl.Float64) for c in amounts if is_unit_cost(c)]
    out = out.with_columns(pl.when(r.abs() < 5e-5).then(0.0).otherwise(r).name.keep() for r in per_unit)
    column = next((c for c in CURRENCY_COLUMNS if c in out.columns), None)
    currencies = out[column].drop_nulls().unique().to_list() if column else []
    if len(currencies) <= 1:
        return out, (str(currencies[0]) if currencies else None)
    return out.with_columns(
        pl.struct(c, column)
        .map_elements(lambda r, c=c: format_money(r[c], r[column], 2), return_dtype=pl.String)
        .alias(c)
        for c in amounts
    ), None


def show(
    frame: pl.DataFrame,
    currency: str = "USD",
    key_columns: tuple[str, ...] = (),
    first: tuple[str, ...] = (),
    money: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
    **kwargs: object,
) -> object:
    """``st.dataframe`` through the formatting layer: ``key_columns`` then ``first`` lead (the
    columns that matter, not scrolled off to the right), the key columns stay pinned; amounts in
    the table's own currency column when it has one (see ``displayed``); ``headers`` replaces the
    derived header of a column and keeps its format."""
    lead = [c for c in (*key_columns, *first) if c in frame.columns]
    ordered = frame.select(*dict.fromkeys(lead), *(c for c in frame.columns if c not in lead))
    shown, own = displayed(ordered, money)
    options: dict[str, object] = {"hide_index": True, "width": "stretch"} | kwargs
    derived = column_config(shown, own or currency, key_columns, money)
    for name, title in (headers or {}).items():
        if name in derived:
            derived[name] = dict(derived[name]) | {"label": title}  # type: ignore[call-overload]
    options["column_config"] = derived | dict(
        options.get("column_config") or {}  # type: ignore[call-overload]
    )
    return st.dataframe(shown, **options)  # type: ignore[call-overload]
