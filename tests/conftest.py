"""Shared fixtures: one small demo store per test session (fixed end date, so runs are repeatable),
and a real app server and headless Chromium for the browser tests (tests/e2e, tests/reliability)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from finops_core import access, store
from finops_core.demo import DemoConfig, build_demo

DEMO_END = date(2026, 10, 15)
DEMO_ROWS = 120_000
DEMO_PASSWORD = "test-password-123"
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

# Tests never touch the developer's data/state: users file, cookie key and audit log go to a temp folder.
os.environ["FINOPS_STATE"] = tempfile.mkdtemp(prefix="finops-state-")
atexit.register(shutil.rmtree, os.environ["FINOPS_STATE"], True)
os.environ["FINOPS_DEMO_PASSWORD"] = DEMO_PASSWORD
os.environ.pop("FINOPS_AUTH_FILE", None)


@pytest.fixture(scope="session")
def demo_config() -> DemoConfig:
    return DemoConfig(seed=7, end=DEMO_END, rows=DEMO_ROWS)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory, demo_config: DemoConfig) -> Path:
    root = tmp_path_factory.mktemp("store")
    build_demo(root, demo_config)
    users = access.users_path()
    if not users.exists():
        access.create_demo_users(users, DEMO_PASSWORD)
    return root


@pytest.fixture(scope="session")
def demo_rows(demo_store: Path) -> pl.DataFrame:
    """Every snapshot row, read straight from the Parquet files (independent of the query layer)."""
    return pl.read_parquet(store.partition_files(demo_store))


@pytest.fixture()
def con(demo_store: Path):  # type: ignore[no-untyped-def]
    c = store.connect(demo_store)
    yield c
    c.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
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
        proc.wait(timeout=20)
        if log:
            out.close()  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def app_url(demo_store: Path) -> Iterator[str]:
    with serve_app(demo_store) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def login(page: object, base_url: str, username: str, password: str) -> None:
    """Sign in through the login form and wait for the first page to render."""
    p: Any = page
    p.goto(base_url)
    p.get_by_role("textbox", name="Username").wait_for(timeout=60_000)
    p.get_by_role("textbox", name="Username").fill(username)
    p.get_by_role("textbox", name="Password").fill(password)
    p.get_by_role("button", name="Log in").click()
    p.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)
