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
    tables.show(
        shown,
        sel.currency,
        key_columns=("ContractCommitmentId",),
        key="contracts",
        column_config={
            "ContractCommitmentId": st.column_config.TextColumn("Commitment", pinned=True),
            "ContractCommitmentCategory": st.column_config.TextColumn("Category"),
            "ContractCommitmentType": st.column_config.TextColumn("Type"),
            "ContractCommitmentDescription": st.column_config.TextColumn("Description"),
            "ContractId": st.column_config.TextColumn("Contract"),
            "period_start": st.column_config.DateColumn("Period start", format="D MMM YYYY"),
            "period_end": st.column_config.DateColumn("Period end (exclusive)", format="D MMM YYYY"),
            # in the commitment's unit: money for spend commitments, a quantity for usage ones
            "committed": st.column_config.NumberColumn("Committed", format="localized"),
            "consumed": st.column_config.NumberColumn("Consumed", format="localized"),
            "remaining": st.column_config.NumberColumn("Remaining", format="localized"),
            "consumed_share": st.column_config.ProgressColumn("Consumed share", **share),  # type: ignore[arg-type]
            "period_elapsed": st.column_config.ProgressColumn("Period elapsed", **share),  # type: ignore[arg-type]
        },
    )
    tables.downloads(shown, "contract-commitments", "cc")
