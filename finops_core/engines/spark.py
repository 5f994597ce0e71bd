"""Run one aggregation written in DuckDB SQL on Apache Spark, for DuckDB to load what it wrote.

The SQL is the very text the DuckDB path runs: sqlglot transpiles it from the DuckDB dialect to
Spark SQL (``regexp_matches`` becomes ``RLIKE``; ``GROUP BY ALL`` stays). Its sources are put
where Spark can read them first: each ``read_parquet([...])`` becomes a temporary view over those
files, and each table of the DuckDB connection it names (``tag_map``, built in Python) is copied
to a Parquet file read as a view of its own. Spark writes the result as Parquet in a work folder
beside the rollup database; DuckDB creates the rollup table from it, so the published version is
the same whichever engine built it. One SparkSession per process: ``FINOPS_SPARK_MASTER``
(default ``local[*]``) picks its master when it is started.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from finops_core import db
from finops_core.allocation import literal
from finops_core.engines import EngineError

MASTER_ENV = "FINOPS_SPARK_MASTER"
DEFAULT_MASTER = "local[*]"
INSTALL = "pip install pyspark==4.1.4 (it is in requirements-dev.txt) and a Java 17 runtime (apt-get install openjdk-17-jre-headless)"
# Dates are cut from UTC timestamps, as the DuckDB build does (SET TimeZone = 'UTC').
CONF = {"spark.sql.session.timeZone": "UTC", "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}


@dataclass(frozen=True)
class SparkQuery:
    """A DuckDB SELECT in Spark SQL, with the views it reads: ``parquet`` (view -> files) and
    ``tables`` (view -> the DuckDB table to copy)."""

    sql: str
    parquet: dict[str, list[str]]
    tables: dict[str, str]


def transpile(select: str, suffix: str = "") -> SparkQuery:
    """``select`` (DuckDB SQL) as Spark SQL over temporary views named ``<kind>_<hash><suffix>``."""
    tree = sqlglot.parse_one(select, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    parquet: dict[str, list[str]] = {}
    tables: dict[str, str] = {}
    for node in list(tree.find_all(exp.Table)):
        source = node.this
        if isinstance(source, exp.ReadParquet):
            files = _files(source)
            view = f"parquet_{_digest(files)}{suffix}"
            parquet[view] = files
            alias = "read_parquet"  # DuckDB's name for an unaliased read_parquet
        elif isinstance(source, exp.Identifier):
            if not node.db and node.name in ctes:
                continue
            name = ".".join(part.name for part in node.parts)
            view = f"{name.replace('.', '_')}{suffix}"
            tables[view] = name
            alias = node.name
        else:
            raise EngineError(f"Spark engine: no Spark source for {node.sql(dialect='duckdb')[:200]}")
        if not node.alias:
            node.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        for part in ("catalog", "db"):
            node.set(part, None)
        node.set("this", exp.to_identifier(view))
    return SparkQuery(tree.sql(dialect="spark"), parquet, tables)


def _files(read: exp.ReadParquet) -> list[str]:
    """The file paths of a ``read_parquet`` call that has no options (hive partitioning and the like)."""
    files: list[str] = []
    for arg in read.expressions:
        items = arg.expressions if isinstance(arg, exp.Array) else [arg]
        for item in items:
            if not (isinstance(item, exp.Literal) and item.is_string):
                raise EngineError(
                    f"Spark engine: read_parquet argument {item.sql(dialect='duckdb')} is not a file path"
                )
            files.append(item.this)
    return files


def _digest(files: list[str]) -> str:
    return hashlib.sha256("\n".join(files).encode()).hexdigest()[:12]


def java_found() -> bool:
    """A ``java`` on PATH or in ``$JAVA_HOME/bin``: what pyspark starts its JVM with."""
    java_home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java")) or bool(java_home and (Path(java_home) / "bin" / "java").exists())


def session(conf: Mapping[str, str] | None = None) -> Any:
    """The process's SparkSession, started on first use with ``CONF`` and ``conf``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise EngineError(f"FINOPS_ENGINE=spark needs pyspark and Java: {INSTALL}") from exc
    if not java_found():
        raise EngineError(f"FINOPS_ENGINE=spark needs Java (no java on PATH nor in $JAVA_HOME): {INSTALL}")
    master = os.environ.get(MASTER_ENV, "").strip() or DEFAULT_MASTER
    builder = SparkSession.builder.master(master).appName("finops-rollups")
    for key, value in {**CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: pyspark's own error says little more
        raise EngineError(f"could not start Spark (master {master}): {exc}; needs {INSTALL}") from exc


@contextlib.contextmanager
def run(con: duckdb.DuckDBPyConnection, select: str) -> Iterator[str]:
    """Run ``select`` on Spark; yields a DuckDB SELECT over the Parquet Spark wrote (removed after)."""
    suffix = "_" + uuid.uuid4().hex[:8]  # builds in one process never share a view name
    query = transpile(select, suffix)
    spark = session()
    work = _work_dir(con) / f".spark{suffix}"
    work.mkdir(parents=True)
    try:
        for view, files in query.parquet.items():
            spark.read.parquet(*files).createOrReplaceTempView(view)
        for view, table in query.tables.items():
            path = work / f"{view}.parquet"
            con.execute(f"COPY (SELECT * FROM {table}) TO {literal(str(path))} (FORMAT parquet)")
            spark.read.parquet(str(path)).createOrReplaceTempView(view)
        out = work / "result"
        spark.sql(query.sql).write.parquet(str(out))
        yield f"SELECT * FROM read_parquet({literal(str(out / '*.parquet'))})"
    finally:
        for view in (*query.parquet, *query.tables):
            spark.catalog.dropTempView(view)
        shutil.rmtree(work, ignore_errors=True)


def _work_dir(con: duckdb.DuckDBPyConnection) -> Path:
    """The folder of ``con``'s database file (the version being built), or a temp folder."""
    found = db.rows(con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    path = found[0][0] if found else None
    return Path(path).parent if path else Path(tempfile.gettempdir())
