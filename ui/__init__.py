"""Streamlit-only helpers: caching, sidebar filters, charts and table downloads."""
