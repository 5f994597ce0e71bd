"""Stream one planned input into FOCUS Parquet files inside a publication's staging folder.

One COPY per input file reads it, maps and checks every row, and writes one Parquet file, which
becomes one file per (billing period, billing account[, role]): moved into place when the export
holds one pair (the usual case), split otherwise. A role tells apart rows a delivery may later
leave out (the rows of an Azure actual-cost file that its amortized twin supersedes). Checks raise inside the COPY; on failure
a second, single-threaded pass finds the first bad row so the message names file, row and field.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from finops_core.ingest import conformance, contracts
from finops_core.ingest.core import Check, IngestError, InputFile, Mapper, first_line, ident, sql_str
from finops_core.ingest.locate import EMPTY, REQUIRED_OUT, diagnose, output_checks, with_row
from finops_core.rollups import quote_path
from finops_core.schema import FOCUS_COLUMNS, C

_SQL_TYPE = {"String": "VARCHAR", "Float64": "DOUBLE"}
MEMORY_LIMIT = "1GB"


def sql_type(dtype: object) -> str:
    return _SQL_TYPE.get(str(dtype), "TIMESTAMPTZ")


@dataclass
class Plan:
    """What to ingest: a source format, its input file(s) and how to read them."""

    source: Any  # a module or object with KEY, build(mapper, files) and optionally expand, role
    files: list[InputFile]
    sha256: str = ""  # of the input; names its staged files
    series: str = ""  # which of a source's export kinds this is (Azure: actual, amortized, single)

    @property
    def label(self) -> str:
        return " + ".join(str(f.path) for f in self.files)

    def relation(self, row_numbers: bool = False) -> str:
        """The raw rows of the input file."""
        return self.files[0].relation(row_numbers)

    def mapped(self, mapper: Mapper, row_numbers: bool = False) -> str:
        """The raw rows with ``mapper``'s parsed columns, each row repeated if the source expands it."""
        rel = mapper.wrap(self.relation(row_numbers))
        expand: Callable[[Mapper], str] | None = getattr(self.source, "expand", None)
        if expand is not None:
            rel = f"(SELECT *, unnest({expand(mapper)}) AS __part FROM {rel})"
        return rel


@dataclass
class StagedFile:
    """One Parquet file written: its (billing period, account slug), name, role, rows and totals."""

    period: str
    account: str
    name: str
    role: str = ""
    rows: int = 0
    totals: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Staged:
    """The outcome of one input: files written, counts, totals and warnings."""

    files: list[StagedFile] = field(default_factory=list)
    rows_in: int = 0  # provider rows read
    rows: int = 0  # FOCUS rows published
    totals: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)  # nonconforming rows kept (conformance)
    notes: list[str] = field(default_factory=list)  # e.g. the FOCUS version read and the columns dropped


