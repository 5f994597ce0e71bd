"""Frames to Altair charts. No computation here: the frames come from finops_core as they are."""

from __future__ import annotations

import altair as alt
import polars as pl

from finops_core.drilldown import PERIOD
from finops_core.query import OTHER
from finops_core.schema import label
from ui.format import SYMBOLS

HEIGHT = 340


def _money_axis(metric: str, currency: str) -> alt.Axis:
    symbol = SYMBOLS.get(currency, "")
    return alt.Axis(
        title=f"{metric} ({currency})",
        format=f"{symbol},.2~s" if symbol else ",.2~s",
        labelFontSize=13,
        titleFontSize=13,
    )


def _order(frame: pl.DataFrame, dim: str, metric: str) -> list[str]:
    totals = frame.group_by(dim).agg(pl.col(metric).sum()).sort(metric, descending=True)
    names = [n for n in totals[dim].to_list() if n != OTHER]
    return names + ([OTHER] if OTHER in totals[dim].to_list() else [])


def stacked_time(frame: pl.DataFrame, dim: str | None, metric: str, currency: str, grain: str) -> alt.Chart:
    """Stacked bars of ``metric`` per period, coloured by ``dim`` (largest group at the bottom)."""
    unit = {"day": "yearmonthdate", "week": "yearmonthdate", "month": "yearmonth"}[grain]
    x = alt.X(f"{unit}({PERIOD}):T", title=None, axis=alt.Axis(labelFontSize=13, labelAngle=0))
    y = alt.Y(f"{metric}:Q", axis=_money_axis(metric, currency), stack="zero")
    tooltip = [
        alt.Tooltip(f"{unit}({PERIOD}):T", title=grain.title()),
        alt.Tooltip(f"{metric}:Q", format=",.2f", title=f"{metric} ({currency})"),
    ]
    chart = alt.Chart(frame).mark_bar()
    if dim:
        order = _order(frame, dim, metric)
        color = alt.Color(
            f"{dim}:N",
            title=label(dim),
            sort=order,
            legend=alt.Legend(orient="bottom", columns=3, labelFontSize=13, titleFontSize=13, labelLimit=230),
        )
        tooltip.insert(1, alt.Tooltip(f"{dim}:N", title=label(dim)))
        chart = chart.encode(x=x, y=y, color=color, order=alt.Order("_rank:Q", sort="ascending"), tooltip=tooltip)
        chart = chart.transform_calculate(_rank=f"indexof({order!r}, datum['{dim}'])")
    else:
        chart = chart.encode(x=x, y=y, tooltip=tooltip)
    return chart.properties(height=HEIGHT)


def breakdown_bars(frame: pl.DataFrame, dim: str, metric: str, currency: str) -> alt.Chart:
    """Horizontal bars per group, largest first, ``Other`` last, labelled with share."""
    order = frame[dim].to_list()
    base = alt.Chart(frame).encode(
        y=alt.Y(f"{dim}:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13, labelLimit=280)),
        x=alt.X(f"{metric}:Q", axis=_money_axis(metric, currency)),
        tooltip=[
            alt.Tooltip(f"{dim}:N", title=label(dim)),
            alt.Tooltip(f"{metric}:Q", format=",.2f", title=f"{metric} ({currency})"),
            alt.Tooltip("share:Q", format=".1%", title="Share"),
        ],
    )
    bars = base.mark_bar(color="#1f5fae")
    text = base.mark_text(align="left", dx=4, fontSize=13).encode(text=alt.Text("share:Q", format=".1%"))
    return (bars + text).properties(height=max(160, 34 * len(order)))
