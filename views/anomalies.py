"""Anomalies: what spiked or leaked, who owns it, and how fast we respond."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from finops_core import anomalies, triage
from finops_core.query import CostQuery
from finops_core.schema import C
from ui import cache, charts, tables
from ui.filters import Selection
from ui.format import money

EDITORS = ("admin", "finops")
OPEN = [s for s in triage.STATUSES if s not in triage.CLOSED]


def _owners() -> dict[str, str]:
    """Team owners from the org reference data, when the store has it."""
    path = cache.store_root() / "demo" / "teams.csv"
    return dict(pl.read_csv(path).select("team", "owner").iter_rows()) if path.exists() else {}


def _detections(version: str, sel: Selection) -> pl.DataFrame:
    """Detections over the whole history (cached per data version); new ones become triage cases."""
    whole = CostQuery(sel.data_start, sel.data_end, scope=sel.query.scope)
    found: pl.DataFrame = cache.call(version, anomalies.detect_with_teams, whole)
    if st.session_state.get("_anomaly_synced") != version and not found.is_empty():
        triage.sync(found, _owners())
        st.session_state["_anomaly_synced"] = version
    return found


def _filters(cases: pl.DataFrame) -> pl.DataFrame:
    a, b, c, d = st.columns([3, 2, 2, 2])
    status = a.multiselect("Status", triage.STATUSES, default=OPEN)
    teams = sorted(t for t in cases["team"].unique().to_list() if t)
    team = b.multiselect("Team", teams, placeholder="All teams")
    owner = c.text_input("Owner", placeholder="anyone")
    floor = d.number_input("Minimum impact", min_value=0.0, value=100.0, step=100.0)
    out = cases.filter(pl.col("status").is_in(status) & (pl.col("impact") >= floor))
    if team:
        out = out.filter(pl.col("team").is_in(team))
    if owner.strip():
        out = out.filter(pl.col("owner").str.contains(owner.strip(), literal=True))
    return out


def _detail(version: str, sel: Selection, case: dict[str, object], found: pl.DataFrame, editable: bool) -> None:
    match = found.filter(pl.col("id") == case["id"])
    if match.is_empty():
        st.info("This anomaly is no longer in the data (restated or out of range).")
        return
    row = match.row(0, named=True)
    cur = str(row[C.BillingCurrency])
    st.subheader(f"{row['key']}: {row['kind']} from {row['start']} to {row['end']}")
    a, b, c, d = st.columns(4)
    a.metric("Actual", money(row["actual"], cur), border=True)
    b.metric("Expected", money(row["expected"], cur), border=True)
    c.metric("Impact to date", money(row["impact"], cur), border=True)
    d.metric("Peak vs expected", f"{row['peak_ratio']:.1f}x", border=True, help=f"On {row['peak_day']}")
    window = CostQuery(
        max(sel.data_start, row["start"] - timedelta(days=45)),
        min(sel.data_end, row["end"] + timedelta(days=14)),
        scope=sel.query.scope,
        filters=anomalies.scope_filters(row),
    )
    band = cache.call(version, anomalies.series_with_band, window, str(row["scope"]), str(row["key"]))
    st.altair_chart(charts.anomaly_band(band, cur, row["start"], row["end"]), width="stretch")
    tables.chart_data(band, f"anomaly-{row['id']}", "band", cur)
    st.markdown(
        f"**What drove it** (the window against the {row['days']} days before) · "
        f"[open in Spend, filtered]({anomalies.drill_link(row)})"
    )
    top = cache.call(version, anomalies.contributors, window, row)
    st.dataframe(top, hide_index=True, width="stretch", column_config=tables.money_config(top, cur))
    st.markdown("**History**")
    st.dataframe(triage.history(str(case["id"])), hide_index=True, width="stretch")
    if editable:
        _actions(case)


def _actions(case: dict[str, object]) -> None:
    allowed = list(triage.TRANSITIONS[str(case["status"])])
    with st.form(f"triage_{case['id']}"):
        left, mid = st.columns(2)
        status = left.selectbox("Move to", [str(case["status"]), *allowed])
        owner = mid.text_input("Owner", value=str(case["owner"]))
        note = st.text_area("Root cause / note", value=str(case["note"]))
        item = st.text_input("Linked backlog item", value=str(case["backlog_item"]), placeholder="e.g. OPT-103")
        if st.form_submit_button("Save", type="primary"):
            try:
                triage.update(
                    str(case["id"]),
                    int(case["version"]),
                    st.session_state["user"].username,
                    status=status,
                    owner=owner,
                    note=note,
                    backlog_item=item,
                )
            except triage.TriageError as exc:
                st.error(str(exc))
            else:
                st.rerun()


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    st.title("Anomalies")
    st.caption(
        "Daily usage-based cost per service x sub account, team and total, against a weekly and month-end "
        "baseline; deployments and unused commitments are left out. Cases persist across data loads."
    )
    found = _detections(version, sel)
    cases = triage.cases()
    if cases.is_empty():
        st.info("No anomalies detected in the data.")
        return
    stats = triage.summary(cases)
    a, b, c = st.columns(3)
    a.metric("Open anomalies", stats["open"], border=True)
    b.metric("New, not yet acknowledged", stats["new"], border=True)
    c.metric(
        "Impact of open anomalies",
        money(stats["open_impact"], sel.currency),
        border=True,
        help="Actual minus expected cost over each anomaly's days, summed (mixed currencies are not converted).",
    )
    shown = _filters(cases)
    view = shown.select(
        "status",
        "start",
        "end",
        "kind",
        "scope",
        "key",
        "team",
        "owner",
        "impact",
        "currency",
        "id",
        "version",
        "note",
        "backlog_item",
    )
    event = st.dataframe(
        view.drop("version", "note", "backlog_item"),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="anomaly_table",
        column_config={"impact": st.column_config.NumberColumn("impact", format="accounting")},
    )
    tables.downloads(view, "anomalies", "anom")
    rows = event.selection.rows if event and event.selection else []
    if rows:
        _detail(version, sel, view.row(rows[0], named=True), found, st.session_state["user"].role in EDITORS)
    else:
        st.caption("Select an anomaly to see its chart, contributors and history, and to triage it.")
    st.subheader("Response times")
    st.dataframe(
        triage.response_times(),
        hide_index=True,
        width="stretch",
        column_config={
            "mtta_hours": st.column_config.NumberColumn("MTTA (hours)", format="%.1f"),
            "mttr_hours": st.column_config.NumberColumn("MTTR (hours)", format="%.1f"),
        },
    )


render(st.session_state["selection"])
