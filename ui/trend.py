"""The Spend page's trend and breakdown: stacked bars per day/week/month with partial buckets
faded and an optional forecast overlay, and the breakdown bars (by one or two dimensions) whose
bars drill when clicked."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import polars as pl
import streamlit as st

from finops_core import drilldown, events, forecast, outlook, periods
from finops_core.query import OTHER, CostQuery, QueryError
from finops_core.schema import C
from ui import cache, charts, drill, tables
from ui.filters import Selection
from ui.format import compact, day

GRAINS = ("day", "week", "month")


def _grain(q: CostQuery) -> str:
    default = "day" if q.days <= 62 else "week" if q.days <= 200 else "month"
    param = st.query_params.get("p_grain", default)
    return param if param in GRAINS else default


def _forecast_frame(version: str, q: CostQuery, sel: Selection) -> tuple[pl.DataFrame | None, str]:
    """The daily forecast after the last data day for this selection (history: all of it), and a note."""
    history = replace(q, start=sel.data_start, end=sel.data_end, group_by=())
    last = sel.data_end
    until = periods.month_end(last if last != periods.month_end(last) else last + timedelta(days=1))
    try:
        fc = cache.call(version, outlook.scope_forecast, history, until, events.load())
    except (forecast.ForecastError, QueryError, events.EventsError) as exc:
        return None, f"No forecast for this selection: {exc}."
    rest = outlook.daily_view(fc, days_back=0).filter(pl.col("day") > last)
    total = float(rest["yhat"].sum())
    return rest, (
        f"Dashed: forecast to {day(until)} ({compact(total, sel.currency)} more), shaded: its 80 % band; "
        "from the Forecast page's model over this selection's whole history."
    )


def _partial_note(q: CostQuery, grain: str) -> tuple[list[object], str]:
    cut = [(s, inside, length) for s, inside, length in periods.buckets(q.start, q.end, grain) if inside < length]
    if not cut:
        return [], ""
    parts = ", ".join(f"the {grain} of {day(s)} ({inside} of {length} days)" for s, inside, length in cut)
    return [s for s, _, _ in cut], f"Faded: {parts} in the period; partial {grain}s, not dips."


def section(
    version: str, q: CostQuery, sel: Selection, group_by: str, second: str, path: list[tuple[str, str]], top_n: int
) -> None:
    left, mid = st.columns([1, 1])
    grain = left.selectbox("Time grain", GRAINS, index=GRAINS.index(_grain(q)), key="p_grain_pick")
    if grain != st.query_params.get("p_grain", grain):
        st.query_params["p_grain"] = grain
    can_forecast = q.end == sel.data_end and grain == "day"
    overlay = mid.toggle(
        "Forecast on the trend",
        value=st.query_params.get("p_fc") == "1",
        disabled=not can_forecast,
        help="Daily grain, for a period that ends on the last day with data.",
        key="p_fc_toggle",
    )
    if overlay != (st.query_params.get("p_fc") == "1"):
        st.query_params["p_fc"] = "1" if overlay else "0"
    tq = replace(q, grain=grain)
    series = cache.timeseries(version, repr(tq), tq, group_by, top_n)
    partial, partial_note = _partial_note(q, grain)
    title = f"{sel.currency} {grain}ly spend by {drill.dimension_label(group_by).lower()}".replace("dayly", "daily")
    chart_col, bar_col = st.columns([3, 2])
    with chart_col:
        layered = overlay and can_forecast
        chart = charts.stacked_time(series, group_by, q.metric, sel.currency, grain, title, partial, layered)
        note = partial_note
        if layered:
            frame, fc_note = _forecast_frame(version, q, sel)
            chart = charts.with_forecast(chart, frame, sel.currency) if frame is not None else chart
            note = f"{note} {fc_note}".strip()
        st.altair_chart(chart, width="stretch")
        if note:
            st.caption(note)
        tables.chart_data(series.drop(C.BillingCurrency), f"spend-by-{group_by}-per-{grain}", "ts", sel.currency)
    with bar_col:
        _bars(version, q, sel, group_by, second, path, top_n)


def _bars(
    version: str, q: CostQuery, sel: Selection, group_by: str, second: str, path: list[tuple[str, str]], top_n: int
) -> None:
    by = drill.dimension_label(group_by).lower()
    if second:
        parts = cache.call(version, drilldown.breakdown2, q, group_by, second, top_n)
        title = f"{by.capitalize()} split by {drill.dimension_label(second).lower()}"
    else:
        parts = cache.breakdown(version, repr(q), q, group_by, top_n)
        title = f"Share of spend by {by}"
    event = st.altair_chart(
        charts.breakdown_bars(parts, group_by, q.metric, sel.currency, title, second or None),
        width="stretch",
        on_select="rerun",
        key=f"bars_{group_by}_{second}_{hash(tuple(path))}",
    )
    picked = [p.get(group_by) for p in (event.selection.get("pick") or [])] if event else []  # type: ignore[union-attr]
    tables.chart_data(parts.drop(C.BillingCurrency), f"breakdown-by-{group_by}", "bd", sel.currency)
    biggest = (
        parts.group_by(group_by).agg(pl.col(q.metric).sum(), pl.col("share").sum()).sort(q.metric, descending=True)
    )
    st.caption(
        f"Biggest: {biggest[group_by][0]} at {compact(float(biggest[q.metric][0]), sel.currency)} "
        f"({float(biggest['share'][0]):.0%} of the total). Click a bar to drill into it."
    )
    if picked and picked[0] not in (None, OTHER):
        drill.drill(path, group_by, str(picked[0]))
