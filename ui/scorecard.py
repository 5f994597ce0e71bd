"""Scorecard tiles of the Overview page and the admin's targets editor (no computation here)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import polars as pl
import streamlit as st

from finops_core import access
from finops_core.reports import kpi_targets
from finops_core.reports.kpis import Kpi
from finops_core.tagrules import RulesError

# status -> (colour, icon, words): never colour alone, the icon and the words say it too
STATUS = {
    "ok": ("green", ":material/check_circle:", "On target"),
    "warn": ("orange", ":material/warning:", "Near target"),
    "bad": ("red", ":material/cancel:", "Off target"),
    "no data": ("gray", ":material/help:", "No data"),
}
COLUMNS = 4


def value_text(value: float | None, unit: str, target: float) -> str:
    if value is None:
        return "–"
    if unit == "%":
        return f"{value:.2%}" if target < 0.01 else f"{value:.1%}"
    return f"{value:,.1f} h" if unit == "h" else f"{value:,.0f}"


def target_text(k: Kpi) -> str:
    sign = "≥" if kpi_targets.DEFINITIONS[k.kind].direction == kpi_targets.AT_LEAST else "≤"
    return f"{sign} {value_text(k.target, k.unit, k.target)}"


def _tile(k: Kpi, role: str) -> None:
    colour, icon, words = STATUS[k.status]
    points = [v for _, v in k.trend if v is not None]
    with st.container(border=True):
        st.metric(
            k.label,
            value_text(k.value, k.unit, k.target),
            chart_data=points if len(points) > 1 else None,
            chart_type="line",
            help=f"{k.period}. Trend: " + ", ".join(f"{m} {value_text(v, k.unit, k.target)}" for m, v in k.trend)
            if k.trend
            else k.period,
        )
        st.markdown(f":{colour}-badge[{icon} {words}] target {target_text(k)}")
        st.caption(" · ".join(p for p in (k.period, k.note) if p))
        if role in access.PAGE_ROLES.get(k.page, ()):
            link = urlsplit(k.link)
            st.page_link(
                f"views/{k.page}.py",
                label="Explained on its page",
                icon=":material/arrow_forward:",
                query_params=dict(parse_qsl(link.query)),
            )


def tiles(card: list[Kpi], role: str) -> None:
    for start in range(0, len(card), COLUMNS):
        for col, k in zip(st.columns(COLUMNS), card[start : start + COLUMNS], strict=False):
            with col:
                _tile(k, role)


def targets_editor(targets: kpi_targets.Targets, username: str) -> None:
    """An admin edits targets in a table; saving validates the file and writes the audit log."""
    with st.expander("Edit KPI targets"):
        st.caption(
            f"In force: `{kpi_targets.path()}`. Shares as 0..1. Status: ok when the target is met, warn when the "
            "warn threshold is met, else bad; whether higher or lower is better is fixed per KPI."
        )
        rows = [
            {"kpi": k, "label": kpi_targets.DEFINITIONS[k].label, "better": kpi_targets.DEFINITIONS[k].direction} | v
            for k, v in targets.as_dict().items()
        ]
        edited = st.data_editor(
            pl.DataFrame(rows),
            hide_index=True,
            width="stretch",
            disabled=["kpi", "label", "better"],
            key="kpi_targets_edit",
            column_config={
                "kpi": st.column_config.TextColumn("KPI", pinned=True),
                "label": "Measure",
                "better": "Better when",
                "target": st.column_config.NumberColumn("Target", format="%.2f"),
                "warn": st.column_config.NumberColumn("Warn at", format="%.2f"),
            },
        )
        if st.button("Save targets", type="primary", key="kpi_targets_save"):
            values = {r["kpi"]: {"target": r["target"], "warn": r["warn"]} for r in pl.DataFrame(edited).to_dicts()}
            try:
                kpi_targets.save(kpi_targets.render(values), username)
            except RulesError as exc:
                st.error(f"Not saved: {exc}")
            else:
                st.success("Targets saved (recorded in the audit log).")
                st.rerun()
