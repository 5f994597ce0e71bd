"""Commitments: are Savings Plans, reservations and CUDs used, how much do they cover, what expires?"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import altair as alt
import polars as pl
import streamlit as st

from finops_core import commitments as cm
from finops_core.schema import C, label
from ui import cache, charts, tables
from ui.contracts import contracts_section
from ui.filters import Selection
from ui.format import column_format, money

COVERAGE_BY = (C.ServiceName, C.RegionId, C.SubAccountName, C.x_Team, C.ProviderName)


def _pct(value: object) -> str:
    return f"{float(value):.1%}" if isinstance(value, int | float) else "–"


def _tiles(version: str, sel: Selection) -> None:
    q = sel.query
    util = cache.call(version, cm.commitment_utilization, q)
    used, unused = float(util["used"].sum()), float(util["unused"].sum())
    cov = cache.call(version, cm.commitment_coverage, q)
    esr = cache.call(version, cm.effective_savings_rate, q)
    mtd = replace(q, start=q.end.replace(day=1))
    unused_mtd = float(cache.call(version, cm.commitment_utilization, mtd)["unused"].sum())
    a, b, c, d = st.columns(4)
    a.metric(
        "Utilization",
        _pct(used / (used + unused)) if used + unused else "–",
        border=True,
        help="Used / (used + unused) amortized commitment cost in the period.",
    )
    b.metric(
        "Coverage",
        _pct(cov["coverage"][0]) if cov.height else "–",
        border=True,
        help="On-demand-equivalent cost of covered usage / all eligible usage "
        "(services commitments cover; spot excluded).",
    )
    if esr.height:
        row = esr.row(0, named=True)
        c.metric(
            "Effective savings rate",
            _pct(row["esr"]),
            border=True,
            help=f"(List - effective) / list of eligible usage, unused commitment included. "
            f"Negotiated discounts saved {money(row['negotiated_savings'], sel.currency)}, "
            f"commitments {money(row['commitment_savings'], sel.currency)}.",
        )
    d.metric(
        f"Unused, {q.end:%B} to date",
        money(unused_mtd, sel.currency),
        border=True,
        help="Commitment already paid for that no usage consumed this month.",
    )


def _trends(version: str, sel: Selection) -> None:
    year = replace(sel.query, start=max(sel.data_start, sel.query.end - timedelta(days=364)), grain="month")
    left, right = st.columns(2)
    with left:
        st.subheader("Utilization by type, last 12 months")
        util = cache.call(version, cm.utilization_by_type, year).with_columns(
            pl.concat_str(C.ProviderName, pl.lit(" "), C.CommitmentDiscountType).alias("type")
        )
        st.altair_chart(charts.trend_lines(util, "utilization", "type", "Utilization"), width="stretch")
        tables.chart_data(util.drop(C.BillingCurrency), "utilization-by-type", "ut", sel.currency)
    with right:
        st.subheader("Coverage, last 12 months")
        cov = cache.call(version, cm.coverage_trend, year)
        st.altair_chart(charts.trend_lines(cov, "coverage", None, "Coverage"), width="stretch")
        tables.chart_data(cov.drop(C.BillingCurrency), "coverage-trend", "ct", sel.currency)


def _inventory(version: str, sel: Selection) -> None:
    st.subheader("Commitments and expirations")
    path = cache.store_root() / "demo" / "commitments.csv"
    inventory = str(path) if path.exists() else None
    exp = cache.call(version, cm.expirations_from_file, sel.query, inventory)
    if exp.is_empty():
        st.info(f"No {sel.currency} commitments in the data.")
        return
    st.caption(
        f"As of {sel.query.end}. Utilization over the last 30 days; 'on-demand after expiry' is what the "
        "usage these commitments cover would cost per month at on-demand (negotiated) rates."
        + ("" if inventory is not None else " Term ends of monthly commitments need the inventory file.")
    )
    shown = exp.drop(C.BillingCurrency, C.BillingAccountId).select(
        C.CommitmentDiscountName,
        C.CommitmentDiscountType,
        C.ProviderName,
        "flags",
        "term_end",
        "days_to_expiry",
        "utilization",
        "monthly_amount",
        "on_demand_after_expiry_monthly",
        "term_start",
        C.CommitmentDiscountCategory,
        C.CommitmentDiscountId,
    )
    tables.show(
        shown,
        sel.currency,
        key_columns=(C.CommitmentDiscountName,),
        first=("utilization", "on_demand_after_expiry_monthly", "monthly_amount", "term_end", "flags"),
        money=("monthly_amount", "on_demand_after_expiry_monthly"),
        column_config={
            "utilization": st.column_config.ProgressColumn("Utilization", format="percent", min_value=0, max_value=1),
            "on_demand_after_expiry_monthly": st.column_config.NumberColumn(
                "On-demand after expiry / month", format=column_format(sel.currency)
            ),
        },
    )
    tables.downloads(shown, "commitments", "cm")
    dated = exp.filter(pl.col("term_start").is_not_null() & pl.col("term_end").is_not_null())
    if dated.height:
        st.altair_chart(charts.timeline(dated, sel.query.end), width="stretch")


def _coverage_table(version: str, sel: Selection) -> None:
    st.subheader("Coverage by")
    by = st.selectbox("Coverage by", COVERAGE_BY, format_func=label, label_visibility="collapsed")
    cov = cache.call(version, cm.commitment_coverage, sel.query, by).drop(C.BillingCurrency)
    tables.show(
        cov,
        sel.currency,
        key_columns=(by,),
        first=("coverage",),
        money=("covered", "eligible"),
        column_config={
            "coverage": st.column_config.ProgressColumn("Coverage", format="percent", min_value=0, max_value=1),
        },
    )
    tables.downloads(cov, f"coverage-by-{by}", "cov")


def _sizing(version: str, sel: Selection) -> None:
    st.subheader("Purchase sizing (estimate)")
    providers = cache.call(version, cm.commitment_utilization, sel.query)[C.ProviderName].unique().sort().to_list()
    if not providers:
        return
    left, mid, right = st.columns([1, 2, 1])
    provider = left.selectbox("Provider", providers)
    services = cache.call(version, cm.eligible_services, sel.query.with_filter(C.ProviderName, (provider,)))
    covered = cache.call(
        version, cm.commitment_coverage, sel.query.with_filter(C.ProviderName, (provider,)), C.ServiceName
    )[C.ServiceName].to_list()
    service = mid.selectbox(
        "Usage to commit",
        ["All eligible services", *[s for s in services if s in covered]],
        help="A compute savings plan covers several services; a reservation one.",
    )
    lookback = right.radio("Look back", (30, 60), horizontal=True, format_func=lambda d: f"{d} days")
    q = replace(sel.query, start=sel.query.end - timedelta(days=lookback - 1)).with_filter(C.ProviderName, (provider,))
    if service != "All eligible services":
        q = q.with_filter(C.ServiceName, (service,))
    result = cache.call(version, cm.purchase_sizing, q)
    if not result.get("commit_per_day"):
        st.info("No uncovered eligible on-demand usage in this window.")
        return
    cur = sel.currency
    st.write(
        f"Over the last **{result['days']} days**, an extra steady commitment of **{money(result['commit_per_hour'], cur, 2)}"
        f" per hour** ({money(result['commit_per_month'], cur)} per month at commitment rates) would have saved about "
        f"**{money(result['net_savings_per_month'], cur)} per month** on {money(result['on_demand_per_month'], cur)} of "
        f"uncovered on-demand usage, at {result['expected_utilization']:.0%} utilization. It breaks even at "
        f"{result['break_even_utilization']:.0%} utilization (observed discount {result['discount']:.0%}); it covers "
        f"the usage of {result['baseline_percentile']:.0%} of days in full."
    )
    st.caption("An estimate from past usage, not advice to buy: future usage, term and payment option change it.")
    curve = result["curve"]
    assert isinstance(curve, pl.DataFrame)
    st.altair_chart(
        charts.curve(curve, "commit_per_day", "net_savings_per_month", float(result["commit_per_day"]), cur).properties(
            title=alt.TitleParams(
                "Net savings per month by commitment per day (red: the suggested size)", anchor="start"
            )
        ),
        width="stretch",
    )


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    st.title("Commitments")
    st.caption(
        f"{sel.query.start} – {sel.query.end}, {sel.currency}. Savings Plans, reservations and committed-use "
        "discounts, from the FOCUS CommitmentDiscount columns."
    )
    _tiles(version, sel)
    _trends(version, sel)
    _inventory(version, sel)
    contracts_section(version, sel)
    _coverage_table(version, sel)
    _sizing(version, sel)


render(st.session_state["selection"])
