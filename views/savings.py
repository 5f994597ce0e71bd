"""Savings: the optimization backlog, and what each implemented item really saved on the bill."""

from __future__ import annotations

from datetime import date, timedelta

import altair as alt
import polars as pl
import streamlit as st

from finops_core import backlog, savings, savings_items
from finops_core.query import CostQuery
from finops_core.schema import C
from ui import cache, charts, edits, seed, tables
from ui.filters import Selection
from ui.format import money

EDITORS = ("admin", "finops")


def _tiles(table: pl.DataFrame) -> None:
    """One row of tiles per currency: amounts are never added across currencies."""
    for row in savings_items.totals(table).iter_rows(named=True):
        cur = str(row["currency"])
        a, b, c = st.columns(3)
        a.metric(f"Estimated, implemented items ({cur})", money(row["estimated"], cur) + "/mo", border=True)
        b.metric(
            f"Realized, measured from the bill ({cur})",
            money(row["realized"], cur) + "/mo",
            border=True,
            help="Sum of each implemented item's realized monthly savings in this currency (see an item for the method).",
        )
        c.metric(
            f"Realization ({cur})", f"{row['realization']:.0%}" if row["realization"] is not None else "–", border=True
        )


def _detail(version: str, sel: Selection, item: dict[str, object], editable: bool, ids: dict[str, str]) -> None:
    st.subheader(f"{item['item_id']}: {item['title']}")
    impl = str(item["implemented_on"] or "")
    cur = str(item["amount_currency"] or item["currency"])
    if impl:
        d = date.fromisoformat(impl)
        window = CostQuery(
            max(sel.data_start, d - timedelta(days=savings.BEFORE_DAYS)),
            min(sel.data_end, d + timedelta(days=45)),
            # this row's currency only: an item spanning two is one row (and one chart) per currency
            filters=(*savings_items.scope_query(item, sel.data_end).filters, (C.BillingCurrency, (cur,))),
            scope=sel.query.scope,
        )
        daily = cache.call(version, savings_items.scope_cost, window)
        line = (
            alt.Chart(daily)
            .mark_line(point=True, color="#1f5fae")
            .encode(
                x=alt.X("day:T", title=None),
                y=alt.Y("cost:Q", title=f"Scope cost per day ({cur})"),
                tooltip=["day:T", alt.Tooltip("cost:Q", format=",.2f")],
            )
        )
        rule = alt.Chart(pl.DataFrame({"d": [d]})).mark_rule(color="#c23b5a", strokeWidth=2).encode(x="d:T")
        st.altair_chart((line + rule).properties(height=charts.HEIGHT - 60), width="stretch")
        tables.chart_data(daily, f"{item['item_id']}-scope-cost", "sv", cur)
        if item.get("realized_monthly") is not None:
            _explain(item, cur)
        if item.get("flags"):
            st.warning(str(item["flags"]))
    st.markdown("**History**")
    who = {"scope": sel.query.scope, "sub_account_ids": ids}
    history = backlog.history(str(item["item_id"]), **who)
    tables.show(history, key_columns=history.columns[:1], key="sv_history")
    notes = backlog.comments(str(item["item_id"]), **who)
    if notes.height:
        tables.show(notes, key_columns=notes.columns[:1], key="sv_notes")
    if editable:
        _edit_form(item)


def _explain(item: dict[str, object], cur: str) -> None:
    """The realized saving of one (item, currency) row, in that currency."""
    estimate = item.get("estimated_monthly_saving")
    against = (
        f"against an estimate of {money(float(estimate), cur)}"
        if estimate is not None
        else f"(the estimate is in {item['currency']})"
    )
    st.markdown(
        f"**Realized {money(float(item['realized_monthly']), cur)}/month** "
        f"(± {money(float(item['uncertainty_monthly']), cur)}, one standard error) {against}. "
        f"Without the change the scope would cost {money(float(item['expected_daily']), cur, 2)} a day; it costs "
        f"{money(float(item['actual_daily']), cur, 2)}. Rate effect "
        f"{money(float(item['rate_effect_monthly']), cur)}/mo, usage effect "
        f"{money(float(item['usage_effect_monthly']), cur)}/mo; usage growth not held against it: "
        f"{money(float(item['usage_growth_monthly']), cur)}/mo. Method: {item['method']}."
    )
    st.caption(savings.__doc__.split("Method, ")[1] if savings.__doc__ else "")


def _edit_form(latest: dict[str, object]) -> None:
    item = edits.opened("backlog", latest, "item_id")  # the version this session's form shows
    edits.show_refusal("backlog")
    status = str(item["status"])
    with st.form(edits.form_key("edit", item, "item_id")):
        a, b, c = st.columns(3)
        new_status = a.selectbox("Status", [status, *backlog.TRANSITIONS[status]])
        owner = b.text_input("Owner", value=str(item["owner"]))
        impl = c.text_input("Implemented on (YYYY-MM-DD)", value=str(item["implemented_on"]))
        estimate = a.number_input(
            "Estimated monthly saving",
            value=float(item["estimated_monthly_saving"] or 0),
            min_value=0.0,
        )
        ticket = b.text_input("Ticket URL", value=str(item["ticket_url"]))
        currency = c.text_input("Currency of the estimate", value=str(item["currency"] or ""), placeholder="USD")
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
                        "currency": currency,
                        "ticket_url": ticket,
                    },
                )
                if note.strip():
                    backlog.comment(str(item["item_id"]), user, note)
            except backlog.StaleVersion as exc:
                edits.refused("backlog", f"Not saved: {exc}. The form now shows their change.")
            except backlog.BacklogError as exc:
                st.error(str(exc))
            else:
                edits.saved("backlog")
                st.rerun()


