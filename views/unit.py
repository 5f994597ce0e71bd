"""Unit economics: allocated cost per unit of a business metric by product, team or the whole company,
its trend, its change split into cost growth and volume growth, and the metrics file behind it."""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import polars as pl
import streamlit as st

from finops_core import forecast, periods
from finops_core.query import CostQuery
from finops_core.schema import C
from finops_core.unit import cost, metrics, outlook
from ui import cache, tables
from ui.filters import Selection
from ui.format import money, percent

EDITORS = ("admin", "finops", "finance")
LABELS = {C.x_Product: "Product", C.x_Team: "Team", None: "Company"}
GRAINS = {"day": "Day", "week": "Week", "month": "Month"}


def _seed_from_demo() -> None:
    """A new state database starts with the demo's metrics (whose dates match the demo data), once."""
    path = cache.store_root() / "demo" / "metrics.csv"
    if path.exists() and metrics.versions().is_empty():
        metrics.save(metrics.load(path), "demo", str(path))


def _digits(value: float | None) -> int:
    """Cents for unit costs of a unit or more; four decimals for fractions of a cent per request."""
    return 2 if value is None or abs(value) >= 1 else 4


def _load_section(username: str) -> None:
    with st.expander("Load business metrics"):
        st.caption(
            "CSV or Parquet with date (YYYY-MM-DD), metric, value (>= 0) and optional team and product "
            "(blank = all). A file with any bad line is refused whole; each load is a new version."
        )
        upload = st.file_uploader("Metrics file", type=["csv", "parquet"], key="unit_upload")
        if upload is not None and st.button("Save as a new version", key="unit_save"):
            try:
                lines = metrics.parse_upload(upload.getvalue(), upload.name)
            except metrics.MetricsError as exc:
                st.error("The file was not loaded:\n\n" + "\n".join(f"- {e}" for e in exc.errors[:50]))
            else:
                version = metrics.save(lines, username, upload.name)
                st.success(f"Saved {lines.height:,} lines as metrics version {version}.")
        saved = metrics.versions()
        tables.show(saved, key_columns=saved.columns[:1])


def _trend(frame: pl.DataFrame, dim: str | None, metric: str, cur: str, grain: str) -> alt.Chart:
    fmt = "%b %Y" if grain == "month" else "%d %b %Y"  # the year on every label: the history spans two
    enc: dict[str, object] = {
        "x": alt.X(f"{cost.PERIOD}:T", title=None, axis=alt.Axis(format=fmt, labelOverlap=True)),
        "y": alt.Y("unit_cost:Q", title=f"{cur} per {metric}", scale=alt.Scale(zero=False)),
        "tooltip": [alt.Tooltip(f"{cost.PERIOD}:T"), alt.Tooltip("unit_cost:Q", format=",.4f"), "cost", "units"],
    }
    if dim:
        enc["color"] = alt.Color(f"{dim}:N", title=None, legend=alt.Legend(orient="bottom"))
    return alt.Chart(frame).mark_line(point=True, strokeWidth=2.5).encode(**enc).properties(height=320)


def _tiles(change: pl.DataFrame, dim: str | None, metric: str, cur: str) -> None:
    rows = change.sort("cost1", descending=True).head(4).iter_rows(named=True)
    for col, r in zip(st.columns(4), rows, strict=False):
        name = r[dim] if dim else "Company"
        col.metric(
            f"{name}: cost per {metric}",
            money(r["unit_cost1"], cur, _digits(r["unit_cost1"])),
            percent(r["change_pct"]),
            delta_color="inverse",
            border=True,
            help=f"Before: {money(r['unit_cost0'], cur, _digits(r['unit_cost0']))}. Of the change, cost growth "
            f"{money(r['cost_effect'], cur, 4)} and volume growth {money(r['volume_effect'], cur, 4)}.",
        )


