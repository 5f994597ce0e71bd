"""Rollup tables built at publish time, and the views over them and the raw snapshot.

- ``rules``: the text of the tag and allocation rules this version was built with.
- ``tag_map``: one row per distinct Tags value with its normalized tag values and missing keys;
  ``tag_periods``: the distinct Tags values of each billing month (an ingest maps only new values).
- ``shares``: each shared-cost pool's split to teams per billing month and currency.
- ``daily``: one row per (x_ChargeDate, x_BillingMonth, BillingCurrency, x_AllocationRule, every
  ROLLUP_DIMENSIONS column), after allocation and splits.
- ``resource_daily``: one row per (x_ChargeDate, x_BillingMonth, BillingCurrency, every
  RESOURCE_DIMENSIONS column), after allocation and splits.
- ``compliance``: cost per (billing month, currency, account, service, direct team, taggable,
  missing required tag keys), before splits, for tag compliance and remediation.
- ``invoice_lines``: BilledCost and row count per (billing account, billing month, currency,
  InvoiceId, publisher, charge category and class), as billed (no allocation), with the last
  charge day: what invoice reconciliation compares against the invoices (``trust.reconcile``).
- ``account_days``: the days on which each (provider, billing account) has rows (completeness, freshness).
- ``quality_rows``, ``quality_samples``: the row-level data-quality rules' counts, money and
  sample rows (``trust.rowchecks``).
- ``savings_daily``, ``savings_scopes``: the per-resource daily inputs of realized savings, built
  after the rollups and before the anomaly detection (``savings_daily``).
- ``anomalies_found``, ``anomaly_runs``: the company-wide anomaly detection over the whole history,
  built after the rollups (``anomaly_results``).
- ``commitment_daily``, ``commitment_services``: commitment and eligible-usage sums per commitment,
  day and the dimensions the commitments questions filter by, built last (``commitment_days``).
Each holds the cost metrics, summed. A build whose rollups do not conserve the raw totals for
every billing period, currency and metric is refused.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from finops_core import allocation, db, engines, tagrules
from finops_core.dimensions import tag_map
from finops_core.schema import METRICS, RESOURCE_DIMENSIONS, ROLLUP_DIMENSIONS, C
from finops_core.trust import rowchecks

BUILD_MEMORY = "1GB"
CHUNK_BYTES = 32 << 20  # Parquet per rollup chunk
ROLLUPS = ("daily", "resource_daily")
SAVINGS_SCALED = (*METRICS, C.ConsumedQuantity)  # the columns of savings_daily a split multiplies
INVOICE_LINES_SQL = (
    f"SELECT {C.BillingAccountId}, {C.BillingAccountName}, {C.ProviderName}, {C.PublisherName}, "
    f"CAST({C.BillingPeriodStart} AS DATE) AS {C.x_BillingMonth}, {C.BillingCurrency}, {C.InvoiceId}, "
    f"{C.ChargeCategory}, {C.ChargeClass}, count(*) AS line_items, sum({C.BilledCost}) AS {C.BilledCost}, "
    f"max(CAST({C.ChargePeriodStart} AS DATE)) AS last_day FROM {{}} GROUP BY ALL"
)
ACCOUNT_DAYS_SQL = (
    f"SELECT DISTINCT {C.ProviderName}, {C.BillingAccountId}, {C.BillingAccountName}, "
    f"CAST({C.ChargePeriodStart} AS DATE) AS {C.x_ChargeDate} FROM {{}}"
)
COMPLIANCE_KEYS = (
    C.x_BillingMonth,
    C.BillingCurrency,
    C.ProviderName,
    C.SubAccountId,
    C.SubAccountName,
    C.ServiceName,
    C.x_Team,
)


@dataclass(frozen=True)
class RuleSet:
    """The rules a version is built with, and their text (kept with the version)."""

    tags: tagrules.TagRules
    allocation: allocation.AllocationRules
    texts: dict[str, str]


def current_rules() -> RuleSet:
    """The rules in force (edited copies in the state folder, else the shipped files)."""
    texts = {}
    for name in allocation.RULE_FILES:
        path = allocation.rules_path(name)
        texts[name] = path.read_text() if path.exists() else ""
    return parse_rules(texts)


def parse_rules(texts: dict[str, str], paths: dict[str, Path] | None = None) -> RuleSet:
    """Rules from file texts; errors name ``paths[name]`` (default: where the file is in force)."""
    where = {name: allocation.rules_path(name) for name in allocation.RULE_FILES} | (paths or {})
    tags_text, alloc_text = texts.get("tags.yaml", ""), texts.get("allocation.yaml", "")
    tag_rules = tagrules.parse(tags_text, where["tags.yaml"]) if tags_text else tagrules.TagRules()
    alloc = allocation.parse(alloc_text, where["allocation.yaml"]) if alloc_text else allocation.TAGS_ONLY
    return RuleSet(tag_rules, alloc, dict(texts))


def quote_path(path: str | Path) -> str:
    """A file path as a SQL string literal (paths are ours, but may contain quotes)."""
    return "'" + str(path).replace("'", "''") + "'"


def parquet_source(files: list[str], hive: bool = False) -> str:
    return f"read_parquet([{', '.join(quote_path(f) for f in files)}]{', hive_partitioning = true' if hive else ''})"


def create_tag_map(con: duckdb.DuckDBPyConnection, source: str, rules: RuleSet, name: str = "tag_map") -> None:
    tags = db.frame(con, f"SELECT DISTINCT {C.Tags} FROM {source}")[C.Tags]
    con.register("_tag_map_frame", tag_map(tags, rules.tags, rules.allocation.required_tags))
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _tag_map_frame")
    con.unregister("_tag_map_frame")


# rollup tables with one billing month per row: an unchanged period's rows are the parent version's
PER_PERIOD = (
    "tag_periods",
    "daily",
    "invoice_lines",
    "resource_daily",
    "quality_rows",
    "quality_samples",
    "compliance",
)


@dataclass(frozen=True)
class Reuse:
    """The parent version's rollups (``db_path``) and the billing periods ('YYYY-MM') whose files
    changed since it: only those are aggregated again. The new version's rollups start as a file
    copy of the parent's (``build``); every per-period table then drops the rows of the periods
    it does not keep and gets the fresh aggregation of the touched ones appended."""

    db_path: Path
    touched: frozenset[str]


def build(db_path: Path, files: list[str], rules: RuleSet | None = None, reuse: Reuse | None = None) -> None:
    """Create the rollup database for a version from its Parquet files.

    With ``reuse`` (an ingest: same rules and schema as the parent), the database starts as a
    file copy of the parent's and only the billing periods in ``reuse.touched`` are aggregated,
    so a new day or a restated month costs its own periods (and a copy of the file, far cheaper
    than re-encoding the rows). Tables that span periods (tag_map, shares, account_days) are
    rebuilt whole from small inputs; conservation is checked on every period aggregated here."""
    rules = rules or current_rules()
    if reuse is not None and files:
        shutil.copyfile(reuse.db_path, db_path)  # the staging folder is renamed into place only at the end
    con = duckdb.connect(str(db_path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        # bounded memory at any size: large aggregations spill next to the version being built
        con.execute(f"SET memory_limit = '{BUILD_MEMORY}'")
        con.execute(f"SET temp_directory = {quote_path(db_path.parent / '.spill')}")
        con.execute("CREATE OR REPLACE TABLE rules (name VARCHAR, text VARCHAR)")
        con.executemany("INSERT INTO rules VALUES (?, ?)", sorted(rules.texts.items()))
        if not files:
            return
        computed = aggregated_files(files, reuse)
        created: set[str] = set()
        if reuse is not None:
            for table in PER_PERIOD:
                keep_periods(con, table, files, reuse)
            created.update(PER_PERIOD)
        _build_tag_map(con, computed, rules, reuse is not None)
        for chunk in chunks(computed):
            _aggregate(con, chunk, rules, created)
        allocation.create_shares(con, rules.allocation, "daily", "shares")
        con.execute(f"CREATE OR REPLACE TABLE account_days AS {ACCOUNT_DAYS_SQL.format(parquet_source(files))}")
        new_months = _months_sql(computed)
        compliance = (
            f"SELECT {', '.join(COMPLIANCE_KEYS)}, taggable, missing, sum({C.EffectiveCost}) AS {C.EffectiveCost}, "
            f"sum({C.BilledCost}) AS {C.BilledCost} FROM resource_daily WHERE {new_months} GROUP BY ALL"
        )
        into(con, "compliance", compliance, created)
        raw = allocation.totals(con, parquet_source(computed)) if computed else {}
        for name in ROLLUPS:
            allocated = allocation.allocated_sql(f"SELECT * FROM {name} WHERE {new_months}", "shares", METRICS)
            renamed = f"(SELECT *, {C.x_BillingMonth} AS {C.BillingPeriodStart} FROM ({allocated}))"
            allocation.check_conservation(raw, allocation.totals(con, renamed))
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _period(file: str) -> str:
    """'YYYY-MM' of a file in a ``billing_period=YYYY-MM`` folder."""
    return Path(file).parent.name.split("=", 1)[1]


def _months_sql(files: list[str]) -> str:
    """A WHERE condition on x_BillingMonth: the billing periods of ``files``."""
    months = sorted({f"DATE '{_period(f)}-01'" for f in files})
    return f"{C.x_BillingMonth} IN ({', '.join(months)})" if months else "false"


def aggregated_files(files: list[str], reuse: Reuse | None) -> list[str]:
    """The files whose billing periods are aggregated: all of them, or with ``reuse`` the touched ones."""
    return [f for f in files if reuse is None or _period(f) in reuse.touched]


def keep_periods(con: duckdb.DuckDBPyConnection, table: str, files: list[str], reuse: Reuse) -> None:
    """Delete from ``table`` (copied with the parent's file) the rows of every billing period
    that is not kept as it was: the touched periods and those the version no longer has."""
    kept = sorted({_period(f) for f in files} - reuse.touched)
    months = ", ".join(f"DATE '{p}-01'" for p in kept)
    condition = f"coalesce({C.x_BillingMonth} IN ({months}), false)" if kept else "false"
    con.execute(f"DELETE FROM {table} WHERE NOT {condition}")


def fill_by_period(
    con: duckdb.DuckDBPyConnection,
    table: str,
    files: list[str],
    reuse: Reuse | None,
    aggregate: Callable[[str], str],
) -> None:
    """Fill ``r.<table>`` (a table with x_BillingMonth): with ``reuse`` (the rollups at ``r``
    are a copy of the parent's) keep the parent's rows of untouched periods and append the others,
    else create it anew; rows come from ``aggregate(attributed rows of one chunk of files)``, in
    chunks of consecutive periods, oldest first."""
    rules = version_rules(con, "r")
    created: set[str] = set()
    if reuse is not None:
        keep_periods(con, f"r.{table}", files, reuse)
        created.add(f"r.{table}")
    else:
        con.execute(f"DROP TABLE IF EXISTS r.{table}")  # a copied file whose rows cannot be kept
    for chunk in chunks(aggregated_files(files, reuse)):
        attributed = allocation.attributed_sql(rules.allocation, parquet_source(chunk), "r.tag_map")
        into(con, f"r.{table}", aggregate(attributed), created)


def into(con: duckdb.DuckDBPyConnection, table: str, select: str, created: set[str]) -> None:
    con.execute(
        f"{'INSERT INTO' if table in created else 'CREATE TABLE'} {table} {'' if table in created else 'AS '}{select}"
    )
    created.add(table)


def _into_built(con: duckdb.DuckDBPyConnection, table: str, select: str, created: set[str]) -> None:
    """``into`` with ``select`` run by the engine FINOPS_ENGINE picks (``engines``): DuckDB, or
    Spark writing Parquet that the table is then created from."""
    with engines.built(con, select) as source:
        into(con, table, source, created)


def _aggregate(con: duckdb.DuckDBPyConnection, chunk: list[str], rules: RuleSet, created: set[str]) -> None:
    """The per-period rollups of one chunk of files, aggregated from the rows."""
    metrics = ", ".join(f"sum({m}) AS {m}" for m in METRICS)
    # The rollups hold each group's direct attribution and its shared-cost pool; the views
    # fan pooled groups out to their teams through ``shares`` when read (a small hash join).
    # Built in chunks of consecutive billing periods, oldest first: each aggregation stays
    # small (no spill), and the tables come out clustered by period, so a query's date range
    # skips the row groups of other chunks without the cost of sorting the whole table.
    daily_keys = ", ".join((C.x_ChargeDate, C.x_BillingMonth, C.BillingCurrency, *ROLLUP_DIMENSIONS, C.x_Pool))
    resource_keys = ", ".join(
        (C.x_ChargeDate, C.x_BillingMonth, C.BillingCurrency, *RESOURCE_DIMENSIONS, C.x_AllocationRule, C.x_Pool)
    )
    attributed = allocation.attributed_sql(rules.allocation, parquet_source(chunk), "tag_map")
    _into_built(
        con,
        "daily",
        f"SELECT {daily_keys}, {metrics} FROM ({attributed}) GROUP BY ALL ORDER BY {C.x_ChargeDate}",
        created,
    )
    _into_built(con, "invoice_lines", INVOICE_LINES_SQL.format(parquet_source(chunk)), created)
    rowchecks.build(con, ", ".join(quote_path(f) for f in chunk), first="quality_rows" not in created)
    created.update(("quality_rows", "quality_samples"))
    _into_built(
        con,
        "resource_daily",
        f"SELECT {resource_keys}, {allocation.TAGGABLE_SQL} AS taggable, {C.x_MissingTags} AS missing, "
        f"{metrics} FROM ({attributed}) GROUP BY ALL",
        created,
    )


def _build_tag_map(con: duckdb.DuckDBPyConnection, computed: list[str], rules: RuleSet, reused: bool) -> None:
    """``tag_periods`` (the distinct Tags values per billing month, null as '') and ``tag_map``
    over them. A value's map row depends on the value alone, so with a parent (whose tables this
    database was copied from, its other periods' rows already deleted) only the values it lacks
    are mapped, and the values no kept period has are dropped."""
    scan = (
        f"SELECT DISTINCT CAST({C.BillingPeriodStart} AS DATE) AS {C.x_BillingMonth}, "
        f"coalesce({C.Tags}, '') AS tag_key FROM {parquet_source(computed)}"
    )
    if computed:
        con.execute(f"{'INSERT INTO tag_periods' if reused else 'CREATE TABLE tag_periods AS'} {scan}")
    if reused:
        con.execute("DELETE FROM tag_map WHERE tag_key NOT IN (SELECT tag_key FROM tag_periods)")
        fresh = "SELECT DISTINCT tag_key FROM tag_periods WHERE tag_key NOT IN (SELECT tag_key FROM tag_map)"
    else:
        fresh = "SELECT DISTINCT tag_key FROM tag_periods"
    keys = db.frame(con, fresh)["tag_key"]
    frame = tag_map(keys, rules.tags, rules.allocation.required_tags)
    con.register("_tag_map_frame", frame)
    con.execute(f"{'INSERT INTO tag_map' if reused else 'CREATE TABLE tag_map AS'} SELECT * FROM _tag_map_frame")
    con.unregister("_tag_map_frame")


def chunks(files: list[str]) -> list[list[str]]:
    """Files in runs of consecutive billing periods (the ``billing_period=`` folders, oldest first)
    of about CHUNK_BYTES of Parquet each; a period is never split."""
    periods: dict[str, list[str]] = {}
    for f in files:
        periods.setdefault(Path(f).parent.name, []).append(f)
    chunks: list[list[str]] = [[]]
    size = 0
    for name in sorted(periods):
        if chunks[-1] and size >= CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].extend(periods[name])
        size += sum(Path(f).stat().st_size for f in periods[name])
    return [c for c in chunks if c]


def version_rules(con: duckdb.DuckDBPyConnection, schema: str) -> RuleSet:
    """The rules a version was built with (parsed once per distinct text: every connect needs them)."""
    return _parsed(tuple(sorted(db.rows(con, f"SELECT name, text FROM {schema}.rules"))))


@functools.lru_cache(maxsize=8)
def _parsed(texts: tuple[tuple[str, str], ...]) -> RuleSet:
    return parse_rules(dict(texts))


def create_views(con: duckdb.DuckDBPyConnection, files: list[str], schema: str) -> None:
    """Views ``costs`` (allocated rows), ``focus_rows`` (raw rows with their direct attribution),
    ``daily``, ``resource_daily`` and ``compliance`` on a connection with the rollups attached."""
    if not files:
        return
    for name in ROLLUPS:
        allocated = allocation.allocated_sql(f"SELECT * FROM {schema}.{name}", f"{schema}.shares", METRICS)
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {allocated}")
    for name in (
        "compliance",
        "shares",
        "tag_map",
        "invoice_lines",
        "account_days",
        "quality_rows",
        "quality_samples",
        "anomalies_found",
        "anomaly_runs",
    ):
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {schema}.{name}")
    # tables a newer release added: a version published without them still opens (readers fall back)
    present = {r[0] for r in db.rows(con, "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [schema])}
    if {"savings_daily", "savings_scopes"} <= present:
        table = f"SELECT * FROM {schema}.savings_daily"
        allocated = allocation.allocated_sql(table, f"{schema}.shares", SAVINGS_SCALED)
        con.execute(f"CREATE OR REPLACE VIEW savings_daily AS {allocated}")
        con.execute(f"CREATE OR REPLACE VIEW savings_billed AS {table}")
        con.execute(f"CREATE OR REPLACE VIEW savings_scopes AS SELECT * FROM {schema}.savings_scopes")
    if files:
        rules = version_rules(con, schema)
        attributed = allocation.attributed_sql(rules.allocation, parquet_source(files, hive=True), f"{schema}.tag_map")
        con.execute(f"CREATE OR REPLACE VIEW focus_rows AS {attributed}")
        raw = parquet_source(files, hive=True)
        con.execute(
            f"CREATE OR REPLACE VIEW raw_rows AS SELECT *, CAST({C.ChargePeriodStart} AS DATE) AS {C.x_ChargeDate}, "
            f"CAST({C.BillingPeriodStart} AS DATE) AS {C.x_BillingMonth} FROM {raw}"
        )
        con.execute(f"CREATE OR REPLACE VIEW costs AS {allocation.allocated_sql(attributed, f'{schema}.shares')}")
