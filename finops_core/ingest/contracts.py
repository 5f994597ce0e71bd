"""FOCUS 1.3 contract commitments: the Contract Commitment dataset and the cost rows' ContractApplied.

The Contract Commitment dataset (FOCUS 1.3 ``specification/datasets/contract_commitment``) lists
the terms of a contract: one row per contract commitment (``ContractCommitmentId``), with its
contract, category (``Spend`` or ``Usage``), period, committed cost or quantity and unit. It joins
to the cost rows through ContractApplied, a JSON array of the commitments a charge counts towards,
each with the applied cost (in the billing currency), quantity and unit.

Stored beside the cost rows in each version (part of the same atomic publish)::

    contracts/contract_commitments.parquet          one row per contract commitment
    contracts/applied/billing_period=P/<file>       per cost file of the version: one row per
                                                    (charge row, contract commitment applied)

A contract commitment file replaces the stored commitments of the contracts (ContractId) it lists
and keeps the others. An applied file lives and dies with the cost file it is named after, so a
restated delivery takes its applied rows with it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from finops_core.ingest.core import IngestError, InputFile, Mapper, ident, sql_str
from finops_core.ingest.locate import diagnose
from finops_core.rollups import quote_path

FOLDER = "contracts"
COMMITMENTS_FILE = "contract_commitments.parquet"
APPLIED = "applied"
CATEGORIES = ("Spend", "Usage")
# (column, kind, may be null) in the spec's dataset table
COLUMNS = (
    ("ContractId", "text", False),
    ("ContractPeriodStart", "ts", False),
    ("ContractPeriodEnd", "ts", False),
    ("ContractCommitmentId", "text", False),
    ("ContractCommitmentCategory", "text", False),
    ("ContractCommitmentType", "text", False),
    ("ContractCommitmentDescription", "text", True),
    ("ContractCommitmentPeriodStart", "ts", False),
    ("ContractCommitmentPeriodEnd", "ts", False),
    ("ContractCommitmentCost", "num", True),
    ("ContractCommitmentQuantity", "num", True),
    ("ContractCommitmentUnit", "text", True),
    ("BillingCurrency", "text", True),
)
NAMES = tuple(c for c, _, _ in COLUMNS)
# the applied columns of a cost row (x_: not FOCUS 1.2 columns)
APPLIED_COLUMNS = ("x_ContractCommitmentId", "x_AppliedCost", "x_AppliedQuantity", "x_AppliedUnit")
APPLIED_SOURCE = "__contract_applied"


def is_contract_dataset(columns: list[str]) -> bool:
    lower = {c.lower() for c in columns}
    return {"contractcommitmentid", "contractcommitmentcategory"} <= lower and "billedcost" not in lower


class _Plan:
    """Just enough of ``pipeline.Plan`` for ``locate.diagnose`` to name the first bad row."""

    def __init__(self, f: InputFile) -> None:
        self.files = [f]
        self.label = str(f.path)

    def mapped(self, mapper: Mapper, row_numbers: bool = False) -> str:
        return mapper.wrap(self.files[0].relation(row_numbers))


def _exprs(m: Mapper) -> dict[str, str]:
    missing = [c for c in NAMES if not m.has(c)]
    if missing:
        raise IngestError(
            f"{m.file.path}: row 1 (header): FOCUS 1.3 Contract Commitment dataset without column(s) {', '.join(missing)}"
        )
    out: dict[str, str] = {}
    for name, kind, nullable in COLUMNS:
        expr = {"text": m.text, "ts": m.ts, "num": m.num}[kind](name)
        m.origin[name] = m.name(name) or name
        if not nullable:
            m.require(name, expr)
        out[name] = expr
    cat = out["ContractCommitmentCategory"]
    m.allowed("ContractCommitmentCategory", cat, CATEGORIES, m.col("ContractCommitmentCategory"))
    cost, qty, cur = out["ContractCommitmentCost"], out["ContractCommitmentQuantity"], out["BillingCurrency"]
    rules = (
        ("ContractCommitmentCost", f"{cat} = 'Spend' AND {cost} IS NULL", "has no value but a Spend commitment needs one"),
        ("ContractCommitmentQuantity", f"{cat} = 'Usage' AND {qty} IS NULL", "has no value but a Usage commitment needs one"),
        ("ContractCommitmentUnit", f"{qty} IS NOT NULL AND {out['ContractCommitmentUnit']} IS NULL", "has no value but the quantity needs a unit"),
        ("BillingCurrency", f"{cost} IS NOT NULL AND {cur} IS NULL", "has no value but the commitment has a cost"),
        ("ContractCommitmentPeriodEnd", f"{out['ContractCommitmentPeriodEnd']} <= {out['ContractCommitmentPeriodStart']}", "is not after ContractCommitmentPeriodStart"),
        ("ContractPeriodEnd", f"{out['ContractPeriodEnd']} <= {out['ContractPeriodStart']}", "is not after ContractPeriodStart"),
    )  # fmt: skip
    for field, bad, reason in rules:
        m.require(field, f"CASE WHEN {bad} THEN NULL ELSE 1 END", reason)
    return out


def stage(con: duckdb.DuckDBPyConnection, f: InputFile, out: Path) -> int:
    """Check ``f`` (a Contract Commitment dataset) and write it to ``out``; returns its rows.

    A bad row is refused as every ingest message names it (file, row, column, value, reason); a
    ContractCommitmentId listed twice is refused at its second row."""
    m = Mapper(f)
    exprs = _exprs(m)
    select = ", ".join(f"{e} AS {ident(n)}" for n, e in exprs.items())
    bad = " OR ".join(f"({c.bad})" for c in m.checks)
    rel = m.wrap(f.relation(row_numbers=True))
    if con.execute(f"SELECT count(*) FROM {rel} AS src WHERE {bad}").fetchone() != (0,):
        located = diagnose(con, _Plan(f), m, m.checks)  # type: ignore[arg-type]
        raise IngestError(located[0] if located else f"{f.path}: a row breaks a Contract Commitment rule")
    dup = con.execute(
        f"SELECT __row, id FROM (SELECT __row, {exprs['ContractCommitmentId']} AS id, "
        f"row_number() OVER (PARTITION BY {exprs['ContractCommitmentId']} ORDER BY __row) AS n FROM {rel} AS src) "
        "WHERE n = 2 ORDER BY __row LIMIT 1"
    ).fetchone()
    if dup is not None:
        raise IngestError(f"{f.path}: row {int(dup[0]) + 1}: column ContractCommitmentId: {dup[1]!r} is listed twice")
    out.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY (SELECT {select}, {sql_str(f.path.name)} AS x_SourceFile FROM {rel} AS src ORDER BY __row) "
        f"TO {quote_path(out)} (FORMAT parquet, COMPRESSION zstd)"
    )
    row = con.execute(f"SELECT count(*) FROM read_parquet({quote_path(out)})").fetchone()
    return int(row[0]) if row else 0


def merge(con: duckdb.DuckDBPyConnection, old: Path | None, new: list[Path], out: Path) -> int:
    """The stored commitments with each new file's contracts (ContractId) replacing theirs; returns rows.

    Files are applied in order, so the last one given wins a contract listed in two."""
    current = f"read_parquet({quote_path(old)})" if old is not None else None
    for path in new:
        fresh = f"read_parquet({quote_path(path)})"
        current = (
            f"(SELECT * FROM {current} WHERE ContractId NOT IN (SELECT ContractId FROM {fresh}) "
            f"UNION ALL BY NAME SELECT * FROM {fresh})"
            if current
            else fresh
        )
    tmp = out.with_name(out.name + ".tmp")
    con.execute(f"COPY (SELECT * FROM {current}) TO {quote_path(tmp)} (FORMAT parquet, COMPRESSION zstd)")
    tmp.rename(out)
    row = con.execute(f"SELECT count(*) FROM read_parquet({quote_path(out)})").fetchone()
    return int(row[0]) if row else 0


def applied_entries(raw: str) -> str:
    """SQL: the ContractApplied value's entries as a list of JSON objects (a bare array, or the
    array under ``Elements`` as the released samples write it, or under ``ContractApplied``)."""
    arr = (
        f"CASE WHEN json_type({raw}) = 'ARRAY' THEN json({raw}) "
        f"ELSE coalesce(json_extract({raw}, '$.Elements'), json_extract({raw}, '$.ContractApplied')) END"
    )
    return f"CAST(json_extract({arr}, '$[*]') AS JSON[])"


def applied_check_sql(raw: str) -> str:
    """SQL true when a ContractApplied value is not JSON holding an array of objects with an id."""
    entries = applied_entries(raw)
    ok = (
        f"CASE WHEN coalesce(json_valid({raw}), false) THEN {entries} IS NOT NULL AND "
        f"list_bool_and(list_transform({entries}, lambda e: {_entry_id('e')} IS NOT NULL)) END"
    )
    return f"({raw}) IS NOT NULL AND NOT coalesce({ok}, false)"


def _entry_id(e: str) -> str:
    return f"coalesce(json_extract_string({e}, '$.ContractCommitmentId'), json_extract_string({e}, '$.ContractCommitmentID'))"


def write_applied(con: duckdb.DuckDBPyConnection, staged: Path, out: Path, columns: list[str]) -> int:
    """Write the applied entries of the staged cost file ``staged`` to ``out`` and drop its
    ``__contract_applied`` column from ``staged``; returns the entries written."""
    src = f"read_parquet({quote_path(staged)})"
    keep = ", ".join(ident(c) for c in columns)
    e = "e"

    def num(key: str) -> str:
        return f"TRY_CAST(json_extract_string({e}, '$.{key}') AS DOUBLE)"

    n = con.execute(f"SELECT count(*) FROM {src} WHERE {APPLIED_SOURCE} IS NOT NULL").fetchone()
    written = int(n[0]) if n else 0
    if written:
        out.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"COPY (SELECT {keep}, {_entry_id(e)} AS x_ContractCommitmentId, "
            f"{num('ContractCommitmentAppliedCost')} AS x_AppliedCost, {num('ContractCommitmentAppliedQuantity')} "
            f"AS x_AppliedQuantity, json_extract_string({e}, '$.ContractCommitmentAppliedUnit') AS x_AppliedUnit "
            f"FROM (SELECT *, unnest({applied_entries(APPLIED_SOURCE)}) AS {e} FROM {src} "
            f"WHERE {APPLIED_SOURCE} IS NOT NULL)) TO {quote_path(out)} (FORMAT parquet, COMPRESSION zstd)"
        )
    tmp = staged.with_name(staged.name + ".tmp")
    con.execute(f"COPY (SELECT {keep} FROM {src}) TO {quote_path(tmp)} (FORMAT parquet, COMPRESSION zstd)")
    tmp.rename(staged)
    return written


def create_views(con: duckdb.DuckDBPyConnection, folder: Path, cost_files: list[str], schema: str) -> None:
    """Views ``contract_commitments`` (one row per contract commitment) and ``contract_applied``
    (one row per charge and commitment applied, attributed and split to teams like ``costs``, the
    applied cost and quantity scaled by the split's share) on a ``store.connect`` connection."""
    from finops_core import allocation, rollups

    path = folder / COMMITMENTS_FILE
    typed = {"text": "VARCHAR", "ts": "TIMESTAMPTZ", "num": "DOUBLE"}
    if path.exists():
        con.execute(f"CREATE OR REPLACE VIEW contract_commitments AS SELECT * FROM read_parquet({quote_path(path)})")
    else:
        cols = ", ".join(f"CAST(NULL AS {typed[k]}) AS {n}" for n, k, _ in COLUMNS)
        con.execute(f"CREATE OR REPLACE VIEW contract_commitments AS SELECT {cols}, '' AS x_SourceFile WHERE false")
    if not cost_files:
        return
    applied = [str(folder / APPLIED / Path(f).parent.name / Path(f).name) for f in cost_files]
    applied = [f for f in applied if Path(f).exists()]
    if not applied:
        empty = ["NULL::VARCHAR", "NULL::DOUBLE", "NULL::DOUBLE", "NULL::VARCHAR"]
        cols = ", ".join(f"{t} AS {n}" for t, n in zip(empty, APPLIED_COLUMNS, strict=True))
        con.execute(f"CREATE OR REPLACE VIEW contract_applied AS SELECT *, {cols} FROM costs WHERE false")
        return
    rules = rollups.version_rules(con, schema)
    attributed = allocation.attributed_sql(
        rules.allocation, rollups.parquet_source(applied, hive=True), f"{schema}.tag_map"
    )
    scaled = allocation.allocated_sql(attributed, f"{schema}.shares", ("x_AppliedCost", "x_AppliedQuantity"))
    con.execute(f"CREATE OR REPLACE VIEW contract_applied AS {scaled}")
