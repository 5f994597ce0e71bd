"""The budget editor (finance, admin): a team x month grid of one currency and fiscal year, a file
upload that replaces every line, and the versions. Each save is validated, scope-checked, versioned
and audited by ``finops_core.budgets``."""

from __future__ import annotations

import polars as pl
import streamlit as st

from finops_core import budget_grid, budget_periods, budgets
from ui import tables
from ui.format import column_format


def _months(fy: str, fiscal_start: int) -> list[str]:
    start, end = budget_periods.range_of(fy, fiscal_start)
    out, y, m = [], start.year, start.month
    for _ in range(budget_periods.months_in(start, end)):
        out.append(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def render(currency: str, fiscal_years: list[str], fiscal_start: int) -> None:
    """The editor expander; ``fiscal_years`` offered in the grid (current and next)."""
    user = st.session_state["user"]
    with st.expander("Edit budgets"):
        a, b = st.columns(2)
        fy = a.selectbox("Fiscal year", fiscal_years, key="bud_fy_pick")
        b.caption(
            f"Team budgets in {currency} per month; an empty cell is no budget. Quarter, product and "
            "sub-account lines and other currencies are kept as they are (replace them with a file)."
        )
        months = _months(fy, fiscal_start)
        current = budgets.current()
        grid = budget_grid.to_grid(current, currency, months)
        fmt = column_format(currency)
        edited = st.data_editor(
            grid,
            num_rows="dynamic",
            width="stretch",
            key=f"bud_grid_{fy}_{currency}",
            column_config={
                "team": st.column_config.TextColumn("Team", required=True, pinned=True),
                **{m: st.column_config.NumberColumn(m, min_value=0.0, format=fmt) for m in months},
            },
        )
        upload = st.file_uploader(
            "Replace all budgets from a CSV or YAML file", type=["csv", "yaml", "yml"], key="bud_up"
        )
        try:
            if st.button("Save grid", key="bud_save", type="primary"):
                lines = budget_grid.from_grid(pl.DataFrame(edited), current, currency, months)
                budget_grid.check_scope(current, lines, user.scope)
                changed = len(budget_grid.changed_teams(current, lines))
                version = budgets.save(lines, user.username, "budget grid")
                st.success(f"Saved version {version} ({lines.height} lines; {changed} teams changed).")
            if upload is not None and st.button("Load file", key="bud_load"):
                lines = budgets.parse_upload(upload.getvalue(), upload.name)
                budget_grid.check_scope(current, lines, user.scope)
                st.success(f"Saved version {budgets.save(lines, user.username, upload.name)} ({lines.height} lines).")
        except budgets.BudgetError as exc:
            st.error("Not saved:\n\n" + "\n".join(f"- {e}" for e in exc.errors))
        versions = budgets.versions()
        tables.show(versions, key_columns=versions.columns[:1], key="bud_versions")
