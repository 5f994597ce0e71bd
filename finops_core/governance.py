"""Allocation and tagging metrics over a store version: coverage, tag compliance, the remediation
list, showback, typo proposals, and rule changes (dry run, then save); the rule explorer is in
``explorer.py``.

Definitions used throughout:
- *Allocated*: cost whose x_Team is a team (not ``Unallocated``), after shared-cost splits.
- *Controllable* spend: charges of category Usage (what a team's choices change); taxes, credits,
  adjustments and purchases are not.
- *Taggable*: usage charges of a resource (ResourceId set). Compliance for a key is the share of
  taggable cost whose resource carries the key (under any spelling in tags.yaml).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from finops_core import allocation, db, rollups, state, store, tagrules
from finops_core.query import ALL, CostQuery, Scope, compile_where, scope_sql
from finops_core.schema import UNALLOCATED, C

SOURCES = ("tag", "rule", "split", "unallocated")


def _month(expr: str) -> str:
    return f"CAST(date_trunc('month', {expr}) AS DATE)"


def _rule_kinds(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rules = rollups.version_rules(con, "r")
    kinds = {r.id: ("tag" if r.tag else "rule") for r in rules.allocation.rules_for("team")}
    kinds |= {s.id: "split" for s in rules.allocation.splits}
    return kinds | {allocation.NO_RULE: "unallocated"}


def coverage(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """Per month and currency: total, allocated and coverage, of all spend and of controllable
    spend, and the cost each source attributed (tag, rule, split, unallocated)."""
    view, where, params = compile_where(q, (C.x_Team, C.ChargeCategory, C.x_AllocationRule))
    frame = db.frame(
        con,
        f"SELECT {_month(C.x_ChargeDate)} AS month, {C.BillingCurrency}, {C.x_AllocationRule} AS rule, "
        f"{C.x_Team} <> '{UNALLOCATED}' AS allocated, {C.ChargeCategory} = 'Usage' AS controllable, "
        f"sum({q.metric}) AS cost FROM {view} WHERE {where} GROUP BY ALL",
        params,
    )
    kinds = _rule_kinds(con)
    frame = frame.with_columns(pl.col("rule").replace_strict(kinds, default="rule").alias("source"))
    c = pl.col("cost")
    out = frame.group_by("month", C.BillingCurrency).agg(
        c.sum().alias("total"),
        c.filter(pl.col("allocated")).sum().alias("allocated"),
        c.filter(pl.col("controllable")).sum().alias("controllable"),
        c.filter(pl.col("controllable") & pl.col("allocated")).sum().alias("controllable_allocated"),
        *[c.filter(pl.col("source") == s).sum().alias(f"by_{s}") for s in SOURCES],
    )
    return out.with_columns(
        (pl.col("allocated") / pl.col("total")).alias("coverage"),
        (pl.col("controllable_allocated") / pl.col("controllable")).alias("controllable_coverage"),
    ).sort("month", C.BillingCurrency)


def _compliant_shares(keys: tuple[str, ...]) -> str:
    """Per key, the share of taggable cost whose resource carries it (0 when none does)."""
    return ", ".join(
        f"coalesce(sum({C.EffectiveCost}) FILTER (NOT contains(missing, ',{k},')), 0) "
        f'/ nullif(sum({C.EffectiveCost}), 0) AS "{k}"'
        for k in keys
    )


def _compliance_where(q: CostQuery, params: list[object]) -> str:
    """The compliance rollup has billing months, not days: a month is in when it overlaps ``q``."""
    params += [q.start.replace(day=1), q.end]
    clauses = [f"{C.x_BillingMonth} BETWEEN ? AND ?", "taggable", scope_sql(q.scope, params)]
    currency = q.filter_values(C.BillingCurrency)
    if currency:
        clauses.append(f"{C.BillingCurrency} IN ({', '.join('?' for _ in currency)})")
        params += list(currency)
    return " AND ".join(clauses)


def compliance(
    con: duckdb.DuckDBPyConnection, q: CostQuery, keys: tuple[str, ...], by: str | None = None
) -> pl.DataFrame:
    """Tag compliance per required key: one row per (``by`` value if given, month, BillingCurrency)
    with taggable cost and, per key, the compliant share ``<key>``. ``by``: SubAccountName, x_Team,
    ServiceName or ProviderName (x_Team is the direct team, before splits)."""
    params: list[object] = []
    where = _compliance_where(q, params)
    group = f"{by}, " if by else ""
    shares = _compliant_shares(keys)
    sql = (
        f"SELECT {group}{C.x_BillingMonth} AS month, {C.BillingCurrency}, sum({C.EffectiveCost}) AS taggable_cost, "
        f"{shares} "
        f"FROM compliance WHERE {where} GROUP BY ALL ORDER BY ALL"
    )
    return db.frame(con, sql, params)


def compliance_summary(con: duckdb.DuckDBPyConnection, q: CostQuery, keys: tuple[str, ...], by: str) -> pl.DataFrame:
    """Compliance per ``by`` value over the whole period of ``q`` (one row per value and BillingCurrency),
    costliest first."""
    params: list[object] = []
    where = _compliance_where(q, params)
    shares = _compliant_shares(keys)
    return db.frame(
        con,
        f"SELECT coalesce({by}, '(not set)') AS {by}, {C.BillingCurrency}, sum({C.EffectiveCost}) AS taggable_cost, "
        f"{shares} "
        f"FROM compliance WHERE {where} GROUP BY ALL ORDER BY taggable_cost DESC",
        params,
    )


def _owners_sql(q: CostQuery, params: list[object]) -> str:
    """Per sub account, the team owning most tagged cost (all time) among the rows ``q``'s caller
    may see, in ``q``'s currencies: a viewer is never pointed at a team outside their scope."""
    clauses = [
        "taggable",
        "NOT contains(missing, ',team,')",
        f"{C.x_Team} <> '{UNALLOCATED}'",
        scope_sql(q.scope, params),
    ]
    currency = q.filter_values(C.BillingCurrency)
    if currency:
        clauses.append(f"{C.BillingCurrency} IN ({', '.join('?' for _ in currency)})")
        params += list(currency)
    return (
        f"SELECT {C.SubAccountId}, {C.BillingCurrency}, arg_max(team, cost) AS likely_owner, "
        f"max(cost) / sum(cost) AS owner_share FROM (SELECT {C.SubAccountId}, {C.BillingCurrency}, {C.x_Team} AS team, sum({C.EffectiveCost}) AS cost FROM compliance "
        f"WHERE {' AND '.join(clauses)} GROUP BY ALL) GROUP BY ALL"
    )


