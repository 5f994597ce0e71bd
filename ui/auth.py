"""The login gate (streamlit-authenticator 0.4), the signed-in user, logout and audit hooks.

Nothing renders for a visitor who is not signed in except the login form: ``gate()`` stops the
script otherwise. Roles and scopes come from the users file on every run, so a change by an
admin applies at the next rerun.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import streamlit as st

from finops_core import access, logins, state
from finops_core.access import User

if TYPE_CHECKING:
    import streamlit_authenticator as stauth


def cookie_key() -> str:
    """From ``.streamlit/secrets.toml`` ([auth] cookie_key) or ``$FINOPS_COOKIE_KEY``; else a random
    key generated once into the state folder. Never a constant in code."""
    try:
        key = st.secrets["auth"]["cookie_key"]
    except (KeyError, FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        key = None
    return str(key or os.environ.get("FINOPS_COOKIE_KEY") or access.ensure_cookie_key(access.state_dir()))


def users_file() -> Path:
    try:
        configured = st.secrets["auth"]["users_file"]
    except (KeyError, FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        configured = None
    return access.users_path(configured)


@st.cache_data(show_spinner=False)
def _load(path: str, mtime: float) -> tuple[dict[str, Any], dict[str, User]]:
    return access.load_users(Path(path))


def load() -> tuple[dict[str, Any], dict[str, User]]:
    path = users_file()
    try:
        return _load(str(path), path.stat().st_mtime)
    except FileNotFoundError as exc:
        raise access.AccessError(f"{path}: no users file; see README (Access)") from exc


def _authenticator(doc: dict[str, Any]) -> stauth.Authenticate:
    import streamlit_authenticator as stauth  # only for logging in and out: returning users skip the import

    cookie = doc.get("cookie") or {}
    return stauth.Authenticate(
        access.credentials(doc),
        cookie.get("name", access.COOKIE_NAME),
        cookie_key(),
        float(cookie.get("expiry_days", access.COOKIE_EXPIRY_DAYS)),
        auto_hash=False,
        login_sleep_time=0,
    )


def _login_form(authenticator: stauth.Authenticate, demo: bool) -> None:
    st.title("FinOps analytics")
    with st.form("login"):
        st.subheader("Sign in")
        username = st.text_input("Username", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Log in", type="primary")
    if demo:
        st.info(
            "This instance runs on demo data. Demo users: `admin`, `finops`, `finance`, `viewer` "
            "(scoped to the payments team). Their passwords were printed once in the terminal that "
            "first started the app, or set with FINOPS_DEMO_PASSWORD."
        )
    if submitted:
        typed = username.strip().lower() or "(blank)"
        until = logins.locked_until(typed)
        if until is not None:  # checked before the password: a locked name cannot be guessed at
            st.error(logins.refuse_locked(typed, until))
            return
        if password and authenticator.authentication_controller.login(typed, password):
            state.record("login", typed)
            st.session_state["_cookie_pending"] = True  # set in the next, complete run (see gate)
            st.rerun()
        until = logins.record_failure(typed)
        st.error(logins.LOCKED_MESSAGE.format(until=until) if until else "Wrong username or password.")


def gate(demo: bool) -> User:
    """The signed-in user; shows the login form and stops the script for anyone else.

    A returning browser is signed in from its cookie on the server side (the same signed token
    streamlit-authenticator writes), so the authenticator and its cookie component, which costs a
    browser round trip and a rerun, are only built to log in, set or delete the cookie.
    """
    doc, users = load()
    username = st.session_state.get("username")
    if st.session_state.get("sign_out") and st.session_state.get("authentication_status"):
        # the sidebar's Log out button was pressed: sign out before anything else renders
        authenticator = _authenticator(doc)
        authenticator.logout(location="unrendered")
        state.record("logout", str(username))
        _login_form(authenticator, demo)
        st.stop()
    if not st.session_state.get("authentication_status"):
        username = _from_cookie(doc)
        if username in users:
            st.session_state.update(
                authentication_status=True,
                username=username,
                name=users[username].name,
                roles=[users[username].role],
                logout=False,
            )
    if st.session_state.get("authentication_status") and username in users:
        if st.session_state.pop("_cookie_pending", False):
            # The cookie is written by a browser component, which only reaches the page in a run
            # that is not cut short by st.rerun(): so it is set here, not in the login handler.
            _authenticator(doc).cookie_controller.set_cookie()
        return users[username]
    _login_form(_authenticator(doc), demo)
    st.stop()
    raise AssertionError("unreachable")


def _from_cookie(doc: dict[str, Any]) -> str | None:
    """The username in a valid, unexpired, unrevoked login cookie, else None."""
    if st.session_state.get("logout"):
        return None
    cookie = doc.get("cookie") or {}
    raw = st.context.cookies.get(cookie.get("name", access.COOKIE_NAME))
    if not raw:
        return None
    try:
        token = jwt.decode(raw, cookie_key(), algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    username = str(token.get("username", ""))
    if float(token.get("exp_date", 0)) <= datetime.now(UTC).timestamp() or _revoked(doc, username, token):
        return None
    return username


def _revoked(doc: dict[str, Any], username: str, token: dict[str, Any]) -> bool:
    """A cookie issued before the user's last logout no longer signs them in (server-side revocation;
    the browser's copy of the cookie is deleted asynchronously and may outlive the logout briefly)."""
    days = float((doc.get("cookie") or {}).get("expiry_days", access.COOKIE_EXPIRY_DAYS))
    issued = datetime.fromtimestamp(float(token["exp_date"]) - days * 86400, UTC)
    logged_out = state.last_logout(username)
    return logged_out is not None and issued <= logged_out


def logout_button() -> None:
    """The Log out button. Pressing it reruns the script, and ``gate()`` signs out at the top of that
    run: clears the session, deletes the cookie through the authenticator's browser component (which
    must render in a run not cut short by ``st.rerun()``), audits, and shows the login form. Its key
    must not be ``logout``, which is streamlit-authenticator's own session flag."""
    st.sidebar.button("Log out", key="sign_out")  # handled at the top of the next run, in gate()


def audit_download(name: str, rows: int | None = None) -> None:
    """on_click hook of every download button: who exported what (and how many rows, for tables)."""
    detail: dict[str, object] = {"file": name} | ({"rows": rows} if rows is not None else {})
    state.record("download", st.session_state.get("username") or "(unknown)", detail)
