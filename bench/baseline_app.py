"""Framework + browser floor for bench_browser.py: one Altair bar chart of a static 30-row frame.

No store, no queries, no sidebar: the time to its first chart is what Streamlit, Altair and
Chromium cost before the app does any work of its own.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

frame = pd.DataFrame(
    {"day": pd.date_range("2026-10-01", periods=30, freq="D"), "cost": [float(i % 7 + 1) for i in range(30)]}
)
st.altair_chart(alt.Chart(frame).mark_bar().encode(x="day:T", y="cost:Q").properties(height=340), width="stretch")
