"""Allocation & tagging: how much cost is attributed, tag compliance, what to fix, showback per
team, why a dollar sits on a team, and (for FinOps) the rules with a dry run before saving."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import altair as alt
import polars as pl
import streamlit as st

from finops_core import allocation, explorer, governance, rollups, tagrules
from finops_core.query import CostQuery
from finops_core.schema import METRIC_LABELS, C, label
from ui import cache, charts, filters, policy, tables
from ui.filters import Selection
from ui.format import money

EDITORS = ("admin",)  # save rules
DRY_RUNNERS = ("admin", "finops")  # see the rules and dry-run changes
BY_CHOICES = (C.SubAccountName, C.x_Team, C.ServiceName, C.ProviderName)
EXPLAIN_BY = (C.x_Team, C.SubAccountId, C.ServiceName, C.ResourceId)
SOURCE_LABELS = {
    "by_tag": "Tag",
    "by_rule": "Rule (account, resource pattern)",
    "by_split": "Shared-cost split",
    "by_unallocated": "Unallocated",
}


def _pct(value: object) -> str:
    return f"{float(value):.1%}" if isinstance(value, int | float) else "–"


def _trend_query(q: CostQuery) -> CostQuery:
    """Twelve calendar months up to the end of the selected period (the last one to date), for trends."""
    months = q.end.year * 12 + q.end.month - 1 - 11
    return replace(q, start=date(months // 12, months % 12 + 1, 1))


def _overview(version: str, sel: Selection, keys: tuple[str, ...]) -> None:
    q = sel.query
    cov = cache.call(version, governance.coverage, q)
    total, alloc = float(cov["total"].sum()), float(cov["allocated"].sum())
    ctrl, ctrl_alloc = float(cov["controllable"].sum()), float(cov["controllable_allocated"].sum())
    comp = cache.call(version, governance.compliance_summary, q, keys, C.ProviderName)
    taggable = float(comp["taggable_cost"].sum())
    a, b, c, d = st.columns(4)
    a.metric(
        "Allocation coverage",
        _pct(alloc / total) if total else "–",
        border=True,
        help="Cost attributed to a team (by tag, rule or shared-cost split) / all cost in the period.",
    )
    b.metric(
        "Coverage of controllable spend",
        _pct(ctrl_alloc / ctrl) if ctrl else "–",
        border=True,
        help="The same over usage charges only (taxes, credits, adjustments and purchases excluded).",
    )
    if taggable and comp.height:
        team_ok = float((comp["taggable_cost"] * comp["team"].fill_null(0)).sum()) / taggable
        c.metric(
            "Tagged with team",
            _pct(team_ok),
            border=True,
            help="Taggable cost (usage of a resource) whose resource carries a team tag under any spelling.",
        )
    d.metric("Unallocated", money(total - alloc, sel.currency), border=True)
    trend = cache.call(version, governance.coverage, _trend_query(q))
    if trend.is_empty():
        return
    long = trend.unpivot(
        index=["month"], on=list(SOURCE_LABELS), variable_name="source", value_name="cost"
    ).with_columns(pl.col("source").replace_strict(SOURCE_LABELS))
    open_month = sel.data_end.replace(day=1) if sel.data_end != _month_end(sel.data_end) else None
    partial = pl.col("month") == open_month if open_month else pl.lit(False)  # data ending on a month end
    long = long.with_columns(partial.alias("_partial"))
    bars = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(month):O", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0)),
            y=alt.Y(
                "cost:Q",
                title=f"{METRIC_LABELS.get(q.metric, q.metric)} ({sel.currency})",
                axis=alt.Axis(format=",.2~s"),
            ),
            color=alt.Color(
                "source:N",
                title="Attributed by",
                sort=list(SOURCE_LABELS.values()),
                legend=alt.Legend(labelLimit=0, orient="bottom", columns=2),
            ),
            opacity=alt.condition("datum._partial", alt.value(0.35), alt.value(1.0)),
            order=alt.Order("source:N"),
            tooltip=["yearmonth(month):T", "source:N", alt.Tooltip("cost:Q", format=",.0f")],
        )
    )
    st.markdown(
        "**Who attributed each month's cost** (12 months"
        + (f"; {open_month:%B} faded: to {sel.data_end.day} {sel.data_end:%b} only)" if open_month else ")")
    )
    st.altair_chart(bars.properties(height=charts.HEIGHT - 60), width="stretch")
    shown = trend.select("month", "total", "allocated", "coverage", "controllable_coverage", *SOURCE_LABELS)
    tables.chart_data(shown, "allocation-coverage-by-month", "cov", sel.currency)


def _month_end(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _compliance(version: str, sel: Selection, keys: tuple[str, ...]) -> None:
    q = sel.query
    by = st.selectbox("Compliance by", BY_CHOICES, format_func=label, key="al_by")
    summary = cache.call(version, governance.compliance_summary, q, keys, by).head(25)
    if summary.is_empty():
        st.info("No taggable cost in this period.")
        return
    long = summary.unpivot(index=[by, "taggable_cost"], on=list(keys), variable_name="tag key", value_name="compliance")
    heat = (
        alt.Chart(long)
        .mark_rect()
        .encode(
            x=alt.X("tag key:N", title="Required tag key", sort=list(keys), axis=alt.Axis(labelAngle=0)),
            y=alt.Y(
                f"{by}:N",
                title=label(by),
                sort=summary[by].to_list(),
                axis=alt.Axis(labelOverlap=False, labelLimit=0, labelFontSize=12),
            ),
            # blues, light to dark: ordered and readable with any colour vision (no red-green)
            color=alt.Color("compliance:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"), title="Compliant"),
            tooltip=[
                f"{by}:N",
                "tag key:N",
                alt.Tooltip("compliance:Q", format=".1%"),
                alt.Tooltip("taggable_cost:Q", format=",.0f"),
            ],
        )
    )
    text = heat.mark_text(fontSize=12).encode(
        text=alt.Text("compliance:Q", format=".0%"),
        color=alt.condition("datum.compliance > 0.6", alt.value("white"), alt.value("black")),
    )
    st.caption(
        f"Share of taggable cost (usage of a resource, in {sel.currency}) whose resource carries each required key, "
        f"under any spelling in tags.yaml. Rows: the 25 {label(by).lower()} values with most taggable cost."
    )
    chart = (heat + text).properties(
        height=max(200, 28 * summary.height), title=f"Tag compliance by {label(by).lower()}"
    )
    st.altair_chart(chart, width="stretch")
    tables.chart_data(summary, f"tag-compliance-by-{by}", "comp", sel.currency)
    trend = cache.call(version, governance.compliance, _trend_query(q), keys, None)
    if trend.height:
        lines = trend.unpivot(index=["month"], on=list(keys), variable_name="tag key", value_name="compliance")
        st.markdown("**Compliance trend** (12 months)")
        st.altair_chart(
            alt.Chart(lines)
            .mark_line(point=True)
            .encode(
                x=alt.X("yearmonth(month):O", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0)),
                y=alt.Y("compliance:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
                color=alt.Color("tag key:N", sort=list(keys)),
                tooltip=["yearmonth(month):T", "tag key:N", alt.Tooltip("compliance:Q", format=".1%")],
            )
            .properties(height=260),
            width="stretch",
        )


def _typos(version: str, sel: Selection, role: str) -> None:
    st.markdown("**Likely tag value typos**")
    key = st.selectbox("Tag key", ("team", "environment", "product", "cost_center", "application"), key="al_typo_key")
    frame = cache.call(version, governance.typo_table, sel.query, key).drop(C.BillingCurrency)
    if frame.is_empty():
        st.caption(f"No {key!r} value is within two edits of a costlier one in {sel.currency} (all time).")
        return
    st.caption(
        f"Values of {key!r} within two edits of a costlier value (all time, EffectiveCost in {sel.currency}, "
        "your scope only). Accepting one adds it as an alias in tags.yaml, so its cost joins the canonical value."
    )
    tables.show(frame, sel.currency, key_columns=("alias",), first=("canonical", "cost"), money=("cost",))
    if role not in EDITORS:
        return
    picked = st.multiselect("Accept as aliases", frame["alias"].to_list(), key="al_typo_pick")
    if picked and st.button("Add aliases and rebuild", key="al_typo_save"):
        aliases = dict(frame.filter(pl.col("alias").is_in(picked)).select("alias", "canonical").iter_rows())
        try:
            with st.spinner("Saving tags.yaml and rebuilding the rollups..."):
                governance.accept_aliases(cache.store_root(), key, aliases, st.session_state["user"].username)
        except (tagrules.RulesError, allocation.ConservationError, OSError) as exc:
            st.error(f"Not saved: {exc}")
        else:
            st.rerun()


def _remediation(version: str, sel: Selection, keys: tuple[str, ...]) -> None:
    key = st.selectbox("Missing tag", keys, key="al_key")
    frame = cache.call(version, governance.remediation, sel.query, key, 200)
    if frame.is_empty():
        st.success(f"Every taggable resource carries a {key!r} tag in this period.")
        return
    st.caption(
        f"Resources without a {key!r} tag, costliest first ({sel.query.metric}, {sel.query.start} to "
        f"{sel.query.end}). *Likely owner*: the team with most tagged cost in the same sub account. "
        "*Allocated to / by rule / shared by*: where the allocation rules put the cost meanwhile (a shared-cost "
        "pool splits it between teams)."
    )
    shown = frame.rename({"cost": sel.query.metric})
    tables.show(shown, sel.currency, key_columns=(C.ResourceId,), first=(sel.query.metric,))
    tables.downloads(shown, f"untagged-{key}-remediation", "rem")


def _showback(version: str, sel: Selection) -> None:
    frame = cache.call(version, governance.showback, sel.query)
    if frame.is_empty():
        st.info("No cost in this period.")
        return
    per_team = governance.showback_by_team(frame).drop(C.BillingCurrency)  # the sidebar's one currency
    st.caption(
        f"{sel.query.metric} per team, {sel.query.start} to {sel.query.end}: *direct* is attributed by tags and rules, "
        "*shared* is the team's part of shared-cost pools (support, shared clusters, networking, tax). "
        "The total equals the period's spend: nothing is dropped or counted twice."
    )
    tables.show(per_team, sel.currency, key_columns=(C.x_Team,), first=("total",), money=("direct", "shared", "total"))
    c1, c2 = st.columns(2)
    c1.metric("Total of the table", money(float(per_team["total"].sum()), sel.currency))
    c2.metric("Shared cost distributed", money(float(per_team["shared"].sum()), sel.currency))
    tables.downloads(frame.with_columns(pl.col("month").cast(pl.String)), "showback-by-team-and-month", "show")
    pivot = governance.showback_pivot(frame).drop(C.BillingCurrency)
    if pivot.width > 2:
        st.markdown("**Total per team and month** (direct + shared)")
        tables.show(pivot, sel.currency, key_columns=(pivot.columns[0],), money=tuple(pivot.columns[1:]))


def _explorer(version: str, sel: Selection) -> None:
    st.caption(
        "Pick a group of charges to see which rule put each dollar on its team: the team rules in order of "
        "precedence, and for shared costs the split that spread them."
    )
    a, b = st.columns([1, 2])
    dim = a.selectbox("Charges of", EXPLAIN_BY, format_func=label, key="al_ex_dim")
    options = cache.call(version, explorer.explain_values, sel.query, dim)
    if not options:
        st.info("No charges in this period.")
        return
    names = filters.value_labels(version, dim, sel.data_start, sel.data_end, sel.query.scope)
    value = b.selectbox(label(dim), options, key="al_ex_value", format_func=lambda v: names.get(v, v))
    q = sel.query.with_filter(dim, (value,))
    ex = cache.call(version, explorer.explain, q)
    if ex.outcomes.is_empty():
        st.info("No charges match.")
        return
    st.markdown("**Where these charges landed** (before shared-cost splits)")
    outcomes = ex.outcomes.rename({"cost": q.metric})
    tables.show(outcomes, sel.currency, key_columns=outcomes.columns[:1], first=(q.metric,))
    for (team, rule, pool), chain in ex.chains.items():
        title = f"{team} by rule {rule}" + (f", then shared pool {pool}" if pool else "")
        with st.expander(title, expanded=len(ex.chains) == 1):
            tables.show(chain, sel.currency, key_columns=chain.columns[:1])
    if ex.received.height:
        st.markdown("**Shared costs on these charges' teams after splits** (per team and split rule)")
        shown = ex.received.rename({"cost": q.metric})
        tables.show(shown, sel.currency, key_columns=shown.columns[:1], first=(q.metric,))
    if ex.splits.height:
        st.markdown("**Shared-cost splits of these charges** (share of the pool per team and month)")
        tables.show(ex.splits, sel.currency, key_columns=ex.splits.columns[:1])


def _rules(version: str, sel: Selection, role: str) -> None:
    name = st.radio("Rules file", allocation.RULE_FILES, horizontal=True, key="al_file")
    path = allocation.rules_path(name)
    current = path.read_text() if path.exists() else ""
    st.caption(
        f"In force: `{path}`. Attribution rules are tried in order, first match wins; see the comments at the "
        "top of the file. A dry run shows how much cost moves between teams before anything is saved."
    )
    text = st.text_area(
        "Rules", value=current, height=420, key=f"al_text_{name}_{hashlib.sha1(current.encode()).hexdigest()[:8]}"
    )
    c1, c2 = st.columns(2)
    digest = hashlib.sha1(f"{name}\0{text}".encode()).hexdigest()
    if c1.button("Dry run", key="al_dry", disabled=text == current):
        try:
            with st.spinner("Allocating every row with the proposed rules..."):
                st.session_state["al_dry_result"] = (digest, governance.dry_run(cache.store_root(), {name: text}))
        except tagrules.RulesError as exc:
            st.error(str(exc))
    dry = st.session_state.get("al_dry_result")
    if dry and dry[0] == digest:
        _show_dry_run(dry[1], sel)
        if role in EDITORS:
            if c2.button("Save and rebuild", type="primary", key="al_save"):
                try:
                    with st.spinner("Saving the rules and rebuilding the rollups..."):
                        new_version = governance.save_rules(
                            cache.store_root(), name, text, st.session_state["user"].username
                        )
                except (tagrules.RulesError, allocation.ConservationError, OSError) as exc:
                    st.error(f"Not saved: {exc}")
                else:
                    st.session_state.pop("al_dry_result", None)
                    st.success(f"Saved {name}; data version {new_version}.")
                    st.rerun()
        else:
            c2.caption("Only an admin can save rule changes.")
    elif text != current:
        c2.caption("Run a dry run to see the effect before saving.")
    history = governance.rule_history()
    if history.height:
        st.markdown("**Saved versions**")
        tables.show(history.drop("diff"), sel.currency, key_columns=("id",))
        pick = st.selectbox("Show the change of version", history["id"].to_list(), key="al_hist")
        st.code(history.filter(pl.col("id") == pick)["diff"][0] or "(no change)", language="diff")


def _show_dry_run(frame: pl.DataFrame, sel: Selection) -> None:
    cur = sel.currency
    months = sorted(frame.filter(pl.col(C.BillingCurrency) == cur)[C.x_BillingMonth].unique().to_list())
    if not months:
        st.info(f"No {cur} cost in the store.")
        return
    window = months[-3:]
    moved = governance.moves(frame, cur, len(window)).drop(C.BillingCurrency)
    total_moved = float(moved.filter(pl.col("change") > 0)["change"].sum())
    st.markdown(
        f"**Dry run**: over the last {len(window)} billing months ({window[0]:%b %Y} to {window[-1]:%b %Y}), "
        f"{money(total_moved, cur)} of EffectiveCost would move between teams; totals stay equal."
    )
    if moved.is_empty():
        st.info("No cost moves between teams with this change.")
        return
    tables.show(moved, cur, key_columns=moved.columns[:1], first=("change",), money=("before", "after", "change"))
    tables.downloads(frame.with_columns(pl.col(C.x_BillingMonth).cast(pl.String)), "allocation-dry-run", "dry")


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    user = st.session_state["user"]
    st.title("Allocation & tagging")
    rules = rollups.version_rules(cache.connection(), "r")
    keys = rules.allocation.required_tags
    st.caption(
        f"{sel.query.start} to {sel.query.end}, {sel.currency}. Required tag keys: {', '.join(keys)}. "
        f"{len(rules.allocation.attribution)} attribution rules and {len(rules.allocation.splits)} shared-cost splits in force."
    )
    sections: dict[str, Callable[[], None]] = {
        "Coverage": lambda: _overview(version, sel, keys),
        "Tag compliance": lambda: _tag_compliance(version, sel, keys, user.role),
        "Remediation": lambda: _remediation(version, sel, keys),
        "Showback": lambda: _showback(version, sel),
        "Rule explorer": lambda: _explorer(version, sel),
    }
    if user.role in DRY_RUNNERS:
        sections["Rules"] = lambda: _rules(version, sel, user.role)
    # only the open tab runs (its label is in the URL, so a tab is a shareable link): the hidden
    # tabs' queries (policy compliance, the rule explorer, remediation) wait until they are opened
    for body, tab in zip(sections.values(), st.tabs(list(sections), key="p_tab", bind="query-params"), strict=True):
        if tab.open:
            with tab:
                body()


def _tag_compliance(version: str, sel: Selection, keys: tuple[str, ...], role: str) -> None:
    _compliance(version, sel, keys)
    _typos(version, sel, role)
    policy.render(version, sel)


render(st.session_state["selection"])
