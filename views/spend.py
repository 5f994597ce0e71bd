"""Spend: what did we spend, on what, and what moved? Drill from category down to line items."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import streamlit as st

from finops_core import periods
from finops_core.query import CostQuery
from finops_core.schema import C, label
from ui import cache, charts, tables
from ui.filters import Selection
from ui.format import compact, money, percent

DRILL_ORDER = (C.ServiceCategory, C.ServiceName, C.SubAccountName, C.RegionId, C.ResourceId)
GROUP_CHOICES = (
    C.ServiceCategory,
    C.ServiceName,
    C.ProviderName,
    C.BillingAccountName,
    C.SubAccountName,
    C.RegionId,
    C.ChargeCategory,
    C.PricingCategory,
    C.x_Team,
    C.x_Product,
    C.x_Environment,
    C.x_CostCenter,
    C.x_AllocationRule,
    C.ResourceId,
)
TOP_N = 8
PAGE_SIZE = 50


def _path() -> list[tuple[str, str]]:
    out = []
    for item in st.query_params.get_all("p_path"):
        dim, _, value = item.partition("=")
        if dim in GROUP_CHOICES:
            out.append((dim, value))
    return out


def _set_path(path: list[tuple[str, str]], group_by: str) -> None:
    st.query_params["p_path"] = [f"{d}={v}" for d, v in path]
    st.query_params["p_by"] = group_by
    st.query_params["p_page"] = "0"


def _next_dimension(path: list[tuple[str, str]], current: str) -> str:
    used = {d for d, _ in path} | {current}
    return next((d for d in DRILL_ORDER if d not in used), C.ResourceId)


def _key(q: CostQuery) -> str:
    return repr(q)


def _breadcrumb(path: list[tuple[str, str]]) -> None:
    with st.container(horizontal=True, gap="small"):
        if st.button("All spend", key="crumb_all", disabled=not path):
            _set_path([], DRILL_ORDER[0])
            st.rerun()
        for i, (dim, value) in enumerate(path):
            if st.button(f"› {value}", key=f"crumb_{i}", help=label(dim), disabled=i == len(path) - 1):
                _set_path(path[: i + 1], _next_dimension(path[: i + 1], dim))
                st.rerun()


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
    st.subheader(f"Top movers by {label(group_by).lower()}")
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
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        column_config=tables.money_config(frame, currency) | {group_by: label(group_by)},
        key=f"movers_{group_by}_{hash(tuple(path))}",
    )
    tables.downloads(frame, f"movers-by-{group_by}", "movers")
    rows = event.selection.rows if event and event.selection else []
    if rows:
        value = str(frame[group_by][rows[0]])
        if (group_by, value) not in path:
            new_path = [*path, (group_by, value)]
            _set_path(new_path, _next_dimension(new_path, group_by))
            st.rerun()


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
    st.dataframe(frame, hide_index=True, width="stretch", column_config=tables.money_config(frame, currency))
    tables.downloads(frame, f"line-items-page-{page + 1}", "lines")


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    path = _path()
    group_by = st.query_params.get("p_by", DRILL_ORDER[0])
    if group_by not in GROUP_CHOICES:
        group_by = DRILL_ORDER[0]
    q = sel.query
    for dim, value in path:
        q = q.with_filter(dim, (value,))
    st.title("Spend")
    _breadcrumb(path)
    now = _tiles(version, q, sel)
    _other_currencies(version, q, sel.currency)
    if abs(now) < 1e-9 and cache.total(version, _key(q), q).is_empty():
        st.info(
            f"No {sel.currency} costs match these filters between {q.start} and {q.end}. "
            "Try a longer period or remove a filter."
        )
        return
    left, mid, right = st.columns([3, 2, 2])
    chosen = left.selectbox("Group by", GROUP_CHOICES, index=GROUP_CHOICES.index(group_by), format_func=label)
    if chosen != group_by:
        st.query_params["p_by"] = chosen
        group_by = chosen
    grains = ("day", "week", "month")
    default_grain = "day" if q.days <= 62 else "week" if q.days <= 200 else "month"
    grain_param = st.query_params.get("p_grain", default_grain)
    grain = mid.selectbox("Time grain", grains, index=grains.index(grain_param) if grain_param in grains else 0)
    if grain != grain_param:
        st.query_params["p_grain"] = grain
    right.caption(f"Top {TOP_N} groups shown; the rest fold into Other.")
    tq = replace(q, grain=grain)
    series = cache.timeseries(version, _key(tq), tq, group_by, TOP_N)
    chart_col, bar_col = st.columns([3, 2])
    with chart_col:
        st.altair_chart(charts.stacked_time(series, group_by, q.metric, sel.currency, grain), width="stretch")
        tables.chart_data(series.drop(C.BillingCurrency), f"spend-by-{group_by}-per-{grain}", "ts", sel.currency)
    parts = cache.breakdown(version, _key(q), q, group_by, TOP_N)
    with bar_col:
        st.altair_chart(charts.breakdown_bars(parts, group_by, q.metric, sel.currency), width="stretch")
        tables.chart_data(parts.drop(C.BillingCurrency), f"breakdown-by-{group_by}", "bd", sel.currency)
    st.caption(
        f"Biggest: {parts[group_by][0]} at {compact(float(parts[q.metric][0]), sel.currency)} "
        f"({float(parts['share'][0]):.0%} of the total)."
    )
    _movers(version, q, group_by, sel, path)
    if path:
        _line_items(version, q, sel.currency, path)
    else:
        with st.expander("Line items for all spend in the period"):
            _line_items(version, q, sel.currency, path)


render(st.session_state["selection"])
