"""A real app server and a signed-in browser page, for the browser tests and the reliability bench.

No side effects on import (tests/conftest.py sets the test session's environment; the bench sets
its own)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        import pytest

        pytest.skip("Debian's chromium is not installed (./dev test installs it when run as root)")
    return path


@contextlib.contextmanager
def serve_app(store_root: Path, env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[str]:
    """A real ``streamlit run app.py`` on a free localhost port over ``store_root``; yields its URL
    once healthy. ``env`` overrides the environment (e.g. its own ``FINOPS_STATE``); ``log`` keeps
    the server's stdout and stderr."""
    port = _free_port()
    full = os.environ | {"FINOPS_STORE": str(store_root)} | (env or {})
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT,
        env=full,
        stdout=out,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("streamlit did not come up")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a server busy with a run may not stop in time
            proc.kill()
            proc.wait(timeout=30)
        if log:
            out.close()  # type: ignore[union-attr]


def login(page: object, base_url: str, username: str, password: str, timeout_ms: int = 60_000) -> None:
    """Sign in through the login form and wait for the first page to render."""
    p: Any = page
    p.goto(base_url)
    p.get_by_role("textbox", name="Username").wait_for(timeout=timeout_ms)
    p.get_by_role("textbox", name="Username").fill(username)
    p.get_by_role("textbox", name="Password").fill(password)
    p.get_by_role("button", name="Log in").click()
    p.wait_for_selector('[data-testid="stMetricValue"]', timeout=timeout_ms)
