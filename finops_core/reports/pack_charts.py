"""The pack's charts: Altair specs of a ``pack.Section``'s figures, exported offline with vl-convert
(SVG for the HTML pack, PNG for the PDF). No computation beyond laying the figures out (the
waterfall's running start and end)."""

from __future__ import annotations

import altair as alt
import polars as pl
import vl_convert as vlc

from finops_core.reports.pack import Section
from finops_core.schema import C

WIDTH = 620
SCALE = 2  # PNG pixels per CSS pixel: sharp at A4 width
POS, NEG, TOTAL = "#c0392b", "#2e7d32", "#546e7a"  # a cost increase is bad news


def waterfall(s: Section) -> alt.Chart:
    """The parts of the change as a waterfall from zero to the total change (parts that round to
    zero are left out of the picture only; the table lists all)."""
    v = s.variance
    rows, level = [], 0.0
    for r in v.effects().iter_rows(named=True):
        if abs(r["amount"]) < 0.5:
            continue
        kind = "up" if r["amount"] > 0 else "down"
        rows.append({"label": r["label"].split(" (")[0], "start": level, "end": level + r["amount"], "kind": kind})
        level += r["amount"]
    rows.append({"label": "Total change", "start": 0.0, "end": v.change, "kind": "total"})
    frame = pl.DataFrame(rows).with_row_index("order")
    colour = alt.Color("kind:N", scale=alt.Scale(domain=["total", "up", "down"], range=[TOTAL, POS, NEG]), legend=None)
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("label:N", sort=alt.SortField("order"), title=None, axis=alt.Axis(labelAngle=-30, labelLimit=160)),
            y=alt.Y("start:Q", title=f"change ({s.currency})"),
            y2="end:Q",
            color=colour,
        )
        .properties(
            width=WIDTH, height=200, title=f"Parts of the change, {v.base.label} to {v.current.label} ({s.currency})"
        )
    )
    return chart


def budget_chart(s: Section) -> alt.Chart | None:
    """Budget, actual and forecast (with its 80 % band) of the month, when there are any."""
    rows: list[dict[str, object]] = []
    if s.budget is not None:
        rows += [
            {"what": "Budget (budgeted teams)", "amount": s.budget.budget},
            {"what": "Actual (budgeted teams)", "amount": s.budget.actual},
        ]
    rows.append({"what": "Actual (scope)", "amount": s.variance.current_total})
    if s.forecast is not None:
        f = s.forecast
        rows.append({"what": f"Forecast of {f.as_of:%d %b}", "amount": f.expected, "lo": f.lo80, "hi": f.hi80})
    if len(rows) == 1:
        return None
    data = pl.DataFrame(rows, infer_schema_length=None)
    order = [str(r["what"]) for r in rows]
    bars = (
        alt.Chart(data)
        .mark_bar(color=TOTAL)
        .encode(
            y=alt.Y("what:N", sort=order, title=None), x=alt.X("amount:Q", title=s.currency, axis=alt.Axis(format="~s"))
        )
    )
    band = (
        alt.Chart(data)
        .mark_rule(color="#000", strokeWidth=2)
        .encode(y=alt.Y("what:N", sort=order), x="lo:Q", x2="hi:Q")
    )
    chart: alt.Chart = (bars + band).properties(
        width=WIDTH - 160, height=30 * len(rows), title=f"Budget, actual, forecast ({s.currency})"
    )
    return chart


def showback_chart(s: Section, top: int = 12) -> alt.Chart | None:
    frame = s.showback.head(top)
    if frame.is_empty():
        return None
    long = frame.select(C.x_Team, "direct", "shared").unpivot(index=C.x_Team, variable_name="part", value_name="amount")
    order = frame[C.x_Team].to_list()
    chart: alt.Chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y(f"{C.x_Team}:N", sort=order, title=None, axis=alt.Axis(labelLimit=180)),
            x=alt.X("sum(amount):Q", title=s.currency, axis=alt.Axis(format="~s")),
            color=alt.Color(
                "part:N",
                scale=alt.Scale(domain=["direct", "shared"], range=[TOTAL, "#90a4ae"]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
        )
        .properties(
            width=WIDTH - 200, height=18 * frame.height, title=f"Showback, top {frame.height} teams ({s.currency})"
        )
    )
    return chart


def contributors_chart(s: Section, dim: str = "service") -> alt.Chart | None:
    frame = s.contributors[dim].filter(pl.col("change").abs() >= 0.5)
    if frame.is_empty():
        return None
    col = frame.columns[0]
    rows = [
        {"name": str(r[col] if r[col] is not None else "(not set)"), "change": r["change"]}
        for r in frame.iter_rows(named=True)
    ]
    order = [r["name"] for r in rows]
    chart: alt.Chart = (
        alt.Chart(pl.DataFrame(rows))
        .mark_bar()
        .encode(
            y=alt.Y("name:N", sort=order, title=None, axis=alt.Axis(labelLimit=200)),
            x=alt.X(
                "change:Q",
                title=f"change ({s.currency})",
                scale=alt.Scale(domain=_with_zero(rows, "change")),
                axis=alt.Axis(format="~s"),
            ),
            color=alt.condition(alt.datum.change > 0, alt.value(POS), alt.value(NEG)),
        )
        .properties(width=WIDTH - 220, height=22 * len(rows), title=f"Largest moves by {dim} ({s.currency})")
    )
    return chart


def _with_zero(rows: list[dict[str, object]], field: str) -> list[float]:
    """An axis domain that holds zero, where every bar starts."""
    values = [float(r[field]) for r in rows]  # type: ignore[arg-type]
    return [min(0.0, *values), max(0.0, *values)]


def charts(s: Section) -> list[tuple[str, alt.Chart]]:
    """(caption, chart) for the section, in the order the pack shows them."""
    out: list[tuple[str, alt.Chart | None]] = [
        ("Variance decomposition (T1)", waterfall(s)),
        ("Top contributors by service (T2)", contributors_chart(s)),
        ("Budget vs actual vs forecast (T3, T4)", budget_chart(s)),
        ("Showback per team (T5)", showback_chart(s)),
    ]
    return [(caption, chart) for caption, chart in out if chart is not None]


def svg(chart: alt.Chart) -> str:
    return str(vlc.vegalite_to_svg(chart.to_json(), vl_version="6.4"))


def png(chart: alt.Chart) -> bytes:
    return bytes(vlc.vegalite_to_png(chart.to_json(), scale=SCALE, vl_version="6.4"))
