"""Row-level data-quality rules, evaluated once per version at publish over the billing rows.

``build(con, files, first)`` adds, for one chunk of Parquet files, to two rollup tables:

- ``quality_rows``: per (rule, billing month, currency): rows that break the rule and the money
  behind them (sum of |BilledCost| and |EffectiveCost| of those rows);
- ``quality_samples``: up to ``SAMPLES`` breaking rows per (rule, billing month), with the
  snapshot file (``billing_period=YYYY-MM/<file>.parquet``) and the row number inside it.

Identical rows inside one file are the provider's own separate line items (split by a detail
FOCUS does not carry); the same row in two files is a line item ingested twice.
Rules that need more than one row at a time (gaps, freshness, currencies per account, category
per service) are answered from the rollups when read (``quality.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from finops_core.schema import FOCUS_COLUMNS, FOCUS_NAMES, C, Level

SAMPLES = 5


@dataclass(frozen=True)
class RowRule:
    name: str
    severity: str  # "error" or "warning"
    title: str
    condition: str  # SQL over one billing row
    fix: str


_REQUIRED = [c.name for c in FOCUS_COLUMNS if c.level == Level.MANDATORY and not c.nullable]
_COUNTER_CHARGE = f"({C.ChargeCategory} = 'Credit' OR {C.ChargeClass} IS NOT DISTINCT FROM 'Correction')"
RULES: tuple[RowRule, ...] = (
    RowRule(
        "required_null",
        "error",
        "Required FOCUS columns empty",
        " OR ".join(f"{c} IS NULL" for c in _REQUIRED),
        "the export is missing values FOCUS requires; re-export, or check the ingest mapping for this source",
    ),
    RowRule(
        "duplicate_line",
        "error",
        "Line items repeated in another file",
        "_copy > 1",
        "the same line item sits in two snapshot files (overlapping exports?); re-ingest the period's delivery as one",
    ),
    RowRule(
        "negative_cost",
        "warning",
        "Negative cost outside credits and corrections",
        f"({C.BilledCost} < 0 OR {C.EffectiveCost} < 0) AND NOT {_COUNTER_CHARGE}",
        "a negative charge that is neither a Credit nor a Correction; check how the provider books it",
    ),
    RowRule(
        "tags_not_object",
        "warning",
        "Tags that are not a JSON object",
        f"{C.Tags} IS NOT NULL AND coalesce(json_type(try_cast({C.Tags} AS JSON)), '') <> 'OBJECT'",
        "FOCUS Tags must be a JSON object of key/value pairs; these rows' tags are ignored by allocation",
    ),
    RowRule(
        "effective_above_list",
        "warning",
        "EffectiveCost above ListCost on usage with no commitment",
        f"{C.ChargeCategory} = 'Usage' AND {C.CommitmentDiscountId} IS NULL "
        f"AND {C.EffectiveCost} > {C.ListCost} + 0.000001 + 0.000001 * abs({C.ListCost})",
        "paying more than list price with no commitment involved usually means a list price is missing or wrong",
    ),
)
BY_NAME = {r.name: r for r in RULES}
SAMPLE_COLUMNS = (
    C.BillingAccountId,
    C.SubAccountName,
    C.ChargePeriodStart,
    C.ServiceName,
    C.ResourceId,
    C.ChargeCategory,
    C.BilledCost,
    C.EffectiveCost,
    C.ListCost,
)


def build(con: duckdb.DuckDBPyConnection, source: str, first: bool) -> None:
    """Evaluate every rule on the rows of ``source`` (the contents of a ``read_parquet([...])``
    file list) into ``quality_rows`` and ``quality_samples``. Only breaking rows are kept aside."""
    into = "CREATE TABLE {} AS" if first else "INSERT INTO {}"
    rows = f"read_parquet([{source}], filename = true, file_row_number = true)"
    identity = f"hash({', '.join(FOCUS_NAMES)})"  # a line's identity is all of its FOCUS values
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _dup AS SELECT h FROM (SELECT {identity} AS h, filename FROM {rows}) "
        "GROUP BY h HAVING count(DISTINCT filename) > 1"
    )
    row_rules = [r for r in RULES if r.name != "duplicate_line"]
    flags = ", ".join(f"coalesce({r.condition}, false) AS {r.name}" for r in row_rules)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _qf AS SELECT *, _copy > 1 AS duplicate_line FROM ("
        f"SELECT CAST({C.BillingPeriodStart} AS DATE) AS {C.x_BillingMonth}, {C.BillingCurrency}, "
        f"regexp_extract(filename, '[^/]+/[^/]+$') AS _file, file_row_number + 1 AS _row, {', '.join(SAMPLE_COLUMNS)}, {flags}, "
        f"CASE WHEN h IN (SELECT h FROM _dup) THEN dense_rank() OVER (PARTITION BY h ORDER BY filename) "
        f"ELSE 1 END AS _copy FROM (SELECT *, {identity} AS h FROM {rows}) "
        f"WHERE h IN (SELECT h FROM _dup) OR {' OR '.join(f'coalesce({r.condition}, false)' for r in row_rules)})"
    )
    per_rule = " UNION ALL ".join(
        f"SELECT '{r.name}' AS rule, {C.x_BillingMonth}, {C.BillingCurrency}, count(*) AS line_items, "
        f"sum(abs({C.BilledCost})) AS billed_abs, sum(abs({C.EffectiveCost})) AS effective_abs "
        f"FROM _qf WHERE {r.name} GROUP BY ALL"
        for r in RULES
    )
    con.execute(f"{into.format('quality_rows')} {per_rule}")
    samples = " UNION ALL ".join(
        f"SELECT * FROM (SELECT '{r.name}' AS rule, {C.x_BillingMonth}, {C.BillingCurrency}, _file AS file, "
        f"_row AS row_number, {', '.join(SAMPLE_COLUMNS)} FROM _qf WHERE {r.name} "
        f"QUALIFY row_number() OVER (PARTITION BY {C.x_BillingMonth} ORDER BY _file, _row) <= {SAMPLES})"
        for r in RULES
    )
    con.execute(f"{into.format('quality_samples')} {samples}")
    con.execute("DROP TABLE _qf")
    con.execute("DROP TABLE _dup")
