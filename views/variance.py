"""Variance: why this month differs from the last one, or from its budget, in parts that add up."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import streamlit as st

from finops_core import budgets
from finops_core.query import CostQuery
from finops_core.reports import budget_variance as bv
from finops_core.reports import pack, pack_render
from finops_core.reports import variance as va
from finops_core.schema import C, label
from ui import auth, cache, tables
from ui.filters import Selection, without
from ui.format import money, percent

ROW_PX = 35  # st.dataframe's row height
MODES = {"mom": "Month over month", "budget": "Actual vs budget"}


def _months(sel: Selection) -> list[date]:
    """Months with data that have a previous month with data, newest first."""
    out, month = [], sel.data_end.replace(day=1)
    while month > sel.data_start:
        out.append(month)
        month = (month - timedelta(days=1)).replace(day=1)
    return out


def _default_month(sel: Selection, months: list[date]) -> date:
    """The last full month: the month of the last day with data when that is its last day."""
    full = sel.data_end == va.month_end(sel.data_end)
    return months[0] if full or len(months) == 1 else months[1]


LINK = st.column_config.LinkColumn("Spend", display_text="open in Spend", width="small")


def _table(frame: pl.DataFrame, currency: str, key: str, **kwargs: object) -> None:
    """A variance table through the formatting layer: every amount in the currency, rounded first (a
    part of -0.001 is $0.00), the first column pinned, the Spend link as a link."""
    amounts = tuple(c for c, t in frame.schema.items() if t.is_float())  # every part is money (coverage too)
    link = {"spend": LINK} if "spend" in frame.columns else {}
    tables.show(frame, currency, key_columns=frame.columns[:1], money=amounts, key=key, column_config=link, **kwargs)


def _effects(frame: pl.DataFrame, currency: str, key: str) -> None:
    shown = frame.drop("effect").rename({"label": "part"})
    # every part in view: the parts only explain together
    _table(shown, currency, key, height=ROW_PX * (frame.height + 1) + 3)


def _contributors(version: str, sel: Selection, v: va.Variance) -> None:
    st.subheader("Top contributors")
    names = list(va.CONTRIBUTOR_DIMS)
    chosen = st.segmented_control("By", names, default=names[0], key="p_by_dim") or names[0]
    dim = va.CONTRIBUTOR_DIMS[chosen]
    frame = va.contributors_table(v, sel.query, dim).rename({dim: label(dim)})
    st.caption(f"Each {chosen}'s change with its own split (usage at its own rates, so mix is inside usage).")
    _table(frame, v.currency, "contributors")


def _month_over_month(version: str, sel: Selection, month: date) -> None:
    found = cache.call(version, va.month_over_month, sel.query, month, sel.data_end)
    if not found:
        st.info(f"No {sel.currency} costs in {month:%B %Y} or the month before within these filters.")
        return
    v = found[0]
    a, b, c = st.columns(3)
    a.metric(f"{v.base.label}", money(v.base_total, v.currency), border=True, help=f"{v.base.days} days")
    b.metric(f"{v.current.label}", money(v.current_total, v.currency), border=True, help=f"{v.current.days} days")
    c.metric(
        "Change",
        money(v.change, v.currency),
        percent(v.change / v.base_total) if v.base_total else None,
        delta_color="inverse",
        border=True,
    )
    st.subheader("Why it changed")
    _effects(va.effects_table(v, sel.query), v.currency, "effects")
    st.caption("The parts add up to the change exactly (docs/variance.md).")
    _currencies(version, sel, month)
    _contributors(version, sel, v)


def _currencies(version: str, sel: Selection, month: date) -> None:
    """Every billing currency converted with an uploaded rates table, with the currency effect."""
    with st.expander("Currency effect (all billing currencies, converted with a rates table)"):
        st.caption(
            f"Without a rates table the currency effect is not computed: each billing currency is shown "
            f"on its own. Upload a CSV with currency, month (YYYY-MM), rate (units of {sel.currency} per unit)."
        )
        upload = st.file_uploader("Rates table (CSV)", type=["csv"], key="p_rates")
        if upload is None:
            return
        try:
            rates = va.parse_rates(upload.getvalue().decode("utf-8-sig"))
            found = cache.call(version, va.month_over_month, without(sel.query, C.BillingCurrency), month, sel.data_end)
            frame, base, current = va.with_rates(found, rates, sel.currency)
        except ValueError as exc:
            st.error(str(exc))
            return
        st.metric(f"Change in {sel.currency}", money(current - base, sel.currency), border=True)
        _effects(frame.with_columns(pl.lit(None, pl.String).alias("spend")), sel.currency, "fx_effects")


def _vs_budget(version: str, sel: Selection, month: date) -> None:
    path = cache.store_root() / "demo" / "budgets.csv"
    if path.exists() and budgets.versions().is_empty():
        budgets.save(budgets.load(path), "demo", str(path))
    rows = bv.rows_of(budgets.current())
    found = cache.call(version, bv.vs_budget, sel.query, month, sel.data_end, rows)
    if not found:
        st.info(f"No team budget in {sel.currency} for {month:%B %Y} within your scope and filters.")
        return
    b = found[0]
    a, m, c = st.columns(3)
    a.metric(f"Budget, {b.mom.current.label}", money(b.budget, b.currency), border=True)
    m.metric("Actual", money(b.actual, b.currency), border=True)
    c.metric("Variance", money(b.variance, b.currency), delta_color="inverse", border=True)
    st.subheader("Why actual differs from budget")
    _effects(b.effects(), b.currency, "budget_effects")
    st.caption("Budgeted teams only (team budget lines); a month still open has its budget prorated by days.")
    _table(b.teams, b.currency, "budget_teams")


def _pack(sel: Selection, month: date) -> None:
    """Build the month's pack for the user's scope on request (it takes seconds: a forecast and
    anomaly detection), keep it for the session, offer it as HTML and PDF."""
    st.subheader("Monthly pack")
    st.caption(
        f"{month:%B %Y} for everything you can see (the sidebar's filters do not apply): variance, budget, "
        "forecast, allocation, anomalies, savings and commitments, one section per billing currency."
    )
    q = CostQuery(sel.data_end, sel.data_end, metric=sel.query.metric, scope=sel.query.scope)
    key = f"{cache.data_version()}|{month:%Y-%m}|{q.scope.key()}|{q.metric}"
    kept = st.session_state.get("_pack")
    if st.button("Build the pack", key="p_pack_build", icon=":material/description:"):
        try:
            with st.spinner("Building the pack..."):
                built = pack.build(
                    cache.connection(), q, month, first_day=sel.data_start, store_root=cache.store_root()
                )
                kept = (key, pack_render.to_html(built).encode(), pack_render.to_pdf(built))
        except pack.PackError as exc:
            st.info(str(exc))
            return
        st.session_state["_pack"] = kept
    if not kept or kept[0] != key:
        return
    name = f"variance-pack-{month:%Y-%m}"
    left, right, _ = st.columns([1, 1, 3])
    for col, caption, ext, mime, data in (
        (left, "Download HTML", "html", "text/html", kept[1]),
        (right, "Download PDF", "pdf", "application/pdf", kept[2]),
    ):
        col.download_button(
            caption,
            data,
            f"{name}.{ext}",
            mime,
            icon=":material/download:",
            on_click=auth.audit_download,
            args=(f"{name}.{ext}",),
        )


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    st.title("Variance")
    months = _months(sel)
    if not months:
        st.info("Variance needs two months of data.")
        return
    left, right = st.columns([2, 3])
    wanted = st.query_params.get("p_month", f"{_default_month(sel, months):%Y-%m}")
    labels = [f"{m:%Y-%m}" for m in months]
    month = months[labels.index(wanted)] if wanted in labels else _default_month(sel, months)
    picked = left.selectbox("Month", months, index=months.index(month), format_func=lambda m: f"{m:%B %Y}")
    st.query_params["p_month"] = f"{picked:%Y-%m}"
    mode = right.segmented_control("Compare with", list(MODES), format_func=MODES.__getitem__, default="mom")
    if mode == "budget":
        _vs_budget(version, sel, picked)
    else:
        _month_over_month(version, sel, picked)
    _pack(sel, picked)


render(st.session_state["selection"])