def remediation(con: duckdb.DuckDBPyConnection, q: CostQuery, key: str = "team", limit: int = 200) -> pl.DataFrame:
    """Taggable resources missing tag ``key``, costliest first, one row per (resource, sub account,
    BillingCurrency), with who to ask: the team owning most of the tagged cost in the same sub account
    and currency (``likely_owner``, ``owner_share``)."""
    _, where, params = compile_where(q, (C.Tags,))
    owner_params: list[object] = []
    owners = _owners_sql(q, owner_params)
    sql = (
        f"WITH gaps AS (SELECT {C.ResourceId}, {C.BillingCurrency}, any_value({C.ResourceName}) AS {C.ResourceName}, "
        f"any_value({C.SubAccountName}) AS {C.SubAccountName}, {C.SubAccountId}, "
        f"any_value({C.ServiceName}) AS {C.ServiceName}, any_value({C.RegionId}) AS {C.RegionId}, "
        f"sum({q.metric}) AS cost, replace(trim(max({C.x_MissingTags}), ','), ',', ', ') AS missing_tags, "
        f"arg_max({C.x_Team}, {q.metric}) AS allocated_to, arg_max({C.x_AllocationRule}, {q.metric}) AS by_rule, "
        f"arg_max({C.x_Pool}, {q.metric}) AS shared_by "
        f"FROM focus_rows WHERE {where} AND {allocation.TAGGABLE_SQL} "
        f"AND contains({C.x_MissingTags}, ',' || ? || ',') GROUP BY {C.ResourceId}, {C.SubAccountId}, {C.BillingCurrency}) "
        f"SELECT g.*, o.likely_owner, o.owner_share FROM gaps g LEFT JOIN ({owners}) o USING ({C.SubAccountId}, {C.BillingCurrency}) "
        f"ORDER BY cost DESC, {C.ResourceId} LIMIT ?"
    )
    return db.frame(con, sql, [*params, key, *owner_params, limit])


