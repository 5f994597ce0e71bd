"""Savings: the optimization backlog, and what each implemented item really saved on the bill."""

from __future__ import annotations

from datetime import date, timedelta

import altair as alt
import polars as pl
import streamlit as st

from finops_core import backlog, savings
from finops_core.query import CostQuery
from ui import cache, charts, tables
from ui.filters import Selection
from ui.format import money

EDITORS = ("admin", "finops")


def _seed_from_demo() -> None:
    """A new state database starts with the demo's backlog, once."""
    path = cache.store_root() / "demo" / "backlog.csv"
    if path.exists() and backlog.items().is_empty():
        backlog.import_csv(path.read_text(), "demo", source=str(path))


def _visible(items: pl.DataFrame, sel: Selection) -> pl.DataFrame:
    """Viewers see the items of their teams only."""
    scope = sel.query.scope
    if scope.is_all or items.is_empty():
        return items
    keep = pl.lit(False)
    if scope.teams is not None:
        keep = keep | pl.col("team").is_in(list(scope.teams))
    return items.filter(keep)


def _tiles(table: pl.DataFrame, cur: str) -> None:
    done = table.filter(pl.col("status").is_in(["Implemented", "Validated"]))
    est, real = float(done["estimated_monthly_saving"].sum()), float(done["realized_monthly"].fill_null(0).sum())
    a, b, c, d = st.columns(4)
    a.metric("Estimated, implemented items", money(est, cur) + "/mo", border=True)
    b.metric(
        "Realized, measured from the bill",
        money(real, cur) + "/mo",
        border=True,
        help="Sum of each implemented item's realized monthly savings (see an item for the method).",
    )
    c.metric("Realization", f"{real / est:.0%}" if est else "–", border=True)
    d.metric(
        "Open items",
        int(table.filter(~pl.col("status").is_in(["Validated", "Rejected", "Won't do"])).height),
        border=True,
    )


def _detail(version: str, sel: Selection, item: dict[str, object], editable: bool) -> None:
    st.subheader(f"{item['item_id']}: {item['title']}")
    impl = str(item["implemented_on"] or "")
    if impl:
        d = date.fromisoformat(impl)
        window = CostQuery(
            max(sel.data_start, d - timedelta(days=savings.BEFORE_DAYS)),
            min(sel.data_end, d + timedelta(days=45)),
            filters=savings.scope_query(item, sel.data_end).filters,
            scope=sel.query.scope,
        )
        daily = cache.call(version, savings.scope_cost, window)
        line = (
            alt.Chart(daily)
            .mark_line(point=True, color="#1f5fae")
            .encode(
                x=alt.X("day:T", title=None),
                y=alt.Y("cost:Q", title=f"Scope cost per day ({sel.currency})"),
                tooltip=["day:T", alt.Tooltip("cost:Q", format=",.2f")],
            )
        )
        rule = alt.Chart(pl.DataFrame({"d": [d]})).mark_rule(color="#c23b5a", strokeWidth=2).encode(x="d:T")
        st.altair_chart((line + rule).properties(height=charts.HEIGHT - 60), width="stretch")
        tables.chart_data(daily, f"{item['item_id']}-scope-cost", "sv", sel.currency)
        if item.get("realized_monthly") is not None:
            st.markdown(
                f"**Realized {money(float(item['realized_monthly']), sel.currency)}/month** "
                f"(± {money(float(item['uncertainty_monthly']), sel.currency)}, one standard error) against an estimate "
                f"of {money(float(item['estimated_monthly_saving']), sel.currency)}. Without the change the scope "
                f"would cost {money(float(item['expected_daily']), sel.currency, 2)} a day; it costs "
                f"{money(float(item['actual_daily']), sel.currency, 2)}. Rate effect "
                f"{money(float(item['rate_effect_monthly']), sel.currency)}/mo, usage effect "
                f"{money(float(item['usage_effect_monthly']), sel.currency)}/mo; usage growth not held against it: "
                f"{money(float(item['usage_growth_monthly']), sel.currency)}/mo. Method: {item['method']}."
            )
            st.caption(savings.__doc__.split("Method, ")[1] if savings.__doc__ else "")
        if item.get("flags"):
            st.warning(str(item["flags"]))
    st.markdown("**History**")
    st.dataframe(backlog.history(str(item["item_id"])), hide_index=True, width="stretch")
    notes = backlog.comments(str(item["item_id"]))
    if notes.height:
        st.dataframe(notes, hide_index=True, width="stretch")
    if editable:
        _edit_form(item)


def _edit_form(item: dict[str, object]) -> None:
    status = str(item["status"])
    with st.form(f"edit_{item['item_id']}"):
        a, b, c = st.columns(3)
        new_status = a.selectbox("Status", [status, *backlog.TRANSITIONS[status]])
        owner = b.text_input("Owner", value=str(item["owner"]))
        impl = c.text_input("Implemented on (YYYY-MM-DD)", value=str(item["implemented_on"]))
        estimate = a.number_input(
            "Estimated monthly saving",
            value=float(item["estimated_monthly_saving"]),
            min_value=0.0,
        )
        ticket = b.text_input("Ticket URL", value=str(item["ticket_url"]))
        note = st.text_input("Comment", placeholder="optional")
        if st.form_submit_button("Save", type="primary"):
            user = st.session_state["user"].username
            try:
                backlog.update(
                    str(item["item_id"]),
                    int(item["version"]),
                    user,
                    {
                        "status": new_status,
                        "owner": owner,
                        "implemented_on": impl,
                        "estimated_monthly_saving": estimate,
                        "ticket_url": ticket,
                    },
                )
                if note.strip():
                    backlog.comment(str(item["item_id"]), user, note)
            except backlog.BacklogError as exc:
                st.error(str(exc))
            else:
                st.rerun()


