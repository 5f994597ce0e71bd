"""The first run on an empty store: one demo build per server process, in the background.

The build runs in its own thread, started by the first visitor and shared by every session (it
goes on when the visitor's browser leaves, and a second visitor watches it rather than starting
another build). Each session shows its progress and reruns until the store is published.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from finops_core import state, store
from finops_core.demo import DemoConfig, build_demo

STARTED = 0.02  # drawn from the first second, so the bar is visibly there before the first period


@dataclass
class Build:
    """Progress of the one background build: a fraction, a message, an error once it failed."""

    progress: float = STARTED
    message: str = "Starting the generator"
    error: str = ""
    done: bool = False
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, fraction: float, message: str) -> None:
        with self.lock:
            self.progress, self.message = min(fraction, 1.0), message

    def _step(self, fraction: float, message: str) -> None:
        # the generator reports a period as it starts; after the last one, the rollups are built
        last = fraction >= 1.0 - 1.0 / 20 and message != "done"
        self.report(max(fraction, STARTED), f"Generating {message}" + ("; then the rollups" if last else ""))

    def run(self, root: Path) -> None:
        try:
            build_demo(root, DemoConfig(), self._step)
            state.record("demo_build", "system", {"store": str(root), "data_version": store.current_version(root)})
        except Exception as exc:  # shown to every waiting session; the server log has the traceback
            with self.lock:
                self.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.done = True


@st.cache_resource(show_spinner=False)
def _build(root: str) -> Build:
    build = Build()
    threading.Thread(target=build.run, args=(Path(root),), name="demo-build", daemon=True).start()
    return build


def wait_for_demo(root: Path, poll_seconds: float = 1.0) -> bool:
    """Show the build's progress; True once the thread has finished (published or failed)."""
    build = _build(str(root))
    st.title("Setting up")
    st.write(
        f"The store at `{root}` is empty, so the app is building the demo company's billing data "
        "(about 1.5 million FOCUS rows, 25 billing periods, then the rollups). It takes one to two "
        "minutes on two free cores, longer on a busy machine (66 s was seen on a loaded one), and "
        "happens once. You can leave this page open or come back: the build goes on either way."
    )
    with build.lock:
        progress, message, error = build.progress, build.message, build.error
        elapsed = time.monotonic() - build.started
    st.progress(progress, text=f"{message} · {elapsed:.0f} s so far")
    if error:
        st.error(f"Could not build the demo store: {error}. Check the server log, then restart the app.")
        return True
    if build.done:
        return True
    time.sleep(poll_seconds)
    st.rerun()
    return False