def showback(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """Per team and month of the charge: direct cost, shared cost (received from splits), total."""
    view, where, params = compile_where(q, (C.x_Team, C.x_AllocationRule))
    return db.frame(
        con,
        f"SELECT {C.x_Team}, {_month(C.x_ChargeDate)} AS month, {C.BillingCurrency}, "
        f"sum({q.metric}) FILTER ({C.x_AllocationRule} NOT IN (SELECT DISTINCT rule FROM shares)) AS direct, "
        f"coalesce(sum({q.metric}) FILTER ({C.x_AllocationRule} IN (SELECT DISTINCT rule FROM shares)), 0) AS shared, "
        f"sum({q.metric}) AS total FROM {view} WHERE {where} GROUP BY ALL ORDER BY month, total DESC",
        params,
    ).with_columns(pl.col("direct").fill_null(0.0))


def showback_by_team(frame: pl.DataFrame) -> pl.DataFrame:
    """``showback`` rows summed per (BillingCurrency, team) over the period: direct, shared, total and
    share of the currency's total."""
    return (
        frame.group_by(C.BillingCurrency, C.x_Team)
        .agg(pl.col("direct").sum(), pl.col("shared").sum(), pl.col("total").sum())
        .sort(C.BillingCurrency, "total", descending=[False, True])
        .with_columns((pl.col("total") / pl.col("total").sum().over(C.BillingCurrency)).alias("share"))
    )


def showback_pivot(frame: pl.DataFrame) -> pl.DataFrame:
    """``showback`` totals as (BillingCurrency, team) x months (YYYY-MM-01 columns), zero where a team had none."""
    monthly = frame.with_columns(pl.col("month").cast(pl.String))
    pivot = monthly.pivot(
        "month", index=[C.BillingCurrency, C.x_Team], values="total", aggregate_function="sum", sort_columns=True
    )
    return pivot.fill_null(0.0)


# ---------------------------------------------------------------------------------------------
# Tag typos


def typo_proposals(
    con: duckdb.DuckDBPyConnection,
    key: str,
    tag_rules: tagrules.TagRules,
    scope: Scope = ALL,
    currencies: tuple[str, ...] = (),
) -> list[tuple[str, str, int, str, float]]:
    """Proposed value aliases for ``key`` among the tag values not already aliased, over all time:
    (alias, canonical, edit distance, currency, cost of the alias in that currency).

    Only rows in ``scope`` count (by direct team or sub account), in ``currencies`` if given.
    Each currency is proposed on its own: "costlier" compares amounts, and amounts in two
    currencies are never added or compared."""
    params: list[object] = []
    where = scope_sql(scope, params)
    if currencies:
        where += f" AND {C.BillingCurrency} IN ({', '.join('?' for _ in currencies)})"
        params += list(currencies)
    sql = f"SELECT {C.Tags}, {C.BillingCurrency}, sum({C.EffectiveCost}) FROM focus_rows WHERE {where} GROUP BY ALL"
    costs: dict[str, dict[str, float]] = {}
    for tags, currency, cost in db.rows(con, sql, params):
        raw = tag_rules.raw(tagrules.folded_tags(tags), key)
        if raw is not None:
            value = raw.strip().lower() if key in tag_rules.fold_case else raw.strip()
            if value.lower() not in tag_rules.values.get(key, {}):
                per = costs.setdefault(str(currency), {})
                per[value] = per.get(value, 0.0) + float(cost)
    out = [
        (alias, canonical, dist, currency, cost)
        for currency in sorted(costs)
        for alias, canonical, dist, cost in tagrules.suggest(costs[currency])
    ]
    return sorted(out, key=lambda r: (r[3], -r[4]))


def typo_table(con: duckdb.DuckDBPyConnection, q: CostQuery, key: str) -> pl.DataFrame:
    """``typo_proposals`` under the version's tag rules for the scope and currency filter of ``q``
    (all time), one row per (alias, BillingCurrency): alias, canonical, edit_distance, cost."""
    tag_rules = rollups.version_rules(con, "r").tags
    proposals = typo_proposals(con, key, tag_rules, q.scope, q.filter_values(C.BillingCurrency) or ())
    schema = {
        "alias": pl.String,
        "canonical": pl.String,
        "edit_distance": pl.Int64,
        C.BillingCurrency: pl.String,
        "cost": pl.Float64,
    }
    return pl.DataFrame(proposals, schema=schema, orient="row")


def accept_aliases(root: Path, key: str, aliases: dict[str, str], username: str) -> str:
    """Add value aliases a person accepted to tags.yaml, put it in force and rebuild (see save_rules)."""
    path = allocation.rules_path("tags.yaml")
    text = tagrules.add_aliases(path.read_text() if path.exists() else "", key, aliases, path)
    return save_rules(root, "tags.yaml", text, username)


# ---------------------------------------------------------------------------------------------
# Rule changes: dry run, then save


def team_totals(con: duckdb.DuckDBPyConnection, files: list[str], ruleset: rollups.RuleSet) -> pl.DataFrame:
    """EffectiveCost and BilledCost per (billing month, currency, team) under ``ruleset``, after
    splits, computed from the raw rows (nothing is written to the store)."""
    source = rollups.parquet_source(files)
    rollups.create_tag_map(con, source, ruleset, "_dry_tag_map")
    attributed = allocation.attributed_sql(ruleset.allocation, source, "_dry_tag_map")
    metrics = (C.EffectiveCost, C.BilledCost)
    sums = ", ".join(f"sum({m}) AS {m}" for m in metrics)
    keys = f"{C.x_BillingMonth}, {C.BillingCurrency}, {C.x_Team}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _dry_direct AS SELECT {keys}, {C.x_AllocationRule}, {C.x_Pool}, {sums} "
        f"FROM ({attributed}) GROUP BY ALL"
    )
    allocation.create_shares(con, ruleset.allocation, "_dry_direct", "_dry_shares")
    after = allocation.allocated_sql("SELECT * FROM _dry_direct", "_dry_shares", metrics)
    return db.frame(con, f"SELECT {keys}, {sums} FROM ({after}) GROUP BY ALL")