def _new_item(currencies: list[str], whole: CostQuery) -> None:
    with st.expander("Add an item or import a CSV"), st.form("new_item", clear_on_submit=True):
        a, b, c = st.columns(3)
        item_id = a.text_input("Id", placeholder="OPT-200")
        title = b.text_input("Title")
        category = c.selectbox("Category", backlog.CATEGORIES)
        team = a.text_input("Team")
        sub = b.text_input("Sub account name")
        service = c.text_input("Service name")
        estimate = a.number_input("Estimated monthly saving", min_value=0.0)
        currency = a.selectbox("Currency of the estimate", currencies or ["USD"])
        method = b.text_input("How the estimate was made", placeholder="e.g. Compute Optimizer, 30 days")
        effort = c.selectbox("Effort", ("S", "M", "L"))
        upload = st.file_uploader("…or import items from a CSV (same columns as the export)", type=["csv"])
        if st.form_submit_button("Add"):
            user = st.session_state["user"].username
            con = cache.connection()

            def check(item: dict[str, object], where: str) -> None:
                savings_items.require_billing_rows(con, item, whole, where)

            try:
                if upload is not None:
                    text = upload.getvalue().decode("utf-8-sig")
                    added = backlog.import_csv(text, user, source=upload.name, check=check)
                    st.success(f"Imported {added} new items from {upload.name}.")
                else:
                    item = {
                        "title": title,
                        "category": category,
                        "team": team,
                        "sub_account_name": sub,
                        "service_name": service,
                        "estimated_monthly_saving": estimate,
                        "currency": currency,
                        "status": "Proposed",
                        "method_note": method,
                        "effort": effort,
                    }
                    check(item, f"item {item_id.strip()}")
                    backlog.create(item_id.strip(), item, user)
                    st.rerun()
            except backlog.BacklogError as exc:
                st.error(str(exc))


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    st.title("Savings")
    st.caption(
        "The optimization backlog. Realized savings of implemented items are measured from the billing "
        f"rows up to {sel.data_end}, in each item's own currency: select an item for the calculation."
    )
    seed.backlog_from_demo()
    whole = CostQuery(sel.data_start, sel.data_end, scope=sel.query.scope)
    ids = cache.call(version, savings_items.sub_account_ids, whole)
    items = backlog.items(scope=sel.query.scope, sub_account_ids=ids)
    editable = st.session_state["user"].role in EDITORS
    currencies = cache.call(version, savings.scope_currencies, whole)
    if items.is_empty():
        st.info("No backlog items in your scope yet.")
        if editable:
            _new_item(currencies, whole)
        return
    table = savings_items.item_table(items, _realized(version, whole, items))
    _tiles(table)
    st.metric(
        "Open items",
        backlog.open_items(items).height,
        border=True,
        help="Proposed, approved or in progress: not yet implemented, validated, rejected or dropped.",
        width="content",
    )
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
        "amount_currency",
        "estimated_monthly_saving",
        "realized_monthly",
        "uncertainty_monthly",
        "realization",
        "implemented_on",
        "flags",
    ]
    table_cols = shown.select(cols)
    labels = {
        "item_id": "Item",
        "amount_currency": "Currency",
        "estimated_monthly_saving": "Estimated /mo",
        "realized_monthly": "Realized /mo",
        "uncertainty_monthly": "± /mo",
        "implemented_on": "Implemented on",
    }
    event = tables.show(
        table_cols,
        sel.currency,
        key_columns=("item_id",),
        first=("title", "status", "realized_monthly"),
        on_select="rerun",
        selection_mode="single-row",
        key="backlog_table",
        headers=labels,
    )
    tables.downloads(shown.select(cols), "backlog", "bl")
    rows = event.selection.rows if event and event.selection else []
    if rows:
        _detail(version, sel, shown.row(rows[0], named=True), editable, ids)
    if editable:
        _new_item(currencies, whole)
    _totals(table, sel, ids)


def _realized(version: str, whole: CostQuery, items: pl.DataFrame) -> pl.DataFrame:
    key = savings_items.items_csv(items)
    return cache.call(version, savings_items.realized_from_csv, whole, key)


def _totals(table: pl.DataFrame, sel: Selection, ids: dict[str, str]) -> None:
    st.subheader("Estimated vs realized")
    left, right = st.columns(2)
    for col, by in ((left, "team"), (right, "category")):
        with col:
            tables.show(savings_items.totals(table, (by,)), sel.currency, key_columns=(by,), key=f"sv_by_{by}")
    month = savings_items.totals(table, ("month",))
    st.markdown("**By month of implementation**")
    tables.show(month, sel.currency, key_columns=("month",), key="sv_by_month")
    tables.downloads(month, "savings-by-month", "sm")
    st.markdown("**Throughput: items validated per month**")
    throughput = backlog.throughput(scope=sel.query.scope, sub_account_ids=ids)
    if throughput.is_empty():
        st.caption("No item has been moved to Validated yet.")
    else:
        tables.show(throughput, key_columns=throughput.columns[:1], key="sv_throughput")


render(st.session_state["selection"])