def _forecast(version: str, hist: CostQuery, mversion: int, metric: str, dim: str | None, groups: list[str]) -> None:
    value = st.selectbox(LABELS[dim], groups, key="unit_fc_group") if dim else None
    try:
        fc = cache.call(version, outlook.unit_cost_outlook_at, hist, mversion, metric, dim, value)
    except forecast.ForecastError as exc:
        st.info(f"No forecast for this group: {exc}.")
        return
    month = st.column_config.DateColumn("Month", format="MMM YYYY")
    currency = next((v[0] for d, v in hist.filters if d == C.BillingCurrency), "USD")
    tables.show(fc, currency, key_columns=("month",), key="unit_fc_table", column_config={"month": month})
    st.caption(
        "Cost and volume are forecast separately with the cost forecast's model (weekly and yearly seasonality, "
        "holidays, billing calendar, known launches); a month's unit cost is the ratio of their sums, "
        "its 80 % range the ratio's over the simulated paths."
    )
    tables.downloads(fc, f"unit-cost-forecast-{metric}", "unit_fc_dl")


st.title("Unit economics")
_seed_from_demo()
sel: Selection = st.session_state["selection"]
user = st.session_state["user"]
mv = metrics.versions()
if mv.is_empty():
    st.info("No business metrics yet: load a file below or with `python -m finops_core metrics load FILE`.")
else:
    mversion = int(mv["version"][0])
    options = cost.breakdowns(metrics.current(version=mversion))
    a, b, c = st.columns([2, 2, 2])
    metric = a.selectbox("Metric", list(options), key="unit_metric")
    dim = b.radio("Per", options[metric], format_func=LABELS.__getitem__, horizontal=True, key=f"unit_by_{metric}")
    grain = c.radio("Grain", list(GRAINS), index=2, format_func=GRAINS.__getitem__, horizontal=True, key="unit_grain")
    version = cache.data_version() or ""
    cur = sel.currency
    st.caption(
        f"Allocated {sel.query.metric} (direct plus shared splits) in {cur}, over {metric} from metrics "
        f"version {mversion}; days with both only. "
        + ("" if user.sees_all else "Your teams' cost over the whole product's or company's volume.")
    )
    change = cache.call(version, cost.unit_cost_change_at, sel.query, mversion, metric, dim)
    st.subheader(periods.comparison_label(sel.query.start, sel.query.end, sel.query.comparison()))
    if change.is_empty():
        st.info("No group has both cost and units in this period and the one before.")
    else:
        _tiles(change, dim, metric, cur)
        money = ("cost0", "cost1", "unit_cost0", "unit_cost1", "change", "cost_effect", "volume_effect")
        tables.show(change, cur, key_columns=change.columns[:1], money=money, key="unit_change")
        st.caption(
            "change = cost effect + volume effect, exactly: cost effect = (C1 - C0) / 2 x (1/U0 + 1/U1), "
            "volume effect = (C0 + C1) / 2 x (1/U1 - 1/U0) (docs/unit-economics.md)."
        )
        tables.downloads(change, f"unit-cost-change-{metric}", "unit_change_dl")
    hist = replace(sel.query, start=sel.data_start, end=sel.data_end, grain=grain)
    trend = cache.call(version, cost.unit_costs_at, hist, mversion, metric, dim)
    st.subheader(f"Cost per {metric}, whole history")
    if trend.is_empty():
        st.info("No day has both cost and units for this metric.")
    else:
        st.altair_chart(_trend(trend, dim, metric, cur, grain), width="stretch")
        tables.chart_data(trend, f"unit-cost-{metric}-{grain}", "unit_trend_dl", cur)
        if st.toggle(f"Forecast the cost per {metric} (about 10 s per group)", key="unit_fc"):
            groups = trend.sort("cost", descending=True)[dim].unique(maintain_order=True).to_list() if dim else []
            _forecast(version, hist, mversion, metric, dim, groups)
if user.role in EDITORS:
    _load_section(user.username)
