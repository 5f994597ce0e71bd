"""The map of the app: first-run demo, the login gate, the shared sidebar and every page per role."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

import streamlit as st

from finops_core import access, state, store
from finops_core.demo import is_demo
from finops_core.ingest import live_sources
from ui import auth, cache, errors, filters, firstrun, trust

st.set_page_config(page_title="FinOps analytics", page_icon=":material/payments:", layout="wide")

PAGES = {  # key in access.PAGE_ROLES -> (file, title, icon)
    "overview": ("views/overview.py", "Overview", ":material/dashboard:"),
    "spend": ("views/spend.py", "Spend", ":material/bar_chart:"),
    "variance": ("views/variance.py", "Variance", ":material/difference:"),
    "digest": ("views/digest.py", "Weekly digest", ":material/mail:"),
    "commitments": ("views/commitments.py", "Commitments", ":material/handshake:"),
    "anomalies": ("views/anomalies.py", "Anomalies", ":material/crisis_alert:"),
    "savings": ("views/savings.py", "Savings", ":material/savings:"),
    "allocation": ("views/allocation.py", "Allocation & tagging", ":material/account_tree:"),
    "forecast": ("views/forecast.py", "Forecast & budgets", ":material/trending_up:"),
    "unit": ("views/unit.py", "Unit economics", ":material/price_check:"),
    "quality": ("views/quality.py", "Data quality", ":material/fact_check:"),
    "ingest": ("views/ingest.py", "Ingest", ":material/upload_file:"),
    "audit": ("views/audit.py", "Audit log", ":material/policy:"),
    "users": ("views/users.py", "Users", ":material/group:"),
}


def ensure_demo_users() -> None:
    """A demo store needs demo users: create them once and print their passwords once."""
    path = auth.users_file()
    chosen = os.environ.get("FINOPS_DEMO_PASSWORD")
    plain = access.create_demo_users_once(path, chosen)
    if plain is None:
        return
    if chosen:  # the operator knows it; a password never goes to a log it did not come from
        print(f"Demo users written to {path}: {', '.join(plain)}, password from FINOPS_DEMO_PASSWORD.", flush=True)
        return
    lines = [f"  {u:8s} {p}" for u, p in plain.items()]
    print(f"Demo users written to {path}. Passwords (shown once):", *lines, sep="\n", file=sys.stdout, flush=True)


def ensure_data() -> None:
    """On first run with an empty store, build the demo company's data with visible progress."""
    root = cache.store_root()
    if store.current_version(root) is None:
        if not firstrun.wait_for_demo(root) or store.current_version(root) is None:
            st.stop()
        ensure_demo_users()
        st.rerun()
    elif store.is_outdated(root):
        # rollups from an older release (or rules format): rebuild them from the same rows
        with st.spinner("Updating this store's rollups to the current release (no re-ingest)..."):
            try:
                version = store.rebuild(root, note="rebuild: rollups from an older release")
            except (store.StoreError, ValueError) as exc:
                st.error(f"The store at `{root}` needs a rebuild, which failed: {exc}")
                st.stop()
        state.record("rebuild", "system", {"store": str(root), "data_version": version})
    if is_demo(root):
        ensure_demo_users()


def main() -> None:
    """Everything after the page config; each page runs inside its own guard, so a failing page still
    leaves the sidebar and the navigation usable."""
    ensure_data()
    demo = is_demo(cache.store_root())
    if not st.session_state.get("authentication_status"):
        # a link to a page (/spend?...) opened signed out: the login run drops the path, so keep it
        path = urlsplit(st.context.url or "").path.strip("/").rsplit("/", 1)[-1]
        if path in PAGES:
            st.session_state["_deep_link"] = path
    try:
        user = auth.gate(demo)
    except access.AccessError as exc:
        st.error(str(exc))
        st.stop()
    with st.sidebar:
        st.markdown("### FinOps analytics")
        if demo:
            ingested = len(live_sources(cache.store_root()))
            label = "Demo data: a fictional company" + (f", plus {ingested} ingested file(s)" if ingested else "")
            st.badge(label, icon=":material/science:", color="orange")
        scope_note = (
            "all data"
            if user.sees_all
            else "scope: " + ", ".join((user.scope.teams or ()) + (user.scope.sub_accounts or ()))
        )
        st.caption(f"Signed in as **{user.name}** ({user.role}; {scope_note})")
        auth.logout_button()
    st.session_state["user"] = user
    st.session_state["selection"] = filters.sidebar(user.scope)
    allowed = [key for key, roles in access.PAGE_ROLES.items() if user.role in roles]
    pages = {
        k: st.Page(PAGES[k][0], title=PAGES[k][1], icon=PAGES[k][2], url_path=k, default=k == "overview")
        for k in allowed
    }
    page = st.navigation(list(pages.values()))
    wanted = st.session_state.pop("_deep_link", None)
    if wanted in pages and pages[wanted] is not page:
        st.switch_page(pages[wanted], query_params={k: st.query_params.get_all(k) for k in st.query_params})
    errors.guarded(lambda: trust.render(user, pages.get("quality")), "trust line")
    errors.guarded(page.run, f"page {page.title!r}")


errors.guarded(main, "app")
