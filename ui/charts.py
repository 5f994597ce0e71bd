"""Frames to Altair charts. No computation here: the frames come from finops_core as they are."""

from __future__ import annotations

import altair as alt
import polars as pl

from finops_core.drilldown import PERIOD
from finops_core.query import OTHER
from finops_core.schema import label
from ui.format import SYMBOLS, header

HEIGHT = 340
# Okabe & Ito's palette: tells groups apart under the common colour-vision deficiencies
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
OTHER_COLOUR = "#B8BEC6"


def _money_axis(metric: str, currency: str) -> alt.Axis:
    symbol = SYMBOLS.get(currency, "")
    return alt.Axis(
        title=f"{header(metric)} ({currency})",
        format=f"{symbol},.2~s" if symbol else ",.2~s",
        labelFontSize=13,
        titleFontSize=13,
    )


def _order(frame: pl.DataFrame, dim: str, metric: str) -> list[str]:
    totals = frame.group_by(dim).agg(pl.col(metric).sum()).sort(metric, descending=True)
    names = [n for n in totals[dim].to_list() if n != OTHER]
    return names + ([OTHER] if OTHER in totals[dim].to_list() else [])


def _palette(order: list[str]) -> alt.Scale:
    """Okabe-Ito colours (distinguishable with the common colour-vision deficiencies); Other grey."""
    colours = [PALETTE[i % len(PALETTE)] for i in range(len([n for n in order if n != OTHER]))]
    return alt.Scale(domain=order, range=colours + ([OTHER_COLOUR] if OTHER in order else []))


def stacked_time(
    frame: pl.DataFrame,
    dim: str | None,
    metric: str,
    currency: str,
    grain: str,
    title: str = "",
    partial: list[object] | None = None,
    time_axis: bool = False,
) -> alt.Chart:
    """Stacked bars of ``metric`` per period, coloured by ``dim`` (largest group at the bottom).
    ``time_axis``: days on a time axis even over a month or less (to layer a forecast on it).

    ``partial``: bucket starts covering only part of their week or month, drawn faded (not as dips)."""
    unit = {"day": "yearmonthdate", "week": "yearmonthdate", "month": "yearmonth"}[grain]
    x = alt.X(f"{unit}({PERIOD}):T", title=None, axis=alt.Axis(labelFontSize=13, labelAngle=0))
    # a band per week (on a time axis a week's bar is a day wide), and per day over a month or less
    # (a time axis then repeats a day's label and adds a tick for the day after the data)
    if grain == "week" or (grain == "day" and not time_axis and frame[PERIOD].n_unique() <= 31):
        x = alt.X(
            f"{unit}({PERIOD}):O",
            title=None,
            axis=alt.Axis(
                labelFontSize=13, labelAngle=0, labelOverlap=True, labelExpr="timeFormat(datum.value, '%d %b')"
            ),
        )
    y = alt.Y(f"{metric}:Q", axis=_money_axis(metric, currency), stack="zero")
    tooltip = [
        alt.Tooltip(f"{unit}({PERIOD}):T", title=f"{grain.title()} of" if grain == "week" else grain.title()),
        alt.Tooltip(f"{metric}:Q", format=",.0f", title=f"{label(metric)} ({currency})"),
    ]
    frame = frame.with_columns(pl.col(PERIOD).is_in(partial or []).alias("_partial"))
    opacity = alt.condition("datum._partial", alt.value(0.35), alt.value(1.0))
    chart = alt.Chart(frame).mark_bar()
    if dim:
        order = _order(frame, dim, metric)
        color = alt.Color(
            f"{dim}:N",
            title=label(dim),
            sort=order,
            scale=_palette(order),
            legend=alt.Legend(orient="bottom", columns=2, labelFontSize=13, titleFontSize=13, labelLimit=0),
        )
        tooltip.insert(1, alt.Tooltip(f"{dim}:N", title=label(dim)))
        chart = chart.encode(
            x=x, y=y, color=color, opacity=opacity, order=alt.Order("_rank:Q", sort="ascending"), tooltip=tooltip
        )
        chart = chart.transform_calculate(_rank=f"indexof({order!r}, datum['{dim}'])")
    else:
        chart = chart.encode(x=x, y=y, opacity=opacity, tooltip=tooltip, color=alt.value(PALETTE[0]))
    legend_rows = (frame[dim].n_unique() + 1) // 2 + 2 if dim else 0  # the legend fits inside ``height``
    return chart.properties(height=HEIGHT + 20 * legend_rows, title=title)


