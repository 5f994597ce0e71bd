"""Audit log (admins): sign-ins, failed sign-ins, downloads, ingests and changes, newest first."""

from __future__ import annotations

import polars as pl
import streamlit as st

from finops_core import state
from ui import tables

st.title("Audit log")
left, right, _ = st.columns([2, 2, 3])
action = left.selectbox("Action", ["(all)", *state.audit_actions()])
who = right.text_input("User", placeholder="any")
log = state.audit_log(action=None if action == "(all)" else action, username=who.strip().lower() or None)
if log.is_empty():
    st.info("No audit events match.")
else:
    st.caption(f"{log.height:,} events (newest first; at most 10,000 shown).")
    shown = log.with_columns(pl.col("at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC"))
    tables.show(shown, key_columns=("at",), first=("username", "action"))
    tables.downloads(log, "audit-log", "audit")
