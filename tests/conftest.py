"""Shared fixtures: one small demo store per test session (fixed end date, so runs are repeatable)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finops_core import store
from finops_core.demo import DemoConfig, build_demo

DEMO_END = date(2026, 10, 15)
DEMO_ROWS = 120_000


@pytest.fixture(scope="session")
def demo_config() -> DemoConfig:
    return DemoConfig(seed=7, end=DEMO_END, rows=DEMO_ROWS)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory, demo_config: DemoConfig) -> Path:
    root = tmp_path_factory.mktemp("store")
    build_demo(root, demo_config)
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