def with_forecast(bars: alt.Chart, frame: pl.DataFrame, currency: str) -> alt.LayerChart:
    """``bars`` (a daily ``stacked_time``) with the forecast after the last day: dashed yhat, 80 %
    band. ``frame``: day, yhat, lo80, hi80 (``outlook.daily_view`` rows after the actuals)."""
    x = alt.X("yearmonthdate(day):T", title=None)
    base = alt.Chart(frame)
    band = base.mark_area(opacity=0.2, color=PALETTE[0]).encode(x=x, y="lo80:Q", y2="hi80:Q")
    line = base.mark_line(strokeDash=[6, 4], strokeWidth=2, color="#1b2430").encode(
        x=x,
        y="yhat:Q",
        tooltip=[
            alt.Tooltip("day:T", title="Day"),
            alt.Tooltip("yhat:Q", format=",.0f", title=f"Forecast ({currency})"),
            alt.Tooltip("lo80:Q", format=",.0f", title="80 % low"),
            alt.Tooltip("hi80:Q", format=",.0f", title="80 % high"),
        ],
    )
    return alt.layer(bars, band, line)


def breakdown_bars(
    frame: pl.DataFrame, dim: str, metric: str, currency: str, title: str = "", second: str | None = None
) -> alt.Chart:
    """Horizontal bars per group, largest first, ``Other`` last, labelled with share; stacked by
    ``second`` when given. Clicking a bar selects its ``dim`` value (selection ``pick``)."""
    totals = frame.group_by(dim).agg(pl.col(metric).sum(), pl.col("share").sum())
    order = [v for v in totals.sort(metric, descending=True)[dim].to_list() if v != OTHER]
    order += [OTHER] if OTHER in totals[dim].to_list() else []
    pick = alt.selection_point(name="pick", fields=[dim], on="click", clear="dblclick")
    tips = [
        alt.Tooltip(f"{dim}:N", title=label(dim)),
        alt.Tooltip(f"{metric}:Q", format=",.0f", title=f"{label(metric)} ({currency})"),
        alt.Tooltip("share:Q", format=".1%", title="Share"),
    ]
    y = alt.Y(f"{dim}:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13, labelLimit=280))
    x = alt.X(f"{metric}:Q", axis=_money_axis(metric, currency))
    if second:
        seconds = _order(frame, second, metric)
        colour = alt.Color(
            f"{second}:N",
            title=label(second),
            sort=seconds,
            scale=_palette(seconds),
            legend=alt.Legend(orient="bottom", columns=1, labelLimit=0),
        )
        bars = (
            alt.Chart(frame)
            .mark_bar()
            .encode(
                y=y, x=x, color=colour, tooltip=[tips[0], alt.Tooltip(f"{second}:N", title=label(second)), *tips[1:]]
            )
        )
        shares = (
            alt.Chart(frame)
            .transform_aggregate(total=f"sum({metric})", share="sum(share)", groupby=[dim])
            .mark_text(align="left", dx=4, fontSize=13)
            .encode(y=y, x=alt.X("total:Q"), text=alt.Text("share:Q", format=".1%"))
        )
        chart: alt.Chart | alt.LayerChart = bars.add_params(pick) + shares
    else:
        base = alt.Chart(frame).encode(y=y, x=x, tooltip=tips)
        bars = base.mark_bar(color=PALETTE[0]).add_params(pick)
        text = base.mark_text(align="left", dx=4, fontSize=13).encode(text=alt.Text("share:Q", format=".1%"))
        chart = bars + text
    # Streamlit fits the whole chart, legend included, into ``height``: leave the legend its rows
    legend_rows = len(_order(frame, second, metric)) + 3 if second else 0
    return chart.properties(height=max(160, 34 * len(order)) + 20 * legend_rows, title=title)


def trend_lines(frame: pl.DataFrame, y: str, color: str | None, title: str, percent: bool = True) -> alt.Chart:
    """Monthly lines of ``y`` (a ratio when ``percent``), one per ``color`` value."""
    enc: dict[str, object] = {
        "x": alt.X("yearmonth(period):T", title=None, axis=alt.Axis(labelFontSize=13)),
        "y": alt.Y(
            f"{y}:Q",
            title=title,
            axis=alt.Axis(format=".1%" if percent else ",.2~s", labelFontSize=13),
            scale=alt.Scale(zero=False),
        ),
        "tooltip": [
            alt.Tooltip("yearmonth(period):T", title="Month"),
            alt.Tooltip(f"{y}:Q", format=".1%" if percent else ",.2f", title=title),
        ],
    }
    if color:
        enc["color"] = alt.Color(
            f"{color}:N", title=None, legend=alt.Legend(orient="bottom", labelFontSize=13, labelLimit=0, columns=1)
        )
        enc["tooltip"] = [*enc["tooltip"], alt.Tooltip(f"{color}:N")]
    rows = frame[color].n_unique() + 1 if color else 0  # the legend is drawn inside the height
    return (
        alt.Chart(frame).mark_line(point=True, strokeWidth=2.5).encode(**enc).properties(height=HEIGHT - 40 + 20 * rows)
    )


def timeline(frame: pl.DataFrame, as_of: object) -> alt.Chart:
    """Commitment terms as bars from start to end, with a rule at ``as_of``; red when flagged."""
    bars = (
        alt.Chart(frame)
        .mark_bar(height=18, cornerRadius=3)
        .encode(
            x=alt.X("term_start:T", title=None, axis=alt.Axis(labelFontSize=13)),
            x2="term_end:T",
            y=alt.Y(
                "CommitmentDiscountName:N",
                title=None,
                sort=alt.EncodingSortField("term_end"),
                axis=alt.Axis(labelFontSize=13, labelLimit=320),
            ),
            color=alt.condition("datum.flags != ''", alt.value("#c23b5a"), alt.value("#1f5fae")),
            tooltip=["CommitmentDiscountName:N", "term_start:T", "term_end:T", "days_to_expiry:Q", "flags:N"],
        )
    )
    rule = alt.Chart(pl.DataFrame({"today": [as_of]})).mark_rule(color="#1b2430", strokeDash=[4, 3]).encode(x="today:T")
    title = alt.TitleParams(
        "Commitment terms (red: expiring, expired or under-used; dashed: the last day of data)", anchor="start"
    )
    return (bars + rule).properties(height=max(160, 34 * frame.height), title=title)


def curve(frame: pl.DataFrame, x: str, y: str, best: float, currency: str) -> alt.Chart:
    """Net savings against the size of a commitment, with the best size marked."""
    line = (
        alt.Chart(frame)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=alt.X(
                f"{x}:Q", title=f"Commitment per day ({currency}, at commitment rates)", axis=alt.Axis(format=",.0f")
            ),
            y=alt.Y(f"{y}:Q", title=f"Net savings per month ({currency})", axis=alt.Axis(format=",.0f")),
        )
    )
    rule = alt.Chart(pl.DataFrame({x: [best]})).mark_rule(color="#c23b5a").encode(x=f"{x}:Q")
    return (line + rule).properties(height=HEIGHT - 60)


