"""The tag policy on the Allocation page: the policy in force, its exemptions, and its compliance
per month against the bill (``finops_core.policy``); the same checks run in CI on Terraform plans."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from finops_core.policy import billing, judge, rules
from finops_core.tagrules import RulesError
from ui import cache, charts, tables
from ui.filters import Selection


def render(version: str, sel: Selection) -> None:
    st.subheader("Tag policy")
    path = rules.path()
    try:
        text = path.read_text()
        policy = rules.parse(text, path)
    except (OSError, RulesError) as exc:
        st.error(f"The tag policy cannot be used: {exc}")
        return
    st.caption(
        f"`{path}`: checked against the bill here and by `python -m finops_core policy check`, and against "
        "Terraform plans before they are applied by `policy check-plan` (exit 1 on violations). "
        "Compliance = (compliant + exempt) / taggable cost the rules cover (docs/tag-policy.md)."
    )
    described, exemptions = judge.describe(policy, sel.data_end)
    tables.show(described, key_columns=described.columns[:1], key="policy_rules")
    if not exemptions.is_empty():
        tables.show(exemptions, key_columns=exemptions.columns[:1], key="policy_exemptions")
    q = replace(sel.query, start=sel.data_start, end=sel.data_end)
    history, top = cache.call(version, billing.policy_compliance, q, text, str(path))
    if history.is_empty():
        st.info("No taggable cost in this selection.")
        return
    trend = history.rename({"month": "period"})
    st.altair_chart(charts.trend_lines(trend, "compliance", None, "Policy compliance"), width="stretch")
    tables.chart_data(history, "tag-policy-compliance", "policy_history_dl", sel.currency)
    st.markdown(f"**Costliest unexempted violations, {history['month'].max():%B %Y}**")
    tables.show(top, sel.currency, key_columns=top.columns[:1], key="policy_top")
