"""Upload widgets shared by pages: invoices (Data quality and Ingest pages)."""

from __future__ import annotations

import streamlit as st

from finops_core import state
from finops_core.trust import invoices


def invoices_form(username: str) -> None:
    """Replace the invoices in force with a validated CSV/XLSX (saved as a new version, audited)."""
    with st.expander("Upload invoices (CSV or XLSX)"):
        st.caption(f"Columns: {', '.join(invoices.COLUMNS)}. A file with any error is refused whole.")
        file = st.file_uploader("Invoices file", type=["csv", "xlsx"], key="invoice_file")
        if file is not None and st.button("Check and save", key="invoice_save"):
            try:
                lines = invoices.parse(file.getvalue(), file.name)
            except invoices.InvoiceError as exc:
                st.error("\n".join(f"- {e}" for e in exc.errors[:20]), icon=":material/block:")
                state.record("invoices_refused", username, {"file": file.name, "errors": len(exc.errors)})
            else:
                number = invoices.save(lines, username, file.name)
                st.success(f"{file.name}: {lines.height} invoice lines saved as version {number}.")