def anomaly_band(frame: pl.DataFrame, currency: str, start: object, end: object) -> alt.Chart:
    """Actual daily cost against the expected value and its band; the anomaly's days shaded."""
    x = alt.X("day:T", title=None, axis=alt.Axis(labelFontSize=13))
    money = alt.Axis(format=",.0f", labelFontSize=13, title=f"Cost per day ({currency})")
    band = (
        alt.Chart(frame)
        .mark_area(opacity=0.18, color="#1f5fae")
        .encode(x=x, y=alt.Y("lower:Q", axis=money), y2="upper:Q")
    )
    expected = alt.Chart(frame).mark_line(strokeDash=[5, 4], color="#1f5fae").encode(x=x, y="expected:Q")
    actual = (
        alt.Chart(frame)
        .mark_line(color="#c23b5a", strokeWidth=2.5, point=True)
        .encode(
            x=x,
            y="cost:Q",
            tooltip=[
                alt.Tooltip("day:T"),
                alt.Tooltip("cost:Q", format=",.2f", title="actual"),
                alt.Tooltip("expected:Q", format=",.2f"),
            ],
        )
    )
    window = (
        alt.Chart(pl.DataFrame({"start": [start], "end": [end]}))
        .mark_rect(opacity=0.08, color="#c23b5a")
        .encode(x="start:T", x2="end:T")
    )
    return (window + band + expected + actual).properties(height=HEIGHT)


