"""Which engine runs the publish-time aggregations: DuckDB (the default) or Apache Spark.

``FINOPS_ENGINE`` (read here and nowhere else) picks it: ``duckdb`` or ``spark``. Each
transform is written once, in DuckDB SQL; with ``spark`` that text is transpiled with sqlglot
and run on a SparkSession (``engines.spark``), which writes Parquet that DuckDB then loads into
the version's rollups, so the published layout is the same whichever engine built it.
What runs on Spark and what stays DuckDB-only: docs/spark.md.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import duckdb

ENV = "FINOPS_ENGINE"
ENGINES = ("duckdb", "spark")


class EngineError(Exception):
    """The configured engine cannot run; the message says what to set or install."""


def selected() -> str:
    """The engine named by ``$FINOPS_ENGINE`` (default ``duckdb``)."""
    name = os.environ.get(ENV, "").strip().lower() or "duckdb"
    if name not in ENGINES:
        raise EngineError(f"{ENV}={name!r} is not one of {', '.join(ENGINES)}")
    return name


@contextlib.contextmanager
def built(con: duckdb.DuckDBPyConnection, select: str) -> Iterator[str]:
    """A DuckDB SELECT with the rows of ``select`` (DuckDB SQL over ``read_parquet`` sources and
    tables of ``con``): ``select`` itself, or with the Spark engine a read of what Spark wrote
    running it, valid inside the block (the files are removed after it)."""
    if selected() == "duckdb":
        yield select
        return
    from finops_core.engines import spark

    with spark.run(con, select) as source:
        yield source
