"""Two helpers over DuckDB 2.0's API, so results are always fully consumed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import polars as pl


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> pl.DataFrame:
    """Run a query with bound parameters and return all rows as a Polars frame."""
    result: pl.DataFrame = con.sql(sql, params=list(params)).pl()
    return result


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Run a query with bound parameters and return all rows as tuples."""
    return con.execute(sql, list(params)).fetchall()