def forecast_band(frame: pl.DataFrame, currency: str, title: str, budget: float | None = None) -> alt.Chart:
    """Actual (solid) and forecast (dashed) with 95 % and 80 % bands; a red rule at ``budget``.

    ``frame``: day, actual (null after the as-of day), yhat, lo95, lo80, hi80, hi95 (null before it)."""
    x = alt.X("day:T", title=None, axis=alt.Axis(labelFontSize=13))
    money = alt.Axis(format=",.0f", labelFontSize=13, title=f"{title} ({currency})")
    base = alt.Chart(frame)
    band95 = base.mark_area(opacity=0.13, color="#1f5fae").encode(x=x, y=alt.Y("lo95:Q", axis=money), y2="hi95:Q")
    band80 = base.mark_area(opacity=0.22, color="#1f5fae").encode(x=x, y="lo80:Q", y2="hi80:Q")
    tips = [alt.Tooltip("day:T")] + [
        alt.Tooltip(f"{c}:Q", format=",.0f") for c in ("actual", "yhat", "lo80", "hi80", "lo95", "hi95")
    ]
    yhat = base.mark_line(strokeDash=[6, 4], color="#1f5fae", strokeWidth=2).encode(x=x, y="yhat:Q", tooltip=tips)
    actual = base.mark_line(color="#1b2430", strokeWidth=2.5).encode(x=x, y="actual:Q", tooltip=tips)
    layers = band95 + band80 + yhat + actual
    if budget is not None:
        rule = alt.Chart(pl.DataFrame({"budget": [budget]})).mark_rule(color="#c23b5a", strokeWidth=2)
        layers = layers + rule.encode(y="budget:Q", tooltip=[alt.Tooltip("budget:Q", format=",.0f")])
    return layers.properties(height=HEIGHT)


RECONCILIATION_COLOURS = {  # blue for good, orange for bad, grey for not yet: readable without red/green
    "ties": "#1f5fae",
    "within tolerance": "#8fb3e0",
    "off": "#d95f02",
    "invoice without rows": "#a6361c",
    "rows without invoice": "#e6ab02",
    "month still open": "#c8ccd2",
    "no invoice totals": "#e8eaed",
}


def reconciliation_grid(frame: pl.DataFrame) -> alt.Chart:
    """Billing account (and currency) x month, each cell coloured by its reconciliation status."""
    data = frame.with_columns(
        (
            pl.col("billing_account_name").fill_null(pl.col("billing_account_id")) + " (" + pl.col("currency") + ")"
        ).alias("account")
    ).select("account", "billing_period", "status", "invoice", "billed", "variance", "unexplained", "explanation")
    statuses = [s for s in RECONCILIATION_COLOURS if s in set(data["status"].to_list())]
    return (
        alt.Chart(data.to_arrow())
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=alt.X("billing_period:O", title=None, axis=alt.Axis(labelAngle=-45, labelFontSize=12)),
            y=alt.Y("account:N", title=None, axis=alt.Axis(labelFontSize=12, labelLimit=260)),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=statuses, range=[RECONCILIATION_COLOURS[s] for s in statuses]),
                legend=alt.Legend(title="Status", orient="bottom", columns=4, labelLimit=200),
            ),
            tooltip=[
                alt.Tooltip("account:N", title="Billing account"),
                alt.Tooltip("billing_period:O", title="Month"),
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("invoice:Q", format=",.2f", title="Invoice"),
                alt.Tooltip("billed:Q", format=",.2f", title="Billed"),
                alt.Tooltip("variance:Q", format=",.2f", title="Variance"),
                alt.Tooltip("unexplained:Q", format=",.2f", title="Unexplained"),
                alt.Tooltip("explanation:N", title="Explained by"),
            ],
        )
        .properties(height=alt.Step(26), title="Invoice reconciliation by billing account and month")
    )
