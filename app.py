"""The map of the app: first-run demo, the shared sidebar, and every page in st.navigation."""

from __future__ import annotations

import streamlit as st

from finops_core import store
from finops_core.demo import DemoConfig, build_demo, is_demo
from ui import cache, filters

st.set_page_config(page_title="FinOps analytics", page_icon=":material/payments:", layout="wide")


def ensure_data() -> None:
    """On first run with an empty store, build the demo company's data with visible progress."""
    root = cache.store_root()
    if store.current_version(root) is not None:
        return
    st.title("Setting up")
    st.write(
        f"The store at `{root}` is empty, so the app is building the demo company's billing data "
        "(about 1.5 million FOCUS rows; this takes a few seconds once)."
    )
    bar = st.progress(0.0, text="Starting")
    try:
        build_demo(root, DemoConfig(), lambda f, msg: bar.progress(min(f, 1.0), text=f"Generating {msg}"))
    except store.StoreError as exc:
        st.error(f"Could not build the demo store: {exc}")
        st.stop()
    st.rerun()


ensure_data()
root = cache.store_root()
with st.sidebar:
    st.markdown("### FinOps analytics")
    if is_demo(root):
        st.badge("Demo data: a fictional company", icon=":material/science:", color="orange")
selection = filters.sidebar()
st.session_state["selection"] = selection
pages = [st.Page("views/spend.py", title="Spend", icon=":material/bar_chart:", url_path="spend", default=True)]
st.navigation(pages).run()
