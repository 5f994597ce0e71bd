"""Nonconforming rows that are kept: count each rule of ``rules.RULES`` on the staged Parquet and
locate the first rows of the rules that fire; fill a zero-cost row's missing currency.

An issue is a dict stored with its source in the manifest: ``rule``, ``column`` (FOCUS),
``source_column``, ``reason``, ``rows`` (how many), ``first`` (up to ``FIRST`` locations, each
``{"row": data row, "line": file line, "value": ...}``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb

from finops_core.ingest import rules
from finops_core.ingest.core import Mapper, ident, sql_str, where
from finops_core.schema import C

if TYPE_CHECKING:
    from finops_core.ingest.pipeline import Plan

FIRST = 5


def _typed(exprs: dict[str, str], sql_type: Any) -> dict[str, str]:
    from finops_core.schema import FOCUS_COLUMNS

    return {col.name: f"CAST(({exprs.get(col.name, 'NULL')}) AS {sql_type(col.dtype)})" for col in FOCUS_COLUMNS}


def count(
    con: duckdb.DuckDBPyConnection,
    files: list[str],
    plan: Plan,
    mapper: Mapper,
    exprs: dict[str, str],
    sql_type: Any,
) -> list[dict[str, Any]]:
    """One issue per rule that some staged row breaks, located in the input."""
    if not files:
        return []
    on_output = {c: ident(c) for c in _typed(exprs, sql_type)}
    counts = con.execute(
        "SELECT "
        + ", ".join(f"count(*) FILTER (WHERE {r.bad.format(**on_output)})" for r in rules.RULES)
        + " FROM read_parquet(?)",
        [files],
    ).fetchone()
    fired = [(r, int(n)) for r, n in zip(rules.RULES, counts or (), strict=True) if n]
    if not fired:
        return []
    typed = _typed(exprs, sql_type)
    rel = plan.mapped(mapper, row_numbers=True)
    # one ordered pass locates every rule that fired: its first rows (min_by keeps the n smallest)
    sources = [mapper.origin.get(r.column) for r, _ in fired]
    located = ", ".join(
        f"min_by(CASE WHEN {r.bad.format(**typed)} THEN struct_pack(r := __row, v := CAST("
        f"{mapper.col(src) if src else typed[r.column]} AS VARCHAR)) END, "
        f"CASE WHEN {r.bad.format(**typed)} THEN __row END, {FIRST})"
        for (r, _), src in zip(fired, sources, strict=True)
    )
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    found = con.execute(f"SELECT {located} FROM {rel} AS src").fetchone() or ()
    con.execute("RESET threads")
    return [
        _issue(r, src, n, sorted((hit["r"], hit["v"]) for hit in hits if hit is not None), mapper)
        for (r, n), src, hits in zip(fired, sources, found, strict=True)
    ]


def _issue(rule: rules.Rule, source: str | None, n: int, rows: list[Any], mapper: Mapper) -> dict[str, Any]:
    lines = mapper.file.lines([int(r[0]) for r in rows])
    return {
        "rule": rule.id,
        "column": rule.column,
        "source_column": source,
        "reason": rule.reason,
        "rows": n,
        # "row" as a spreadsheet shows it (the header is row 1), as every message counts
        "first": [{"row": int(r[0]) + 1, "line": ln, "value": r[1]} for r, ln in zip(rows, lines, strict=True)],
    }


def message(issue: dict[str, Any]) -> str:
    """'rule R: N rows (first at row 2 (file line 2), ...): column X (source Y): value reason'."""
    first = issue["first"]
    at = ", ".join(where(f["row"] - 1, f["line"]) for f in first) + (", ..." if issue["rows"] > len(first) else "")
    src = issue["source_column"]
    column = issue["column"] + (f" (source column {src})" if src and src != issue["column"] else "")
    shown = "" if not first or first[0]["value"] is None else repr(first[0]["value"]) + " "
    n = issue["rows"]
    return f"rule {issue['rule']}: {n} row{'s' if n != 1 else ''} ({at}): column {column}: {shown}{issue['reason']}"


def fill_currency(
    con: duckdb.DuckDBPyConnection, plan: Plan, mapper: Mapper, exprs: dict[str, str]
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """``exprs`` with zero-cost rows' missing BillingCurrency set to their account's one currency.

    Run only after the COPY refused a row without a currency (the fast path pays nothing). Returns
    the issue when rows were filled; a row with a cost and no currency stays refused.
    """
    cur, acct = f"({exprs[C.BillingCurrency]})", f"({exprs[C.BillingAccountId]})"
    zero = f"coalesce(({exprs[C.BilledCost]}) = 0, true) AND coalesce(({exprs[C.EffectiveCost]}) = 0, true)"
    rel = plan.mapped(mapper, row_numbers=True)
    found = con.execute(
        f"SELECT {acct}, min({cur}), count(DISTINCT {cur}) FROM {rel} AS src GROUP BY 1 HAVING min({cur}) IS NOT NULL"
    ).fetchall()
    known = {a: c for a, c, k in found if k == 1 and a is not None}
    if not known:
        return exprs, None
    by_acct = " ".join(f"WHEN {sql_str(a)} THEN {sql_str(c)}" for a, c in known.items())
    filled = f"CASE WHEN {zero} THEN CASE {acct} {by_acct} END END"
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    n, rows = con.execute(
        f"SELECT count(*), list(__row ORDER BY __row)[1:{FIRST}] FROM {rel} AS src WHERE {cur} IS NULL AND ({filled}) IS NOT NULL"
    ).fetchone() or (0, [])
    if not n:
        return exprs, None
    source = mapper.origin.get(C.BillingCurrency)
    issue = _issue(rules.CURRENCY_FILLED, source, int(n), [(r, None) for r in rows], mapper)
    return exprs | {C.BillingCurrency: f"coalesce({cur}, {filled})"}, issue
