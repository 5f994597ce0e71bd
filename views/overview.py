"""Overview, the landing page for every role: the KPI scorecard of the caller's scope, then month to
date against budget and forecast, this week's top movers, open anomalies and commitments needing action."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import streamlit as st

from finops_core import access, budget_status, budgets, events, forecast, outlook, rollups, triage
from finops_core import commitments as cm
from finops_core.reports import digest, kpi_ops, kpi_targets, kpis
from finops_core.schema import C, label
from finops_core.tagrules import RulesError
from finops_core.trust import reconcile
from ui import cache, scorecard, seed, tables
from ui.filters import Selection
from ui.format import money

TOP = 5


def _targets() -> kpi_targets.Targets:
    try:
        return kpi_targets.load()
    except RulesError as exc:
        st.error(f"The KPI targets in force cannot be used ({exc}); showing the shipped targets.")
        return kpi_targets.load(kpi_targets.SHIPPED)


def _scorecard(version: str, w: kpis.Window, targets: kpi_targets.Targets) -> list[kpis.Kpi]:
    user = st.session_state["user"]
    con = cache.connection()
    keys = rollups.version_rules(con, "r").allocation.required_tags
    table, given = None, False
    if user.sees_all:
        lines, _ = cache.invoices_in_force(version)
        given = lines is not None
        table = cache.reconciliation(version, reconcile.DEFAULT_TOLERANCE, date.today(), cache._invoices_key())
    return kpi_ops.scorecard(
        con,
        w,
        targets,
        keys,
        reconciliation=table,
        invoices_given=given,
        call=lambda fn, q, *args: cache.call(version, fn, q, *args),
    )


def _month_to_date(version: str, w: kpis.Window) -> None:
    first, last = w.data_end.replace(day=1), kpis.month_end(w.data_end.replace(day=1))
    st.subheader(f"{first:%B %Y} to date")
    q = w.query(first, w.data_end)
    actual = float(cache.total(version, repr(q), q)[q.metric].sum())
    lines = budget_status.visible_lines(budgets.current(), f"{first:%Y-%m}", q)
    budget = budget_status.selection_budget(lines, q)
    covered, _ = cache.call(version, kpi_ops.budget_covered, q, kpi_ops.lines_text(lines))
    a, b, c, d = st.columns(4)
    a.metric(f"Spend {first:%-d %b} to {w.data_end:%-d %b}", money(actual, w.currency), border=True)
    if w.data_end < last:
        hist = w.query(w.data_start, w.data_end)
        until = max(outlook.horizon_end(w.data_end, next(iter(outlook.HORIZONS))), last)
        try:
            fc = cache.call(version, outlook.scope_forecast, hist, until, events.load())
            b.metric(f"Forecast for {first:%B}", money(fc.period_total(first, last)["yhat"], w.currency), border=True)
        except (forecast.ForecastError, events.EventsError) as exc:
            b.metric(f"Forecast for {first:%B}", "–", border=True, help=str(exc))
    else:
        b.metric(f"{first:%B}", "complete", border=True, help="The data reaches the month's last day.")
    c.metric(
        "Budget",
        money(budget, w.currency) if budget is not None else "–",
        border=True,
        help="The team budgets of exactly your teams; '–' when no single budget covers the whole scope."
        if budget is None
        else f"{len(lines)} budget line(s) of {first:%B}.",
    )
    d.metric("Spend under a budget", f"{covered / actual:.0%}" if actual else "–", border=True)


def _movers(version: str, w: kpis.Window) -> None:
    """The last complete calendar week (Monday to Sunday) against the week before it."""
    sunday = w.data_end - timedelta(days=(w.data_end.weekday() + 1) % 7)
    q = w.query(sunday - timedelta(days=6), sunday)
    prev = q.previous()
    st.subheader("This week's top movers")
    st.caption(
        f"The last complete week, {q.start:%a %-d %b} to {q.end:%a %-d %b}, against the week before "
        f"({prev.start:%a %-d %b} to {prev.end:%a %-d %b}), {q.metric} in {w.currency}."
    )
    cols = st.columns(2)
    for col, dim in zip(cols, (C.ServiceName, C.x_Team), strict=True):
        frame = cache.movers(version, repr(q), q, dim).drop(C.BillingCurrency).head(TOP)
        col.markdown(f"**By {label(dim).lower()}**")
        with col:
            tables.show(frame, w.currency, key_columns=(dim,), first=("delta", "delta_pct"), key=f"ov_movers_{dim}")


def _anomalies(w: kpis.Window, role: str) -> None:
    st.subheader("Open anomalies")
    cases = digest.cases_visible(triage.cases(), w.scope)
    open_cases = cases.filter(~pl.col("status").is_in(list(triage.CLOSED)) & (pl.col("currency") == w.currency))
    if open_cases.is_empty():
        st.caption(
            f"No open {w.currency} anomaly case in your scope (cases appear once the Anomalies page ran detection)."
        )
        return
    shown = open_cases.sort("impact", descending=True).head(10)
    st.caption(
        f"{open_cases.height} open, {money(float(open_cases['impact'].sum()), w.currency)} impact; largest first."
    )
    tables.show(shown.drop("id"), w.currency, key_columns=("key",), first=("impact", "status", "owner"), key="ov_anom")
    if role in access.PAGE_ROLES["anomalies"]:
        st.page_link("views/anomalies.py", label="Triage on the Anomalies page", icon=":material/arrow_forward:")


def _commitments(version: str, w: kpis.Window, role: str) -> None:
    st.subheader("Commitments needing action")
    path = cache.store_root() / "demo" / "commitments.csv"
    q = w.query(w.data_end - timedelta(days=29), w.data_end)
    exp = cache.call(version, cm.expirations_from_file, q, str(path) if path.exists() else None)
    flagged = exp.filter(pl.col("flags") != "") if exp.height else exp
    if flagged.is_empty():
        st.caption(f"No {w.currency} commitment in your scope is expiring within 90 days or under-used.")
        return
    keep = [C.CommitmentDiscountName, C.CommitmentDiscountType, C.ProviderName, "flags", "term_end", "days_to_expiry"]
    shown = flagged.select(*[c for c in keep if c in flagged.columns], "utilization")
    tables.show(
        shown,
        w.currency,
        key_columns=(C.CommitmentDiscountName,),
        first=("flags", "utilization", "days_to_expiry"),
        headers={"utilization": "Utilization (30 days)"},
        key="ov_commit",
    )
    if role in access.PAGE_ROLES["commitments"]:
        st.page_link("views/commitments.py", label="Details on the Commitments page", icon=":material/arrow_forward:")


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    user = st.session_state["user"]
    seed.budgets_from_demo()
    seed.backlog_from_demo()
    w = kpis.Window(sel.data_start, sel.data_end, sel.currency, user.scope)
    st.title("Overview")
    who = "the whole company" if user.sees_all else "your scope"
    st.caption(
        f"KPIs of {who} in {sel.currency} for {w.review:%B %Y} (the last complete month of data), with the six "
        "months to it. The sidebar's period and filters do not apply here; each tile opens the page that explains it."
    )
    targets = _targets()
    scorecard.tiles(_scorecard(version, w, targets), user.role)
    if user.role == "admin":
        scorecard.targets_editor(targets, user.username)
    _month_to_date(version, w)
    _movers(version, w)
    _anomalies(w, user.role)
    _commitments(version, w, user.role)


render(st.session_state["selection"])
