"""Ingest (admins): upload billing exports, see what was published or why a file was refused."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import streamlit as st

from finops_core import state, store
from finops_core.allocation import ConservationError
from finops_core.ingest import SOURCES, IngestError, deliveries, ingest, live_sources
from finops_core.ingest.uploads import write_uploads
from ui import cache, tables, upload
from ui.syncpanel import sync_panel

st.title("Ingest")
st.caption(
    "FOCUS 1.0-1.4, AWS CUR (legacy or 2.0), Azure EA/MCA (actual + amortized together), GCP BigQuery "
    "export, OCI cost reports. A refused file publishes nothing; re-uploading a file already in the "
    "store changes nothing; the parts of a split export are kept together as one delivery, and a restated "
    "export of the same month and account replaces the stored delivery as a whole."
)
root = cache.store_root()
files = st.file_uploader(
    "Billing export files", accept_multiple_files=True, type=["csv", "gz", "parquet", "json", "jsonl", "ndjson"]
)
source = st.selectbox("Format", ["auto", *SOURCES], help="auto reads each file's header")
if st.button("Ingest", type="primary", disabled=not files):
    with tempfile.TemporaryDirectory() as tmp:
        try:
            paths = write_uploads(Path(tmp), [(f.name, f.getvalue()) for f in files or []])
            with st.spinner("Checking and publishing"):
                report = ingest(paths, root, source, user=st.session_state["user"].username)
        except (IngestError, store.StoreError, ConservationError) as exc:
            st.error(str(exc).replace(tmp + "/", ""), icon=":material/block:")
            state.record("ingest_refused", st.session_state["user"].username, {"error": str(exc)})
        else:
            for r in report.inputs:
                label = r.label.replace(tmp + "/", "")
                if r.skipped:
                    st.info(f"{label}: already in the store, nothing to do")
                    continue
                sums = "; ".join(
                    f"{c} billed {t['BilledCost']:,.2f}, effective {t['EffectiveCost']:,.2f}"
                    for c, t in r.totals.items()
                )
                st.success(f"{label}: {r.source}, {r.rows:,} rows published. {sums}")
                for n in r.notes:
                    st.caption(f"{label}: {n}")
                for w in r.warnings:
                    st.warning(f"{label}: {w}")
            for line in deliveries.describe_changes(report.changes):
                st.info(line)
            state.record(
                "ingest",
                st.session_state["user"].username,
                {
                    "data_version": report.data_version,
                    "inputs": [r.label.replace(tmp + "/", "") for r in report.inputs],
                },
            )
st.subheader("Invoices")
st.caption("Invoice totals to reconcile the billing rows against (see the Data quality page).")
upload.invoices_form(st.session_state["user"].username)
st.subheader("Sources in the store")
sources = live_sources(root)
if sources:
    tables.show(pl.DataFrame(sources, infer_schema_length=None), key_columns=("name",))
else:
    st.info("No ingested sources yet (the demo data is not an ingested source).")
sync_panel(root, st.session_state["user"].username)
