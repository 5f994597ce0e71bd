"""Shared fixtures: one small demo store per test session (fixed end date, so runs are repeatable),
and a real app server and headless Chromium for the browser tests (tests/e2e, tests/reliability)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finops_core import access, store
from finops_core.demo import DemoConfig, build_demo
from tests.browser import CHROMIUM_FLAGS, ROOT, chromium_path, login, serve_app

__all__ = ["CHROMIUM_FLAGS", "ROOT", "login", "serve_app"]

DEMO_END = date(2026, 10, 15)
DEMO_ROWS = 120_000
DEMO_PASSWORD = "test-password-123"

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