def dry_run(root: Path, candidate: dict[str, str]) -> pl.DataFrame:
    """How cost moves between teams if ``candidate`` (file name -> text, for the files changed)
    replaced the rules in force: one row per (billing month, currency, team) with ``before``,
    ``after`` and ``change`` in EffectiveCost. Raises RulesError for an invalid candidate."""
    files = store.partition_files(root)
    current = rollups.current_rules()
    proposed = rollups.parse_rules(current.texts | candidate)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        keys = [C.x_BillingMonth, C.BillingCurrency, C.x_Team]
        before = team_totals(con, files, current).select(*keys, pl.col(C.EffectiveCost).alias("before"))
        after = team_totals(con, files, proposed).select(*keys, pl.col(C.EffectiveCost).alias("after"))
    finally:
        con.close()
    out = before.join(after, on=keys, how="full", coalesce=True).with_columns(
        pl.col("before").fill_null(0.0), pl.col("after").fill_null(0.0)
    )
    return out.with_columns((pl.col("after") - pl.col("before")).alias("change")).sort(keys)


def moves(frame: pl.DataFrame, currency: str | None = None, last_months: int | None = None) -> pl.DataFrame:
    """A ``dry_run`` summed per (currency, team) over its billing months (the last ``last_months``
    of them if given, in ``currency`` if given): before, after, change; only teams that change."""
    if currency is not None:
        frame = frame.filter(pl.col(C.BillingCurrency) == currency)
    if last_months is not None:
        months = sorted(frame[C.x_BillingMonth].unique().to_list())[-last_months:]
        frame = frame.filter(pl.col(C.x_BillingMonth).is_in(months))
    return (
        frame.group_by(C.BillingCurrency, C.x_Team)
        .agg(pl.col("before").sum(), pl.col("after").sum(), pl.col("change").sum())
        .filter(pl.col("change").abs() > 0.005)
        .sort(C.BillingCurrency, "change")
    )


