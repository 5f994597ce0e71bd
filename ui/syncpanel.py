"""The Ingest page's export sync panel (admins): sources.yaml, a sync now, and the sync history."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from finops_core.sync import history, runner, sources
from ui import tables


def sync_panel(root: Path, username: str) -> None:
    st.subheader("Export sync")
    path = sources.sources_path()
    st.caption(
        f"Sources in `{path}` (docs/sync.md): where each cloud writes its exports, the format and a schedule "
        "(`python -m finops_core worker`, or `sync --all` from cron). Credentials come from the server's "
        "environment or provider config files, never from this file."
    )
    text = path.read_text() if path.exists() else "sources: []\n"
    edited = st.text_area("sources.yaml", text, height=220, key="sources_yaml")
    save, now = st.columns([1, 1])
    if save.button("Save sources", disabled=edited == text):
        try:
            config = sources.save(edited, path)
        except sources.SourcesError as exc:
            st.error(str(exc), icon=":material/block:")
        else:
            st.success(f"Saved {len(config.sources)} source(s) and {len(config.digests)} digest(s) to {path}.")
    if now.button("Sync all sources now"):
        try:
            configured = sources.load(path)
            with st.spinner("Listing, downloading and publishing"):
                outcomes = runner.sync(list(configured.sources), root, user=username)
        except (sources.SourcesError, runner.SyncError) as exc:
            st.error(str(exc), icon=":material/block:")
        else:
            for o in outcomes:
                line = (
                    f"{o.source}: {o.seen} seen, {o.ingested} ingested, {o.skipped} skipped, {len(o.refused)} refused"
                )
                (st.success if o.status == "ok" else st.warning)(line + "".join(f"\n\n{r}" for r in o.refused))
                if o.error:
                    st.error(f"{o.source}: {o.error}")
    runs = history.runs()
    if runs.is_empty():
        st.info("No sync has run yet.")
        return
    shown = runs.drop("id")
    tables.show(shown, key_columns=shown.columns[:1], key="sync_runs")