def add_totals(parts: Iterable[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per-currency BilledCost and EffectiveCost summed over ``parts``."""
    out: dict[str, dict[str, float]] = {}
    for totals in parts:
        for cur, t in totals.items():
            acc = out.setdefault(cur, {C.BilledCost: 0.0, C.EffectiveCost: 0.0})
            for k in acc:
                acc[k] += t[k]
    return out


def connection(spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with bounded memory; it spills to ``spill``, or not at all."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = {quote_path(spill) if spill else chr(39) * 2}")
    return con


def focus_sql(exprs: dict[str, str], checks: list[Check], relation: str, label: str, role: str | None = None) -> str:
    """SELECT of the 57 FOCUS columns (schema order and types) from ``relation``; checks raise.

    Provider-value checks ride on the first column; null checks on required FOCUS columns run in
    an outer SELECT over the computed values, so no mapping expression is evaluated twice.
    """
    cols = []
    for i, col in enumerate(FOCUS_COLUMNS):
        expr = f"CAST(({exprs.get(col.name, 'NULL')}) AS {sql_type(col.dtype)})"
        if i == 0 and checks:  # every check rides on one column the COPY always computes
            whens = " ".join(
                f"WHEN {c.bad} THEN error({sql_str(label + ': column ' + c.field + ': ')} || "
                f"coalesce(CAST({c.value} AS VARCHAR), 'NULL') || {sql_str(' ' + c.reason)})"
                for c in checks
            )
            expr = f"CASE {whens} ELSE {expr} END"
        cols.append(f"{expr} AS {ident(col.name)}")
    if role is not None:
        cols.append(f"{role} AS __role")
    cols += [f"{e} AS {ident(k)}" for k, e in exprs.items() if k.startswith("__")]  # carried beside the rows
    inner = f"SELECT {', '.join(cols)} FROM {relation} AS src"
    whens = " ".join(
        f"WHEN {ident(n)} IS NULL THEN error({sql_str(f'{label}: column {n} {EMPTY}')})" for n in REQUIRED_OUT
    )
    first = FOCUS_COLUMNS[0].name
    guarded = f"CASE {whens} ELSE {ident(first)} END AS {ident(first)}"
    return f"SELECT {guarded}, * EXCLUDE ({ident(first)}) FROM ({inner})"


def _acct_slug(expr: str) -> str:
    """A file-name-safe key per billing account (readable when the id already is)."""
    return (
        f"CASE WHEN regexp_full_match({expr}, '[A-Za-z0-9_.-]{{1,48}}') THEN {expr} "
        f"ELSE left(regexp_replace({expr}, '[^A-Za-z0-9_.-]', '_', 'g'), 32) || '-' || left(md5({expr}), 10) END"
    )


def stage(plan: Plan, staging: Path, work: Path) -> Staged:
    """Write ``plan``'s FOCUS rows as ``staging/billing_period=P/<source>--<account>--NNN.parquet``."""
    work.mkdir(parents=True, exist_ok=True)
    con = connection(work / ".spill")
    try:
        mapper = Mapper(plan.files[0])
        exprs = plan.source.build(mapper, plan.files)
        role_of: Callable[[Mapper, str], str | None] | None = getattr(plan.source, "role", None)
        role = role_of(mapper, plan.series) if role_of else None
        whole = work / "all.parquet"
        exprs, filled = _copy(con, plan, mapper, exprs, role, whole)
        out = _split(con, whole, work / "out", role is not None)
        staged = _move(f"{plan.source.KEY}--{{acct}}--{plan.sha256[:12]}", out, staging)
        if contracts.APPLIED_SOURCE in exprs:
            _split_applied(con, staged, staging)
        _check_currencies(con, plan, mapper, exprs, staged, staging)
        _summarize(con, staged, staging)
        staged.rows_in = _rows_in(con, plan, staged, staging)
        staged.issues = ([filled] if filled else []) + conformance.count(
            con, _paths(staged, staging), plan, mapper, exprs, sql_type
        )
        staged.warnings = mapper.warnings + staged.warnings + [conformance.message(i) for i in staged.issues]
        staged.notes = mapper.notes
        return staged
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)


def _copy(
    con: duckdb.DuckDBPyConnection, plan: Plan, mapper: Mapper, exprs: dict[str, str], role: str | None, whole: Path
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """COPY the mapped rows to ``whole``, or refuse the first bad row. A refusal for a missing
    currency is retried once with zero-cost rows given their account's currency."""
    filled = None
    while True:
        select = focus_sql(exprs, mapper.checks, plan.mapped(mapper), plan.label, role)
        try:
            con.execute(f"COPY ({select}) TO {quote_path(whole)} (FORMAT parquet, COMPRESSION zstd)")
            return exprs, filled
        except duckdb.Error as exc:
            located = diagnose(con, plan, mapper, mapper.checks + output_checks(exprs))
            if located and located[1].field == C.BillingCurrency and filled is None:
                exprs, filled = conformance.fill_currency(con, plan, mapper, exprs)
                con.execute("RESET threads")
                if filled is not None:
                    continue
            message = with_row(plan.files[0], first_line(exc))
            odd = plan.files[0].odd_line_end() if located is None and "state machine" in message else None
            where_ = located[0] if located else f"{plan.label}: {odd}" if odd else None
            raise IngestError(
                where_ or (message if message.startswith(plan.label) else f"{plan.label}: {message}")
            ) from exc


def _split(con: duckdb.DuckDBPyConnection, whole: Path, out: Path, roles: bool) -> Path:
    """``whole`` as ``out/__period=P/__acct=A[/__role=R]/*.parquet``, a folder per period and account.

    An export usually holds one billing period of one account: then the file is moved, not
    rewritten (DuckDB's partitioned write costs about three plain writes, so it is the fallback).
    """
    keys = f"strftime({C.BillingPeriodStart}, '%Y-%m') AS __period, {_acct_slug(C.BillingAccountId)} AS __acct"
    src = f"read_parquet({quote_path(whole)})"
    found = con.execute(f"SELECT DISTINCT {keys} FROM {src} LIMIT 2").fetchall()
    if len(found) == 1 and not roles:
        folder = out / f"__period={found[0][0]}" / f"__acct={found[0][1]}"
        folder.mkdir(parents=True)
        whole.rename(folder / "data_0.parquet")
    elif found:
        con.execute(
            f"COPY (SELECT *, {keys} FROM {src}) TO {quote_path(out)} "
            f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (__period, __acct{', __role' if roles else ''}))"
        )
    return out


def _move(pattern: str, out: Path, staging: Path) -> Staged:
    """Move the split files into ``staging/billing_period=P/``, named ``pattern`` (with ``{acct}``)."""
    staged = Staged()
    for leaf in sorted({f.parent for f in out.rglob("*.parquet")}):
        keys = dict(part.split("=", 1) for part in leaf.relative_to(out).parts)
        period, acct, role = keys["__period"], keys["__acct"], keys.get("__role", "")
        folder = staging / f"billing_period={period}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(sorted(leaf.glob("*.parquet"))):
            name = f"{pattern.format(acct=acct)}{'-' + role if role else ''}--{i:03d}.parquet"
            f.rename(folder / name)
            staged.files.append(StagedFile(period, acct, name, role))
    return staged


def _split_applied(con: duckdb.DuckDBPyConnection, staged: Staged, staging: Path) -> None:
    """Move the ContractApplied entries of each staged file into its applied file (contracts.py)."""
    names = [c.name for c in FOCUS_COLUMNS]
    for f in staged.files:
        folder = f"billing_period={f.period}"
        out = staging / contracts.FOLDER / contracts.APPLIED / folder / f.name
        contracts.write_applied(con, staging / folder / f.name, out, names)


def _paths(staged: Staged, staging: Path) -> list[str]:
    return [str(staging / f"billing_period={f.period}" / f.name) for f in staged.files]


def _check_currencies(
    con: duckdb.DuckDBPyConnection, plan: Plan, mapper: Mapper, exprs: dict[str, str], staged: Staged, staging: Path
) -> None:
    """One billing account bills in one currency; a second currency is refused at its first row."""
    files = _paths(staged, staging)
    if not files:
        return
    mixed = con.execute(
        f"SELECT {C.BillingAccountId}, list(DISTINCT {C.BillingCurrency} ORDER BY {C.BillingCurrency}) "
        f"FROM read_parquet(?) GROUP BY 1 HAVING count(DISTINCT {C.BillingCurrency}) > 1 LIMIT 1",
        [files],
    ).fetchone()
    if mixed is None:
        return
    account, currencies = mixed
    msg = f"{plan.label}: billing account {account} has several billing currencies {currencies}"
    acct, cur = exprs[C.BillingAccountId], exprs[C.BillingCurrency]
    rel = plan.mapped(mapper, row_numbers=True)
    con.execute("SET threads = 1")
    first = con.execute(f"SELECT {cur} FROM {rel} AS src WHERE {acct} = ? ORDER BY __row LIMIT 1", [account]).fetchone()
    row = con.execute(
        f"SELECT __row, {cur} FROM {rel} AS src WHERE {acct} = ? AND {cur} IS DISTINCT FROM ? ORDER BY __row LIMIT 1",
        [account, first[0] if first else None],
    ).fetchone()
    if row is not None:
        msg += f"; row {row[0]}: column BillingCurrency: {row[1]!r} differs from {first[0] if first else None!r}"
    raise IngestError(msg)


def _rows_in(con: duckdb.DuckDBPyConnection, plan: Plan, staged: Staged, staging: Path) -> int:
    """Provider rows read: the rows published less those the source adds, told apart in the output
    (``EXPANDED``, AWS's unused-commitment rows) or else counted in the input (``COUNT_INPUTS``)."""
    if getattr(plan.source, "COUNT_INPUTS", False):
        counted = con.execute(f"SELECT count(*) FROM {plan.relation()}").fetchone()
        return int(counted[0]) if counted else 0
    expanded = getattr(plan.source, "EXPANDED", None)
    files = _paths(staged, staging)
    if expanded is None or not files:
        return staged.rows
    added = con.execute(f"SELECT count(*) FILTER (WHERE {expanded}) FROM read_parquet(?)", [files]).fetchone()
    return staged.rows - int(added[0] if added else 0)


def _summarize(con: duckdb.DuckDBPyConnection, staged: Staged, staging: Path) -> None:
    """Rows and totals per staged file and in all; a warning for services of unknown category."""
    files = _paths(staged, staging)
    if not files:
        return
    by_path = {p: f for p, f in zip(files, staged.files, strict=True)}
    for path, cur, n, billed, effective in con.execute(
        f"SELECT filename, {C.BillingCurrency}, count(*), sum({C.BilledCost}), sum({C.EffectiveCost}) "
        "FROM read_parquet(?, filename = true) GROUP BY ALL ORDER BY 1, 2",
        [files],
    ).fetchall():
        f = by_path[path]
        f.rows += int(n)
        f.totals[cur] = {C.BilledCost: float(billed), C.EffectiveCost: float(effective)}
    staged.rows = sum(f.rows for f in staged.files)
    staged.totals = add_totals(f.totals for f in staged.files)
    other = con.execute(
        f"SELECT {C.ServiceName}, count(*) FROM read_parquet(?) WHERE {C.ServiceCategory} = 'Other' "
        "GROUP BY 1 ORDER BY 2 DESC",
        [files],
    ).fetchall()
    if other:
        names = ", ".join(f"{s} ({n} rows)" for s, n in other[:8])
        staged.warnings.append(
            f"{len(other)} service(s) with ServiceCategory Other (no known category; provider exports map theirs "
            f"through finops_core/ingest/services.py): {names}"
        )