RULES_SCHEMA = """
CREATE TABLE IF NOT EXISTS rule_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    username TEXT NOT NULL,
    name TEXT NOT NULL,          -- allocation.yaml or tags.yaml
    text TEXT NOT NULL,          -- the whole file as saved
    diff TEXT NOT NULL,          -- unified diff against the file it replaced
    data_version TEXT NOT NULL   -- the store version rebuilt with it
);
"""


def save_rules(root: Path, name: str, text: str, username: str) -> str:
    """Validate ``text`` as rules file ``name``, put it in force and rebuild the store with it.

    The rebuild checks conservation; if anything fails, the previous file is put back and the
    store stays on its current version. Records the version (who, when, diff) and an audit event.
    Returns the new data version."""
    if name not in allocation.RULE_FILES:
        raise tagrules.RulesError(f"{name}: not a rules file (one of {', '.join(allocation.RULE_FILES)})")
    current = rollups.current_rules()
    rollups.parse_rules(current.texts | {name: text})  # refuses an invalid file before anything changes
    old = current.texts.get(name, "")
    if old == text:
        raise tagrules.RulesError(f"{name}: no change to save")
    target = allocation.rules_dir() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = target.read_text() if target.exists() else None
    _write_atomic(target, text)
    try:
        version = store.rebuild(root, note=f"rules: {name} changed by {username}")
    except BaseException:
        if previous is None:
            target.unlink()
        else:
            _write_atomic(target, previous)
        raise
    diff = "".join(difflib.unified_diff(old.splitlines(True), text.splitlines(True), f"a/{name}", f"b/{name}"))
    with state.transaction(schema=RULES_SCHEMA) as tx:
        tx.execute(
            "INSERT INTO rule_versions (at, username, name, text, diff, data_version) VALUES (?, ?, ?, ?, ?, ?)",
            (_now(), username, name, text, diff, version),
        )
    added = sum(1 for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff.splitlines() if line.startswith("-") and not line.startswith("---"))
    state.record("rules_change", username, {"file": name, "data_version": version, "added": added, "removed": removed})
    return version


def rule_history(name: str | None = None) -> pl.DataFrame:
    """Saved rule versions, newest first: id, at, username, name, diff, data_version."""
    con = state.connect()
    try:
        con.executescript(RULES_SCHEMA)
        sql = "SELECT id, at, username, name, diff, data_version FROM rule_versions"
        params: list[Any] = []
        if name:
            sql += " WHERE name = ?"
            params.append(name)
        rows = con.execute(sql + " ORDER BY id DESC", params).fetchall()
    finally:
        con.close()
    schema = {
        "id": pl.Int64,
        "at": pl.String,
        "username": pl.String,
        "name": pl.String,
        "diff": pl.String,
        "data_version": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
