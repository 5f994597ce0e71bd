"""Users (admins): add users, set roles and scopes, reset passwords. Passwords are hashed on save."""

from __future__ import annotations

import polars as pl
import streamlit as st

from finops_core import access, state
from finops_core.query import Scope
from finops_core.schema import C
from ui import auth, cache, filters, tables

st.title("Users")
doc, users = auth.load()
tables.show(
    pl.DataFrame(
        [
            {
                "username": u.username,
                "name": u.name,
                "email": u.email,
                "role": u.role,
                "teams": ", ".join(u.scope.teams or ()),
                "sub accounts": ", ".join(u.scope.sub_accounts or ()),
            }
            for u in users.values()
        ]
    ),
    key_columns=("username",),
)
sel = st.session_state["selection"]
version = cache.data_version() or ""
teams = filters.options_for(version, C.x_Team, sel.data_start, sel.data_end)
subs = filters.options_for(version, C.SubAccountId, sel.data_start, sel.data_end)

st.subheader("Add or change a user")
existing = st.selectbox("User", ["(new user)", *users], key="u_pick")
current = users.get(existing)
with st.form("user_form", clear_on_submit=False):
    username = st.text_input("Username", value=current.username if current else "", disabled=current is not None)
    name = st.text_input("Name", value=current.name if current else "")
    email = st.text_input("Email", value=current.email if current else "")
    role = st.selectbox("Role", access.ROLES, index=access.ROLES.index(current.role) if current else 3)
    scope_teams = st.multiselect(
        "Teams (viewer scope)", teams, default=[t for t in (current.scope.teams or ()) if t in teams] if current else []
    )
    scope_subs = st.multiselect(
        "Sub accounts (viewer scope)",
        subs,
        default=[s for s in (current.scope.sub_accounts or ()) if s in subs] if current else [],
    )
    password = st.text_input(
        "New password" if current else "Password",
        type="password",
        help="At least 8 characters. Leave empty to keep the current password."
        if current
        else "At least 8 characters.",
    )
    saved = st.form_submit_button("Save", type="primary")
if saved:
    target = current.username if current else username
    scope = Scope(tuple(scope_teams) or None, tuple(scope_subs) or None)
    try:
        access.save_user(auth.users_file(), target, name, email, role, scope, password or None)
    except access.AccessError as exc:
        st.error(f"Not saved: {exc}")
    else:
        state.record(
            "user_change",
            st.session_state["user"].username,
            {"target": target.strip().lower(), "role": role, "scope": scope.key(), "password_reset": bool(password)},
        )
        st.success(f"Saved {target}.")
        st.rerun()

st.subheader("Remove a user")
me = st.session_state["user"].username
removable = [u for u in users if u != me]
with st.form("remove_user"):
    gone = st.selectbox("User to remove", removable, index=None, placeholder="pick a user")
    sure = st.checkbox("Yes, remove this user (their sign-in stops at their next page load)")
    remove = st.form_submit_button("Remove")
if remove:
    if not gone or not sure:
        st.error("Not removed: pick a user and tick the confirmation.")
    else:
        try:
            access.remove_user(auth.users_file(), gone, me)
        except access.AccessError as exc:
            st.error(f"Not removed: {exc}")
        else:
            state.record("user_remove", me, {"target": gone, "role": users[gone].role})
            st.rerun()
