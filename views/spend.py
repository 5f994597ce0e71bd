"""Spend: what did we spend, on what, and what moved? Drill from category down to line items."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import streamlit as st

from finops_core import drilldown, periods
from finops_core.query import CostQuery
from finops_core.schema import C
from ui import cache, drill, saved, tables, trend
from ui.filters import Selection
from ui.format import money, percent

TOP_N = 8
PAGE_SIZE = 50


def _key(q: CostQuery) -> str:
    return repr(q)


def _tiles(version: str, q: CostQuery, sel: Selection) -> float:
    currency = sel.currency
    cur = cache.total(version, _key(q), q)
    prev_q = sel.before(q)
    prev = cache.total(version, _key(prev_q), prev_q)
    rate = cache.run_rate(version, _key(q), q)
    now = float(cur[q.metric].sum()) if cur.height else 0.0
    before = float(prev[q.metric].sum()) if prev.height else 0.0
    delta = now - before
    a, b, c, d = st.columns(4)
    a.metric(f"Total, {periods.label(q.start, q.end)}", money(now, currency), border=True)
    b.metric(
        f"vs {periods.label(prev_q.start, prev_q.end)}",
        money(delta, currency),
        delta=percent(delta / abs(before)) if abs(before) > 1e-9 else "no prior spend",
        delta_color="inverse",
        border=True,
        help=f"{sel.comparison_label(q)}: {money(before, currency)} before.",
    )
    if rate.height:
        row = rate.row(0, named=True)
        c.metric(
            f"{q.end:%B} run-rate",
            money(row["projected"], currency),
            border=True,
            help=f"Month to date {money(row['mtd'], currency)} after {row['days_elapsed']} of "
            f"{row['days_in_month']} days; usage-based charges extrapolated, fixed fees counted once.",
        )
    d.metric("Daily average", money(now / q.days, currency), border=True)
    return now


def _switch_currency(currency: str) -> None:
    st.session_state["f_currency"] = currency


def _other_currencies(version: str, q: CostQuery, currency: str) -> None:
    """Spend of this selection billed in other currencies: named, never added to this one."""
    everywhere = replace(q, filters=tuple((d, v) for d, v in q.filters if d != C.BillingCurrency))
    totals = cache.total(version, _key(everywhere), everywhere)
    others = totals.filter((pl.col(C.BillingCurrency) != currency) & (pl.col(q.metric).abs() >= 0.5))
    for other, amount in others.select(C.BillingCurrency, q.metric).iter_rows():
        with st.container(horizontal=True, vertical_alignment="center"):
            st.info(
                f"Also {money(amount, other)} billed in {other} in this selection, not included above "
                "(currencies are never added together).",
                icon=":material/currency_exchange:",
            )
            st.button(f"Switch to {other}", key=f"cur_{other}", on_click=_switch_currency, args=(other,))


def _movers(version: str, q: CostQuery, group_by: str, sel: Selection, path: list[tuple[str, str]]) -> None:
    currency = sel.currency
    st.subheader(f"Top movers by {drill.dimension_label(group_by).lower()}")
    before = sel.before(q)
    fees = periods.month_starts(q.start, q.end), periods.month_starts(before.start, before.end)
    warn = (
        f" This period holds {fees[0]} month start(s) and the comparison {fees[1]}: monthly fees charged "
        "on the 1st show up as movers. Pick a calendar period (month to date, last month) to avoid that."
        if fees[0] != fees[1]
        else ""
    )
    st.caption(f"{sel.comparison_label(q)}; select a row to drill into it.{warn}")
    frame = cache.movers(version, repr((q, before)), q, group_by, before).drop(C.BillingCurrency)
    event = tables.show(
        frame,
        currency,
        key_columns=(group_by,),
        first=("delta", "delta_pct", "current", "previous"),
        on_select="rerun",
        selection_mode="single-row",
        key=f"movers_{group_by}_{hash(tuple(path))}",
    )
    tables.downloads(frame, f"movers-by-{group_by}", "movers")
    rows = event.selection.rows if event and event.selection else []  # type: ignore[attr-defined]
    if rows:
        drill.drill(path, group_by, str(frame[group_by][rows[0]]))


def _line_items(version: str, q: CostQuery, currency: str, path: list[tuple[str, str]]) -> None:
    st.subheader("Line items")
    where = " › ".join(v for _, v in path) or "all spend in the period"
    try:
        page = max(0, int(st.query_params.get("p_page", "0")))
    except ValueError:
        page = 0
    frame, count = cache.line_items(version, _key(q), q, page, PAGE_SIZE)
    pages = max(1, -(-count // PAGE_SIZE))
    page = min(page, pages - 1)
    st.caption(f"{count:,} FOCUS rows for {where}, largest {q.metric} first. Page {page + 1} of {pages:,}.")
    prev_col, next_col, _ = st.columns([1, 1, 6])
    if prev_col.button("‹ Previous", disabled=page == 0, key="li_prev"):
        st.query_params["p_page"] = str(page - 1)
        st.rerun()
    if next_col.button("Next ›", disabled=page >= pages - 1, key="li_next"):
        st.query_params["p_page"] = str(page + 1)
        st.rerun()
    tables.show(
        frame, currency, key_columns=(C.ResourceId,), first=(C.EffectiveCost, C.BilledCost, C.ServiceName, C.x_Team)
    )
    tables.downloads(frame, f"line-items-page-{page + 1}", "lines")


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    q = sel.query
    tag_keys = cache.call(version, drilldown.tag_keys, q)
    path = drill.path(tag_keys)
    for dim, value in path:
        q = q.with_filter(dim, (value,))
    st.title("Spend")
    saved.panel(st.session_state["user"])
    drill.breadcrumb(path)
    now = _tiles(version, q, sel)
    _other_currencies(version, q, sel.currency)
    if abs(now) < 1e-9 and cache.total(version, _key(q), q).is_empty():
        st.info(
            f"No {sel.currency} costs match these filters between {q.start} and {q.end}. "
            "Try a longer period or remove a filter."
        )
        return
    group_by, second = drill.grouping(tag_keys)
    trend.section(version, q, sel, group_by, second, path, TOP_N)
    _movers(version, q, group_by, sel, path)
    # a collapsed expander still runs its body, so the period's raw rows are read only once the user
    # asks for them; drilled in, they show at once
    if path or st.toggle("Show line items for all spend in the period", key="li_all"):
        _line_items(version, q, sel.currency, path)


render(st.session_state["selection"])
