"""Saved views on the Spend page: save the current URL parameters under a name, open or delete
one, and share it as a link (``?view=<id>``). Opening goes through the sidebar again, so the
opener's scope applies (``filters.sidebar`` drops filter values outside it and says so)."""

from __future__ import annotations

import streamlit as st

from finops_core import saved_views
from finops_core.access import User

WIDGET_PREFIXES = ("f_", "p_")  # the sidebar's and the page's widget keys


def _reset_widgets() -> None:
    """Widgets keep their own state after the first run; forget it so they read the new URL."""
    for key in [k for k in st.session_state if str(k).startswith(WIDGET_PREFIXES)]:
        del st.session_state[key]


def open_params(params: dict[str, list[str]]) -> None:
    st.query_params.from_dict({k: v if len(v) > 1 else v[0] for k, v in params.items() if v})
    _reset_widgets()


def apply_shared_link() -> str | None:
    """If the URL names a saved view (``?view=<id>``), replace the URL with its parameters; the
    view's name (None when there is none), or raises ``SavedViewError``."""
    raw = st.query_params.get("view")
    if raw is None:
        return None
    try:
        view_id = int(raw)
    except ValueError as exc:
        raise saved_views.SavedViewError(f"view: {raw!r} is not a view number") from exc
    owner, name, params = saved_views.load(view_id)
    open_params(params)
    st.session_state["opened_view"] = f"{name} (saved by {owner})"
    return name


def current_params() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params if k != "view"}


def panel(user: User) -> None:
    """The 'Saved views' expander: save the current view, open, share or delete one of yours."""
    mine = saved_views.views(user.username)
    opened = st.session_state.pop("opened_view", None)
    if opened:
        st.success(f"Opened saved view {opened}, within your access.")
    with st.expander(f"Saved views ({len(mine)})", icon=":material/bookmark:"):
        with st.form("save_view", clear_on_submit=True, border=False):
            name = st.text_input("Name this view", max_chars=saved_views.MAX_NAME, key="sv_name")
            if st.form_submit_button("Save view"):
                try:
                    view_id = saved_views.save(user.username, name, current_params())
                except saved_views.SavedViewError as exc:
                    st.error(str(exc))
                else:
                    st.success(f"Saved '{name.strip()}'. Share it: [spend?view={view_id}](./spend?view={view_id})")
        if not mine:
            st.caption("No saved views yet.")
            return
        labels = {i: f"{n} (saved {t[:10]})" for i, n, t in mine}
        chosen = st.selectbox("Your views", list(labels), format_func=labels.__getitem__, key="sv_pick")
        st.caption(f"Link: [spend?view={chosen}](./spend?view={chosen})")
        with st.container(horizontal=True):
            if st.button("Open", key="sv_open"):
                _, _, params = saved_views.load(chosen)
                open_params(params)
                st.rerun()
            if st.button("Delete", key="sv_delete"):
                saved_views.delete(user.username, chosen)
                st.rerun()
