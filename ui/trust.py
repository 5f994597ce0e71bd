"""The trust line at the top of every page: how complete, fresh and reconciled the data is."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import Page

from finops_core.access import User
from ui import cache

ICONS = {
    "ok": ":material/verified:",
    "info": ":material/info:",
    "warning": ":material/warning:",
    "error": ":material/error:",
}
COLOURS = {"ok": "green", "info": "blue", "warning": "orange", "error": "red"}


def render(user: User, details: Page | None) -> None:
    """One coloured line; a link to the Data quality page for roles that have it."""
    version = cache.data_version()
    if version is None:
        return
    text, status = cache.trust_line(version, user.scope)
    left, right = st.columns([6, 1], vertical_alignment="center")
    left.markdown(f":{COLOURS[status]}[{ICONS[status]} {_escape(text)}]")
    if details is not None:
        right.page_link(details, label="Details")


def _escape(text: str) -> str:
    """Account and provider names are data: no Markdown or colour directive may come from them."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!:|<>~$" else ch for ch in text)
