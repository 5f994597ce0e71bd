"""The Commitments page's FOCUS 1.3 contract commitments table (spend and usage commitments)."""

from __future__ import annotations

import streamlit as st

from finops_core import contract_commitments as cc
from ui import cache, tables
from ui.filters import Selection


def contracts_section(version: str, sel: Selection) -> None:
    """Contract commitments with their period, committed amount and consumption (docs/sync.md)."""
    st.subheader("Contract commitments")
    found = cache.call(version, cc.contract_commitments, sel.query, sel.currency)
    if found.is_empty():
        st.info(
            "No contract commitments: ingest a FOCUS 1.3 Contract Commitment file "
            "(and cost rows with ContractApplied) to see spend and usage commitments here."
        )
        return
    st.caption(
        f"Consumed up to {sel.query.end}: the ContractApplied cost (Spend) or quantity (Usage) of the charges "
        "the provider applied to each commitment, within its period"
        + ("" if sel.query.scope.is_all else "; only the charges you may see")
        + "."
    )
    shown = found.select(
        "ContractCommitmentId",
        "ContractCommitmentCategory",
        "committed",
        "consumed",
        "unit",
        "consumed_share",
        "period_elapsed",
        "remaining",
        "period_start",
        "period_end",
        "ContractCommitmentType",
        "ContractId",
        "charges",
        "ContractCommitmentDescription",
    )
    share = {"format": "percent", "min_value": 0, "max_value": 1}
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "ContractCommitmentCategory": st.column_config.TextColumn("category"),
            "ContractCommitmentType": st.column_config.TextColumn("type"),
            "period_start": st.column_config.DateColumn("period start", format="YYYY-MM-DD"),
            "period_end": st.column_config.DateColumn("period end (exclusive)", format="YYYY-MM-DD"),
            "committed": st.column_config.NumberColumn("committed", format="localized"),
            "consumed": st.column_config.NumberColumn("consumed", format="localized"),
            "remaining": st.column_config.NumberColumn("remaining", format="localized"),
            "consumed_share": st.column_config.ProgressColumn("consumed share", **share),  # type: ignore[arg-type]
            "period_elapsed": st.column_config.ProgressColumn("period elapsed", **share),  # type: ignore[arg-type]
        },
    )
    tables.downloads(shown, "contract-commitments", "cc")