def _new_item(sel: Selection) -> None:
    with st.expander("Add an item or import a CSV"), st.form("new_item", clear_on_submit=True):
        a, b, c = st.columns(3)
        item_id = a.text_input("Id", placeholder="OPT-200")
        title = b.text_input("Title")
        category = c.selectbox("Category", backlog.CATEGORIES)
        team = a.text_input("Team")
        sub = b.text_input("Sub account name")
        service = c.text_input("Service name")
        estimate = a.number_input("Estimated monthly saving", min_value=0.0)
        method = b.text_input("How the estimate was made", placeholder="e.g. Compute Optimizer, 30 days")
        effort = c.selectbox("Effort", ("S", "M", "L"))
        upload = st.file_uploader("…or import items from a CSV (same columns as the export)", type=["csv"])
        if st.form_submit_button("Add"):
            user = st.session_state["user"].username
            try:
                if upload is not None:
                    added = backlog.import_csv(upload.getvalue().decode("utf-8-sig"), user, source=upload.name)
                    st.success(f"Imported {added} new items from {upload.name}.")
                else:
                    backlog.create(
                        item_id.strip(),
                        {
                            "title": title,
                            "category": category,
                            "team": team,
                            "sub_account_name": sub,
                            "service_name": service,
                            "estimated_monthly_saving": estimate,
                            "status": "Proposed",
                            "method_note": method,
                            "effort": effort,
                        },
                        user,
                    )
                    st.rerun()
            except backlog.BacklogError as exc:
                st.error(str(exc))


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    st.title("Savings")
    st.caption(
        "The optimization backlog. Realized savings of implemented items are measured from the billing "
        f"rows up to {sel.data_end}: select an item for the calculation."
    )
    _seed_from_demo()
    items = _visible(backlog.items(), sel)
    if items.is_empty():
        st.info("No backlog items in your scope yet.")
        if st.session_state["user"].role in EDITORS:
            _new_item(sel)
        return
    whole = CostQuery(sel.data_start, sel.data_end, scope=sel.query.scope)
    realized = _realized(version, whole, items)
    table = items.join(realized, on="item_id", how="left")
    _tiles(table, sel.currency)
    a, b, c = st.columns([3, 2, 2])
    status = a.multiselect("Status", backlog.STATUSES, default=list(backlog.STATUSES))
    teams = b.multiselect("Team", sorted(t for t in table["team"].unique().to_list() if t), placeholder="All teams")
    cats = c.multiselect("Category", backlog.CATEGORIES, placeholder="All categories")
    shown = table.filter(pl.col("status").is_in(status))
    if teams:
        shown = shown.filter(pl.col("team").is_in(teams))
    if cats:
        shown = shown.filter(pl.col("category").is_in(cats))
    cols = [
        "item_id",
        "title",
        "status",
        "category",
        "team",
        "owner",
        "estimated_monthly_saving",
        "realized_monthly",
        "uncertainty_monthly",
        "realization",
        "implemented_on",
        "flags",
    ]
    event = st.dataframe(
        shown.select(cols),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="backlog_table",
        column_config={
            "estimated_monthly_saving": st.column_config.NumberColumn("estimated /mo", format="accounting"),
            "realized_monthly": st.column_config.NumberColumn("realized /mo", format="accounting"),
            "uncertainty_monthly": st.column_config.NumberColumn("±", format="accounting"),
            "realization": st.column_config.NumberColumn("realization", format="percent"),
        },
    )
    tables.downloads(shown.select(cols), "backlog", "bl")
    rows = event.selection.rows if event and event.selection else []
    editable = st.session_state["user"].role in EDITORS
    if rows:
        _detail(version, sel, shown.row(rows[0], named=True), editable)
    if editable:
        _new_item(sel)
    _totals(table, sel.currency)


def _realized(version: str, whole: CostQuery, items: pl.DataFrame) -> pl.DataFrame:
    key = items.select(
        "item_id",
        "status",
        "implemented_on",
        "sub_account_name",
        "service_name",
        "resource_ids",
        "estimated_monthly_saving",
    ).write_csv()
    return cache.call(version, savings.realized_from_csv, whole, key)


def _totals(table: pl.DataFrame, cur: str) -> None:
    st.subheader("Estimated vs realized")
    done = table.filter(pl.col("status").is_in(["Implemented", "Validated"]))
    left, right = st.columns(2)
    for col, by in ((left, "team"), (right, "category")):
        agg = (
            done.group_by(by)
            .agg(
                pl.col("estimated_monthly_saving").sum().alias("estimated"),
                pl.col("realized_monthly").sum().alias("realized"),
            )
            .sort("estimated", descending=True)
        )
        col.dataframe(
            agg,
            hide_index=True,
            width="stretch",
            column_config={
                "estimated": st.column_config.NumberColumn(format="accounting"),
                "realized": st.column_config.NumberColumn(format="accounting"),
            },
        )
    month = (
        done.with_columns(pl.col("implemented_on").str.slice(0, 7).alias("month"))
        .group_by("month")
        .agg(
            pl.len().alias("items implemented"),
            pl.col("estimated_monthly_saving").sum().alias("estimated"),
            pl.col("realized_monthly").sum().alias("realized"),
        )
        .sort("month")
    )
    st.markdown("**By month of implementation**")
    st.dataframe(month, hide_index=True, width="stretch")
    tables.downloads(month, "savings-by-month", "sm")
    st.markdown("**Throughput: items validated per month**")
    st.dataframe(backlog.throughput(), hide_index=True, width="stretch")


render(st.session_state["selection"])
