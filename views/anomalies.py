"""Anomalies: what spiked or leaked, who owns it, and how fast we respond."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from finops_core import access, anomalies, incidents, triage, triage_notify
from finops_core.query import CostQuery
from finops_core.reports import delivery
from finops_core.schema import C
from ui import auth, cache, charts, edits, tables
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


def _incident(cases: pl.DataFrame, case: dict[str, object]) -> None:
    """The other cases of the selected case's incident."""
    others = cases.filter((pl.col("incident") == case["incident"]) & (pl.col("id") != case["id"]))
    if others.is_empty():
        return
    st.info(
        f"Part of incident {case['incident']} with {others.height} more case(s) over overlapping days for team "
        f"{case['team']}: "
        + "; ".join(f"{r['scope']} {r['key']} ({r['status']})" for r in others.iter_rows(named=True))
    )


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
    tables.show(top, cur, key_columns=top.columns[:2], money=("before", "during", "delta"), key="anom_top")
    st.markdown("**History**")
    tables.show(triage.history(str(case["id"])), key_columns=("at",), key="anom_history")
    if editable:
        _actions(case)


def _actions(latest: dict[str, object]) -> None:
    case = edits.opened("triage", latest, "id")  # the version this session's form shows
    edits.show_refusal("triage")
    allowed = list(triage.TRANSITIONS[str(case["status"])])
    known = triage_notify.known_owners(auth.users_file())
    current = str(case["owner"])
    choices = ["", *sorted(known), *([current] if current and current not in known else [])]
    with st.form(edits.form_key("triage", case, "id")):
        left, mid = st.columns(2)
        status = left.selectbox("Move to", [str(case["status"]), *allowed])
        owner = mid.selectbox(
            "Owner",
            choices,
            index=choices.index(current) if current in choices else 0,
            format_func=lambda u: known.get(u, u) or "(nobody)",
        )
        tell = mid.checkbox("Notify the owner (webhook or e-mail of the digest settings)")
        note = st.text_area("Root cause / note", value=str(case["note"]))
        item = st.text_input("Linked backlog item", value=str(case["backlog_item"]), placeholder="e.g. OPT-103")
        if st.form_submit_button("Save", type="primary"):
            user = st.session_state["user"].username
            try:
                triage.update(
                    str(case["id"]),
                    int(case["version"]),
                    user,
                    status=status,
                    owner=owner,
                    note=note,
                    backlog_item=item,
                )
            except triage.StaleVersion as exc:
                edits.refused("triage", f"Not saved: {exc}. The form now shows their change.")
            except triage.TriageError as exc:
                st.error(f"Not saved: {exc}")
                return
            edits.saved("triage")
            flash = f"Saved {case['id']}: {status}" + (f", owner {owner}" if owner else "") + "."
            if tell and owner:
                ok, where = triage_notify.notify(case | {"status": status}, owner, _email(owner), user, _settings())
                flash += f" {'Notified' if ok else 'Not notified'} {owner}: {where}."
            st.session_state["anom_flash"] = flash
            st.session_state["anom_case"] = str(case["id"])  # stay on the case just saved
            st.session_state["anom_table_n"] = st.session_state.get("anom_table_n", 0) + 1
            st.rerun()


def _email(username: str) -> str:
    path = auth.users_file()
    users = access.load_users(path)[1] if path.exists() else {}
    return users[username].email if username in users else ""


def _settings() -> delivery.Settings:
    try:
        return delivery.load_settings()
    except ValueError:
        return delivery.Settings()


def _selected(view: pl.DataFrame, cases: pl.DataFrame, rows: list[int]) -> dict[str, object] | None:
    """The case picked in the table, else the one kept in the session (the case last saved or picked,
    even when it no longer matches the filters)."""
    if rows and rows[0] < view.height:
        st.session_state["anom_case"] = str(view["id"][rows[0]])
    picked = cases.filter(pl.col("id") == st.session_state.get("anom_case", ""))
    return picked.row(0, named=True) if picked.height else None


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
    cases = incidents.link(cases)
    stats = incidents.incident_summary(cases, triage.CLOSED)
    a, b, c = st.columns(3)
    a.metric(
        "Open incidents",
        stats["open_incidents"],
        border=True,
        help=f"{stats['open_cases']} open cases: one event seen at service and team scope over overlapping days is "
        "one incident.",
    )
    b.metric("New, not yet acknowledged", int((cases["status"] == "New").sum()), border=True)
    c.metric(
        "Impact of open incidents",
        money(float(stats["open_impact"]), sel.currency),
        border=True,
        help="Actual minus expected cost over each incident's days: its largest case, so a service spike and its "
        "team's are not counted twice (mixed currencies are not converted).",
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
        "incident",
        "incident_cases",
        "id",
        "version",
        "note",
        "backlog_item",
    )
    if flash := st.session_state.pop("anom_flash", None):
        st.success(flash)
    n = st.session_state.get("anom_table_n", 0)
    event = tables.show(
        view.drop("version", "note", "backlog_item"),
        sel.currency,
        key_columns=("key",),
        first=("status", "impact", "owner"),
        on_select="rerun",
        selection_mode="single-row",
        key=f"anomaly_table_{n}",
        column_config={"incident_cases": st.column_config.NumberColumn("Cases in incident", format="%d")},
    )
    tables.downloads(view, "anomalies", "anom")
    case = _selected(view, cases, event.selection.rows if event and event.selection else [])
    if case is not None:
        _incident(cases, case)
        _detail(version, sel, case, found, st.session_state["user"].role in EDITORS)
    else:
        st.caption("Select an anomaly to see its chart, contributors and history, and to triage it.")
    st.subheader("Response times")
    times = triage.response_times()
    if "team" in times.columns:  # a case at total scope belongs to no team
        times = times.with_columns(pl.col("team").fill_null("").replace("", "(company total)"))
    tables.show(
        times,
        key_columns=times.columns[:1],
        key="anom_times",
        column_config={
            "mtta_hours": st.column_config.NumberColumn("MTTA (hours)", format="%.1f"),
            "mttr_hours": st.column_config.NumberColumn("MTTR (hours)", format="%.1f"),
        },
    )


render(st.session_state["selection"])
