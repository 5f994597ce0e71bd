"""Uncaught errors: the browser gets one sentence that says what to do, the server log the traceback.

``.streamlit/config.toml`` sets ``client.showErrorDetails = "none"`` as the backstop (Streamlit then
shows only a generic message); ``guarded`` is what turns an error into advice. Streamlit's own
control flow (``st.rerun``, ``st.stop``, ``st.switch_page``) raises BaseExceptions, which pass through.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool

import duckdb
import streamlit as st

from finops_core import store
from finops_core.query import QueryError

log = logging.getLogger("finops.app")
if not log.handlers:  # Streamlit configures only its own loggers; without this the traceback could be lost
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(_handler)


def sentence(exc: Exception, ref: str) -> str:
    """What went wrong, in words a user can act on (messages of our own errors only: others may name
    files, SQL or internals)."""
    if isinstance(exc, QueryError):
        return f"This request cannot be answered: {exc}. Change the filters or the period in the sidebar."
    if isinstance(exc, (MemoryError, BrokenProcessPool)):
        return (
            "The server ran out of memory on this page. Narrow the selection in the sidebar (fewer teams, "
            f"a shorter period) and reload; if it keeps happening, tell the FinOps team (reference {ref})."
        )
    if isinstance(exc, (store.StoreError, duckdb.IOException, OSError)):
        return (
            "The billing data could not be read. Reload the page in a minute (a new data load may be in "
            f"progress); if it keeps happening, ask an admin to check the data store (reference {ref})."
        )
    return (
        "Something went wrong on this page. Reload it; if it happens again, tell the FinOps team the "
        f"reference {ref} (the server log has the details)."
    )


def guarded(run: Callable[[], object], where: str) -> None:
    """``run()``; an exception is logged with its traceback and a reference, and shown as a sentence."""
    try:
        run()
    except Exception as exc:
        ref = uuid.uuid4().hex[:8]
        log.exception("%s failed (reference %s)", where, ref)
        st.error(sentence(exc, ref), icon=":material/error:")
