"""The Spend page's drill path and grouping, mirrored in the URL (``p_path``, ``p_by``, ``p_by2``).

A drill path is a list of (dimension, value) filters added by clicking a mover, a bar or a
breadcrumb; dimensions are the fixed choices or any ``tag:<key>`` found in the store."""

from __future__ import annotations

import streamlit as st

from finops_core.schema import TAG_PREFIX, C, label

DRILL_ORDER = (C.ServiceCategory, C.ServiceName, C.SubAccountName, C.RegionId, C.ResourceId)
GROUP_CHOICES = (
    C.ServiceCategory,
    C.ServiceName,
    C.ProviderName,
    C.BillingAccountName,
    C.SubAccountName,
    C.RegionId,
    C.ChargeCategory,
    C.PricingCategory,
    C.x_Team,
    C.x_Product,
    C.x_Environment,
    C.x_CostCenter,
    C.x_AllocationRule,
    C.ResourceId,
)
NONE = ""


def dimension_label(dim: str) -> str:
    if dim == NONE:
        return "(nothing)"
    if dim.startswith(TAG_PREFIX):
        return f"Tag: {dim[len(TAG_PREFIX) :]}"
    return label(dim)


def allowed(dim: str, tag_keys: list[str]) -> bool:
    return dim in GROUP_CHOICES or dim in tag_keys


def path(tag_keys: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in st.query_params.get_all("p_path"):
        dim, _, value = item.partition("=")
        if allowed(dim, tag_keys):
            out.append((dim, value))
    return out


def set_path(new: list[tuple[str, str]], group_by: str) -> None:
    st.query_params["p_path"] = [f"{d}={v}" for d, v in new]
    st.query_params["p_by"] = group_by
    st.query_params["p_page"] = "0"


def next_dimension(current_path: list[tuple[str, str]], current: str) -> str:
    used = {d for d, _ in current_path} | {current}
    return next((d for d in DRILL_ORDER if d not in used), C.ResourceId)


def drill(current_path: list[tuple[str, str]], dim: str, value: str) -> None:
    """Add ``dim = value`` to the path, group by the next dimension and rerun."""
    if (dim, value) not in current_path:
        new = [*current_path, (dim, value)]
        set_path(new, next_dimension(new, dim))
        st.rerun()


def breadcrumb(current_path: list[tuple[str, str]]) -> None:
    with st.container(horizontal=True, gap="small"):
        if st.button("All spend", key="crumb_all", disabled=not current_path):
            set_path([], DRILL_ORDER[0])
            st.rerun()
        for i, (dim, value) in enumerate(current_path):
            if st.button(
                f"› {value}", key=f"crumb_{i}", help=dimension_label(dim), disabled=i == len(current_path) - 1
            ):
                set_path(current_path[: i + 1], next_dimension(current_path[: i + 1], dim))
                st.rerun()


def grouping(tag_keys: list[str]) -> tuple[str, str]:
    """The 'Group by' and 'Then by' pickers: (first, second or NONE)."""
    choices = [*GROUP_CHOICES, *tag_keys]
    first = st.query_params.get("p_by", DRILL_ORDER[0])
    first = first if first in choices else DRILL_ORDER[0]
    second = st.query_params.get("p_by2", NONE)
    left, right = st.columns(2)
    picked = left.selectbox("Group by", choices, index=choices.index(first), format_func=dimension_label)
    seconds = [NONE, *(c for c in choices if c != picked)]
    second = second if second in seconds else NONE
    then = right.selectbox(
        "Then by", seconds, index=seconds.index(second), format_func=dimension_label, help="A second dimension"
    )
    if picked != first:
        st.query_params["p_by"] = picked
    if then != st.query_params.get("p_by2", NONE):
        if then:
            st.query_params["p_by2"] = then
        else:
            del st.query_params["p_by2"]
    return picked, then
