"""Data quality & reconciliation (finops, finance, admin): invoices against the billing rows with
drill-through, the data-quality checks with samples, the change log and a month's evidence pack."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

import polars as pl
import streamlit as st

from finops_core.trust import evidence, quality, reconcile
from ui import auth, cache, charts, tables, upload

CHECK_COLOURS = {"ok": "blue", "info": "gray", "warning": "orange", "error": "red"}

user = st.session_state["user"]
version = cache.data_version() or ""
today = date.today()
st.title("Data quality & reconciliation")
rec_tab, checks_tab, log_tab, pack_tab = st.tabs(["Invoice reconciliation", "Checks", "Change log", "Evidence pack"])


with rec_tab:
    lines, origin = cache.invoices_in_force(version)
    left, right = st.columns([1, 3])
    tolerance = left.number_input("Tolerance (%)", 0.0, 10.0, reconcile.DEFAULT_TOLERANCE * 100, 0.1) / 100
    right.caption(f"Invoices: {origin}. Variance = invoice - sum(BilledCost); currencies are never added.")
    if user.role in ("admin", "finance"):
        upload.invoices_form(user.username)
    table = cache.reconciliation(version, tolerance, today, cache._invoices_key())
    counts = table.group_by("status").len().sort("len", descending=True)
    st.markdown(" · ".join(f"{s}: **{n}**" for s, n in counts.rows()))
    st.altair_chart(charts.reconciliation_grid(table), width="stretch")
    amounts = ("invoice", "billed", "variance", "explained", "unexplained")
    columns = ["billing_period", "billing_account_name", "currency", "invoice", "billed", "variance", "variance_pct"]
    columns += ["explained", "unexplained", "explanation", "status", "invoice_ids", "billing_account_id"]
    picked = tables.show(
        table.select(columns),
        key_columns=("billing_period", "billing_account_name"),
        money=amounts,
        on_select="rerun",
        selection_mode="single-row",
        key="rec_table",
        headers={
            "billing_period": "Month",
            "billing_account_name": "Billing account",
            "variance_pct": "Variance %",
            "explanation": "Explained by",
            "billing_account_id": "Account id",
        },
    )
    tables.downloads(table, "invoice-reconciliation", "rec")
    rows = picked.selection.rows if picked else []
    if rows:
        row = table.row(rows[0], named=True)
        args = (row["billing_account_id"], row["billing_period"], row["currency"])
        st.subheader(f"{row['billing_account_name']}, {row['billing_period']}, {row['currency']}")
        start = date.fromisoformat(f"{row['billing_period']}-01")
        link = urlencode(
            {
                "period": "custom",
                "from": start.isoformat(),
                "to": (row["last_day"] or start).isoformat(),
                "metric": "BilledCost",
                "cur": row["currency"],
                "billing": row["billing_account_id"],
            }
        )
        st.markdown(f"[Open in Spend: billed cost of this account and month](./spend?{link})")
        by_line, by_service = st.columns(2)
        by_line.caption("By invoice id, publisher and charge category / class")
        lines_frame = cache.call_scoped(version, reconcile.variance_lines, user.scope, *args)
        with by_line:
            tables.show(lines_frame, row["currency"], key_columns=lines_frame.columns[:1], key="rec_lines")
        by_service.caption("By service and charge category")
        services = cache.call_scoped(version, reconcile.variance_services, user.scope, *args)
        with by_service:
            tables.show(services, row["currency"], key_columns=services.columns[:1], key="rec_services")
    else:
        st.caption("Select a row to see the charge categories, services and invoice ids behind it.")

with checks_tab:
    found = cache.quality_checks(version, today)
    summary = pl.DataFrame(
        [
            {
                "status": c["status"],
                "check": c["title"],
                "count": c["count"],
                "money": ", ".join(f"{k} {v:,.2f}" for k, v in sorted(c["money"].items())),
                "detail": c["detail"],
            }
            for c in found
        ]
    )
    worst = quality.worst([quality.Check(c["check"], c["title"], c["severity"], c["status"], 0, {}, "") for c in found])
    st.markdown(
        f":{CHECK_COLOURS[worst]}-badge[worst: {worst}] "
        + " ".join(
            f":{CHECK_COLOURS[s]}-badge[{n} {s}]" for s, n in summary.group_by("status").len().sort("status").rows()
        )
    )
    tables.show(summary, key_columns=summary.columns[:1])
    for c in found:
        if c["status"] not in ("ok", "info") and c["samples"]:
            with st.expander(f"{c['title']}: {c['count']:,} found. What to do: {c['fix']}"):
                samples = pl.DataFrame(c["samples"])
                tables.show(samples, key_columns=samples.columns[:1])

with log_tab:
    log = quality.change_log(cache.store_root())
    st.caption("Every publish this data version descends from, newest first, with its cost change per currency.")
    tables.show(
        log,
        key_columns=log.columns[:1],
        money=("billed_delta", "effective_delta"),
        headers={"at": "At (UTC)", "billed_delta": "Billed cost change", "effective_delta": "Effective cost change"},
        key="change_log",
    )

with pack_tab:
    months = sorted(table.filter(pl.col("status") != "month still open")["billing_period"].unique(), reverse=True)
    if not months:
        st.info("No closed month yet.")
    else:
        month = st.selectbox("Month", months)
        st.caption(
            "One workbook: invoice tie-out, reconciling items, marketplace charges, shared-cost allocations "
            "by team, allocation by team, data-quality checks."
        )
        lines, origin = cache.invoices_in_force(version)
        settings = reconcile.Settings(tolerance, today)
        st.download_button(
            "⬇ Evidence pack (XLSX)",
            lambda: evidence.workbook(
                evidence.pack(cache.connection(), cache.store_root(), month, lines, origin, settings)
            ),
            f"evidence-pack-{month}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            on_click=auth.audit_download,
            args=(f"evidence-pack-{month}.xlsx",),
        )
