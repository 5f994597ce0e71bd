"""Edit forms that refuse a stale save: the record a form was opened with is kept in the session.

A page re-reads its records on every rerun, the one a Save click starts included, so a form that
named the version it finds at save time would always name the newest one: a second editor's save
from a form opened before the first one saved would overwrite it, or be dropped without a word.
``opened`` keeps the record as this session's form first showed it; the form shows that copy and
its save names that copy's version, which the core refuses if someone saved since. After a
refusal ``refused`` forgets the copy and reruns, so the form reopens on the current record (the
other person's change visible) and the message is shown above it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def opened(kind: str, record: dict[str, Any], key: str) -> dict[str, Any]:
    """The record (identified by ``record[key]``) as this session's ``kind`` form first showed it."""
    slot = f"_opened_{kind}"
    held = st.session_state.get(slot)
    if held is None or held[key] != record[key]:
        held = dict(record)
        st.session_state[slot] = held
    return dict(held)


def form_key(kind: str, record: dict[str, Any], key: str) -> str:
    """A form key per (record, opened version): a reopened form starts from the record's values."""
    return f"{kind}_{record[key]}_{record['version']}"


def saved(kind: str) -> None:
    """The save went through: the next run opens the record as it now is."""
    st.session_state.pop(f"_opened_{kind}", None)


def refused(kind: str, message: str) -> None:
    """The save was refused (e.g. someone saved since): reopen on the current record, say why."""
    st.session_state.pop(f"_opened_{kind}", None)
    st.session_state[f"_refused_{kind}"] = message
    st.rerun()


def show_refusal(kind: str) -> None:
    """The message of the last refused save of ``kind``, once."""
    if message := st.session_state.pop(f"_refused_{kind}", None):
        st.error(message)
