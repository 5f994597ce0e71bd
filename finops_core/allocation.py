"""Allocation rules (``data/rules/allocation.yaml``): attribution with precedence and effective
dates, shared-cost splits, and their translation to SQL over FOCUS rows.

- **Attribution** sets x_Team, x_Product, x_Environment and x_CostCenter. For each target the
  rules are tried in file order and the first that matches wins; a row no rule matches is
  ``Unallocated``. A rule takes its value from a normalized tag (``tag: team``) or states it
  (``value: payments``) for rows matching its conditions (sub account, service, resource-id
  pattern, ...), optionally only for charges dated within ``from``/``until``.
  ``x_AllocationRule`` names the rule that set x_Team.
- **Shared-cost splits** move a pool's cost (rows matching the pool's conditions, after
  attribution; the first pool that matches a row owns it) to teams: ``proportional`` to each
  team's direct cost in the same billing month and currency, ``even``, or ``fixed`` percentages
  summing to 100. Split rows carry the split's id in ``x_AllocationRule``. A pool with no team to
  receive it in a month keeps its cost where it was, so no cost is ever dropped.
- Conservation: the allocated rows sum to the raw rows for every billing period, currency and
  metric; ``check_conservation`` refuses a build where they do not.

Errors in a rules file name the file, the line and the field.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import yaml

from finops_core import db, tagrules
from finops_core.schema import FOCUS_COLUMNS, METRICS, UNALLOCATED, C
from finops_core.tagrules import CANONICAL, RulesError, where

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "rules"
RULE_FILES = ("allocation.yaml", "tags.yaml")
TARGETS: dict[str, str] = {
    "team": C.x_Team,
    "product": C.x_Product,
    "environment": C.x_Environment,
    "cost_center": C.x_CostCenter,
}
METHODS = ("proportional", "even", "fixed")
DEFAULT_REQUIRED_TAGS = ("team", "environment", "application", "cost_center")
NO_RULE = "none"
# Columns a condition may test: FOCUS text columns; pools may also test the attributed x_ columns.
MATCH_COLUMNS = tuple(c.name for c in FOCUS_COLUMNS if c.dtype == pl.String() and c.name != C.Tags)
POOL_COLUMNS = MATCH_COLUMNS + tuple(TARGETS.values())
# Charges a tag could be put on: usage of a resource, not the unused part of a commitment.
TAGGABLE_SQL = (
    f"({C.ResourceId} IS NOT NULL AND {C.ChargeCategory} = 'Usage' "
    f"AND coalesce({C.CommitmentDiscountStatus}, '') <> 'Unused')"
)
SCALED = (*METRICS, C.ConsumedQuantity, C.PricingQuantity)  # columns a split multiplies by the share
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Match:
    """One condition: ``column`` is one of ``values``, or matches the RE2 ``pattern``."""

    column: str
    values: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True)
class Rule:
    """An attribution rule: set ``target`` from ``tag`` or to ``value`` where ``match`` holds."""

    id: str
    target: str
    tag: str | None = None
    value: str | None = None
    match: tuple[Match, ...] = ()
    start: date | None = None
    end: date | None = None
    line: int = 0


@dataclass(frozen=True)
class Split:
    """A shared-cost pool and how it is split to teams."""

    id: str
    pool: tuple[Match, ...]
    method: str
    to: tuple[str, ...] | None = None  # receiving teams (None: every team with direct cost)
    weights: dict[str, float] = field(default_factory=dict)  # fixed: team -> percent
    start: date | None = None
    end: date | None = None
    line: int = 0


@dataclass(frozen=True)
class AllocationRules:
    attribution: tuple[Rule, ...] = ()
    splits: tuple[Split, ...] = ()
    required_tags: tuple[str, ...] = DEFAULT_REQUIRED_TAGS

    def rules_for(self, target: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.attribution if r.target == target)


# The rules in force when no allocation file exists: normalized tags only.
TAGS_ONLY = AllocationRules(tuple(Rule(f"tag-{t}", t, tag=t) for t in TARGETS))


def rules_dir() -> Path:
    """Where edited rules live (``$FINOPS_STATE/rules``); shipped rules are the fallback."""
    from finops_core.access import state_dir

    return Path(os.environ.get("FINOPS_RULES") or state_dir() / "rules")


def rules_path(name: str) -> Path:
    """The rules file in force: an edited copy if one was saved, else the shipped one."""
    edited = rules_dir() / name
    return edited if edited.exists() else SHIPPED_DIR / name


# ---------------------------------------------------------------------------------------------
# Parsing


def load(path: Path) -> AllocationRules:
    return parse(tagrules.read(path), path)


def parse(text: str, path: Path | str = "allocation.yaml") -> AllocationRules:
    """Parse and check an allocation rules document; errors name file, line and field."""
    p = Path(path)
    root = tagrules.compose(text, p)
    if root is None:
        return AllocationRules()
    parts = _mapping(p, root, "", {"required_tags", "attribution", "shared"})
    required: tuple[str, ...] = DEFAULT_REQUIRED_TAGS
    if "required_tags" in parts:
        required = tuple(_strings(p, parts["required_tags"], "required_tags"))
        for key in required:
            if key not in CANONICAL:
                raise RulesError(
                    f"{where(p, parts['required_tags'], 'required_tags')}: {key!r} is not one of {CANONICAL}"
                )
    ids: dict[str, int] = {}
    attribution = tuple(
        _rule(p, node, i, ids) for i, node in enumerate(_sequence(p, parts.get("attribution"), "attribution"))
    )
    splits = tuple(_split(p, node, i, ids) for i, node in enumerate(_sequence(p, parts.get("shared"), "shared")))
    _check_recursion(p, splits)
    return AllocationRules(attribution, splits, required)


def _mapping(p: Path, node: yaml.Node, what: str, allowed: set[str]) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise RulesError(f"{where(p, node, what or 'top level')}: expected a mapping")
    out: dict[str, yaml.Node] = {}
    for k, v in node.value:
        name = str(k.value)
        if name not in allowed:
            raise RulesError(
                f"{where(p, k, f'{what}.{name}' if what else name)}: unknown field "
                f"(expected one of {', '.join(sorted(allowed))})"
            )
        out[name] = v
    return out


def _sequence(p: Path, node: yaml.Node | None, what: str) -> list[yaml.Node]:
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise RulesError(f"{where(p, node, what)}: expected a list")
    return list(node.value)


def _scalar(p: Path, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or str(node.value).strip() == "":
        raise RulesError(f"{where(p, node, what)}: expected a non-empty value")
    return str(node.value)


def _strings(p: Path, node: yaml.Node, what: str) -> list[str]:
    if isinstance(node, yaml.ScalarNode):
        return [_scalar(p, node, what)]
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise RulesError(f"{where(p, node, what)}: expected a value or a non-empty list of values")
    return [_scalar(p, n, what) for n in node.value]


def _date(p: Path, node: yaml.Node | None, what: str) -> date | None:
    if node is None:
        return None
    text = _scalar(p, node, what)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise RulesError(f"{where(p, node, what)}: {text!r} is not a date (YYYY-MM-DD)") from exc


def _rule_id(p: Path, fields: dict[str, yaml.Node], node: yaml.Node, what: str, ids: dict[str, int]) -> str:
    if "id" not in fields:
        raise RulesError(f"{where(p, node, what)}: missing field id")
    rid = _scalar(p, fields["id"], f"{what}.id")
    if not _ID.match(rid):
        raise RulesError(f"{where(p, fields['id'], f'{what}.id')}: {rid!r} must be lower-case letters, digits, - _ .")
    if rid in ids:
        raise RulesError(f"{where(p, fields['id'], f'{what}.id')}: {rid!r} is already used on line {ids[rid]}")
    ids[rid] = fields["id"].start_mark.line + 1
    return rid


def _matches(p: Path, node: yaml.Node | None, what: str, columns: tuple[str, ...]) -> tuple[Match, ...]:
    if node is None:
        return ()
    if not isinstance(node, yaml.MappingNode) or not node.value:
        raise RulesError(f"{where(p, node, what)}: expected a mapping of column -> values or {{pattern: ...}}")
    out = []
    for k, v in node.value:
        column = str(k.value)
        if column not in columns:
            raise RulesError(f"{where(p, k, f'{what}.{column}')}: not a column a rule can test")
        if isinstance(v, yaml.MappingNode):
            spec = _mapping(p, v, f"{what}.{column}", {"pattern"})
            if "pattern" not in spec:
                raise RulesError(f"{where(p, v, f'{what}.{column}')}: missing field pattern")
            pattern = _scalar(p, spec["pattern"], f"{what}.{column}.pattern")
            _check_pattern(p, spec["pattern"], f"{what}.{column}.pattern", pattern)
            out.append(Match(column, pattern=pattern))
        else:
            out.append(Match(column, values=tuple(_strings(p, v, f"{what}.{column}"))))
    return tuple(out)


@functools.cache
def _regex_connection() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _check_pattern(p: Path, node: yaml.Node, what: str, pattern: str) -> None:
    """DuckDB's regular expressions are RE2: check the pattern there, where it will run."""
    con = _regex_connection().cursor()
    try:
        con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
    except duckdb.Error as exc:
        raise RulesError(f"{where(p, node, what)}: invalid regular expression {pattern!r}: {exc}") from exc
    finally:
        con.close()


def _dates(p: Path, fields: dict[str, yaml.Node], what: str) -> tuple[date | None, date | None]:
    start, end = _date(p, fields.get("from"), f"{what}.from"), _date(p, fields.get("until"), f"{what}.until")
    if start and end and start > end:
        raise RulesError(f"{where(p, fields['until'], f'{what}.until')}: {end} is before from {start}")
    return start, end


def _rule(p: Path, node: yaml.Node, i: int, ids: dict[str, int]) -> Rule:
    what = f"attribution[{i}]"
    fields = _mapping(p, node, what, {"id", "set", "tag", "value", "match", "from", "until", "note"})
    rid = _rule_id(p, fields, node, what, ids)
    if "set" not in fields:
        raise RulesError(f"{where(p, node, what)}: missing field set (one of {', '.join(TARGETS)})")
    target = _scalar(p, fields["set"], f"{what}.set")
    if target not in TARGETS:
        raise RulesError(f"{where(p, fields['set'], f'{what}.set')}: {target!r} is not one of {', '.join(TARGETS)}")
    if ("tag" in fields) == ("value" in fields):
        raise RulesError(f"{where(p, node, what)}: give exactly one of tag (take the value from a tag) or value")
    tag = _scalar(p, fields["tag"], f"{what}.tag") if "tag" in fields else None
    if tag is not None and tag not in CANONICAL:
        raise RulesError(f"{where(p, fields['tag'], f'{what}.tag')}: {tag!r} is not one of {', '.join(CANONICAL)}")
    value = _scalar(p, fields["value"], f"{what}.value") if "value" in fields else None
    if value == UNALLOCATED:
        raise RulesError(f"{where(p, fields['value'], f'{what}.value')}: {UNALLOCATED!r} is what no rule gives")
    start, end = _dates(p, fields, what)
    match = _matches(p, fields.get("match"), f"{what}.match", MATCH_COLUMNS)
    return Rule(rid, target, tag, value, match, start, end, node.start_mark.line + 1)


def _split(p: Path, node: yaml.Node, i: int, ids: dict[str, int]) -> Split:
    what = f"shared[{i}]"
    fields = _mapping(p, node, what, {"id", "pool", "method", "to", "weights", "from", "until", "note"})
    sid = _rule_id(p, fields, node, what, ids)
    if "pool" not in fields:
        raise RulesError(f"{where(p, node, what)}: missing field pool (the conditions that pick the shared cost)")
    pool = _matches(p, fields["pool"], f"{what}.pool", POOL_COLUMNS)
    method = _scalar(p, fields["method"], f"{what}.method") if "method" in fields else ""
    if method not in METHODS:
        raise RulesError(
            f"{where(p, fields.get('method', node), f'{what}.method')}: expected one of {', '.join(METHODS)}"
        )
    to = tuple(_strings(p, fields["to"], f"{what}.to")) if "to" in fields else None
    weights: dict[str, float] = {}
    if method == "fixed":
        if "weights" not in fields or not isinstance(fields["weights"], yaml.MappingNode):
            raise RulesError(
                f"{where(p, fields.get('weights', node), f'{what}.weights')}: fixed needs weights: team -> percent"
            )
        for k, v in fields["weights"].value:
            team = _scalar(p, k, f"{what}.weights")
            try:
                pct = float(_scalar(p, v, f"{what}.weights.{team}"))
            except ValueError as exc:
                raise RulesError(f"{where(p, v, f'{what}.weights.{team}')}: {v.value!r} is not a number") from exc
            if not pct > 0:
                raise RulesError(f"{where(p, v, f'{what}.weights.{team}')}: a percent must be above 0")
            weights[team] = pct
        if abs(sum(weights.values()) - 100) > 1e-9:
            raise RulesError(
                f"{where(p, fields['weights'], f'{what}.weights')}: percents sum to {sum(weights.values()):g}, not 100"
            )
        if to is not None:
            raise RulesError(f"{where(p, fields['to'], f'{what}.to')}: fixed splits name their teams in weights")
    elif "weights" in fields:
        raise RulesError(f"{where(p, fields['weights'], f'{what}.weights')}: weights are only for method fixed")
    receivers = tuple(weights) if weights else (to or ())
    if UNALLOCATED in receivers:
        raise RulesError(f"{where(p, node, what)}: a split cannot send cost to {UNALLOCATED!r}")
    start, end = _dates(p, fields, what)
    return Split(sid, pool, method, to, weights, start, end, node.start_mark.line + 1)


def _check_recursion(p: Path, splits: tuple[Split, ...]) -> None:
    """A team that receives a split may not also be a pool (its cost would be split again)."""
    for s in splits:
        receivers = set(s.weights or s.to or ())
        for other in splits:
            pooled = {v for m in other.pool if m.column == C.x_Team for v in m.values}
            loop = receivers & pooled
            if loop:
                raise RulesError(
                    f"{p}:{s.line}: shared {s.id!r} sends cost to {sorted(loop)[0]!r}, "
                    f"which is itself the pool of shared {other.id!r} (line {other.line}): splits may not recurse"
                )


# ---------------------------------------------------------------------------------------------
# SQL


def literal(text: str) -> str:
    """A SQL string literal (rule values come from a checked file, and are quoted all the same)."""
    return "'" + text.replace("'", "''") + "'"


def condition(matches: tuple[Match, ...], start: date | None, end: date | None) -> str:
    parts = []
    for m in matches:
        if m.pattern is not None:
            parts.append(f"coalesce(regexp_matches({m.column}, {literal(m.pattern)}), FALSE)")
        else:
            parts.append(f"coalesce({m.column} IN ({', '.join(literal(v) for v in m.values)}), FALSE)")
    if start:
        parts.append(f"{C.x_ChargeDate} >= DATE {literal(start.isoformat())}")
    if end:
        parts.append(f"{C.x_ChargeDate} <= DATE {literal(end.isoformat())}")
    return " AND ".join(parts) or "TRUE"


def rule_condition(rule: Rule) -> str:
    """When ``rule`` applies to a row of the base relation (which has tag_<key> columns)."""
    cond = condition(rule.match, rule.start, rule.end)
    return cond if rule.tag is None else f"tag_{rule.tag} IS NOT NULL AND {cond}"


def _rule_value(rule: Rule) -> str:
    return f"tag_{rule.tag}" if rule.tag is not None else literal(rule.value or "")


def split_condition(split: Split) -> str:
    return condition(split.pool, split.start, split.end)


def attributed_sql(rules: AllocationRules, source: str, tag_table: str) -> str:
    """Rows of ``source`` with date columns, x_ attribution, x_AllocationRule and x_Pool (the split
    owning the row, or NULL). ``tag_table`` maps each Tags value to tag_<key> values."""
    tag_cols = ", ".join(f"m.tag_{k}" for k in CANONICAL)
    base = (
        f"SELECT f.*, CAST(f.{C.ChargePeriodStart} AS DATE) AS {C.x_ChargeDate}, "
        f"CAST(f.{C.BillingPeriodStart} AS DATE) AS {C.x_BillingMonth}, {tag_cols}, "
        f"coalesce(m.missing_tags, ',') AS {C.x_MissingTags} "
        f"FROM {source} f LEFT JOIN {tag_table} m ON coalesce(f.{C.Tags}, '') = m.tag_key"
    )
    cases = []
    for target, column in TARGETS.items():
        whens = " ".join(f"WHEN {rule_condition(r)} THEN {_rule_value(r)}" for r in rules.rules_for(target))
        cases.append(
            f"CASE {whens} ELSE {literal(UNALLOCATED)} END AS {column}"
            if whens
            else f"{literal(UNALLOCATED)} AS {column}"
        )
    team_rules = rules.rules_for("team")
    whens = " ".join(f"WHEN {rule_condition(r)} THEN {literal(r.id)}" for r in team_rules)
    cases.append(
        f"CASE {whens} ELSE {literal(NO_RULE)} END AS {C.x_AllocationRule}"
        if whens
        else f"{literal(NO_RULE)} AS {C.x_AllocationRule}"
    )
    cases.append(f"coalesce(tag_owner, {literal(UNALLOCATED)}) AS {C.x_Owner}")
    attributed = f"SELECT *, {', '.join(cases)} FROM ({base})"
    pools = " ".join(f"WHEN {split_condition(s)} THEN {literal(s.id)}" for s in rules.splits)
    pool = f"CASE {pools} END" if pools else "CAST(NULL AS VARCHAR)"
    return f"SELECT *, {pool} AS {C.x_Pool} FROM ({attributed})"


def allocated_sql(relation: str, shares_table: str, scaled: tuple[str, ...] = SCALED) -> str:
    """Rows of ``relation`` (attributed, with x_Pool) with each pooled row fanned out to its split
    rows: team and rule from the share, ``scaled`` columns times the share. One pass: rows outside
    any pool, and pools with no shares that month, join nothing and stay as they are."""
    cols = ", ".join(f"a.{c} * coalesce(s.share, 1) AS {c}" for c in scaled)
    return (
        f"SELECT a.* EXCLUDE ({', '.join(scaled)}, {C.x_Team}, {C.x_AllocationRule}), {cols}, "
        f"coalesce(s.team, a.{C.x_Team}) AS {C.x_Team}, coalesce(s.rule, a.{C.x_AllocationRule}) AS {C.x_AllocationRule} "
        f"FROM ({relation}) a LEFT JOIN {shares_table} s ON s.pool = a.{C.x_Pool} "
        f"AND s.month = a.{C.x_BillingMonth} AND s.currency = a.{C.BillingCurrency}"
    )


SHARES_SCHEMA = {
    "pool": pl.String,
    "month": pl.Date,
    "currency": pl.String,
    "team": pl.String,
    "share": pl.Float64,
    "rule": pl.String,
}


def shares(rules: AllocationRules, basis: pl.DataFrame) -> pl.DataFrame:
    """Each pool's share per receiving team, per billing month and currency.

    ``basis``: one row per (month, currency, team, pool) with the EffectiveCost of those rows
    (pool NULL for direct cost). A pool with nothing to split by in a month gets no shares and
    keeps its cost."""
    out: list[dict[str, Any]] = []
    direct = basis.filter(pl.col("pool").is_null() & (pl.col("team") != UNALLOCATED))
    by_period: dict[tuple[date, str], dict[str, float]] = {}
    for month, currency, team, cost in direct.select("month", "currency", "team", "cost").iter_rows():
        by_period.setdefault((month, currency), {})[team] = by_period.get((month, currency), {}).get(team, 0.0) + cost
    pooled = basis.filter(pl.col("pool").is_not_null()).select("pool", "month", "currency").unique()
    splits = {s.id: s for s in rules.splits}
    for pool, month, currency in pooled.sort("pool", "month", "currency").iter_rows():
        split = splits[pool]
        teams = by_period.get((month, currency), {})
        weights: dict[str, float]
        if split.method == "fixed":
            weights = dict(split.weights)
        else:
            candidates = {t: max(c, 0.0) for t, c in teams.items() if split.to is None or t in split.to}
            if split.method == "even":
                names = set(split.to) if split.to is not None else {t for t, c in candidates.items() if c > 0}
                weights = dict.fromkeys(sorted(names), 1.0)
            else:
                weights = {t: c for t, c in candidates.items() if c > 0}
        total = sum(weights.values())
        if total <= 0:
            continue
        for team, w in sorted(weights.items()):
            out.append(
                {"pool": pool, "month": month, "currency": currency, "team": team, "share": w / total, "rule": pool}
            )
    return pl.DataFrame(out, schema=SHARES_SCHEMA)


def create_shares(con: duckdb.DuckDBPyConnection, rules: AllocationRules, relation: str, shares_table: str) -> None:
    """Create ``shares_table`` from ``relation``: attributed rows or aggregates of them, with
    x_BillingMonth, BillingCurrency, x_Team, x_Pool and EffectiveCost."""
    basis = db.frame(
        con,
        f"SELECT {C.x_BillingMonth} AS month, {C.BillingCurrency} AS currency, {C.x_Team} AS team, "
        f"{C.x_Pool} AS pool, sum({C.EffectiveCost}) AS cost FROM {relation} GROUP BY ALL",
    )
    con.register("_shares_frame", shares(rules, basis))
    con.execute(f"CREATE OR REPLACE TABLE {shares_table} AS SELECT * FROM _shares_frame")
    con.unregister("_shares_frame")


class ConservationError(ValueError):
    """Allocated cost differs from the raw cost: a rules or engine defect; the build is refused."""


Totals = dict[tuple[date, str], tuple[float, ...]]


def totals(con: duckdb.DuckDBPyConnection, relation: str) -> Totals:
    """Every metric's sum per (billing period start, currency) of a relation with BillingPeriodStart."""
    sums = ", ".join(f"sum({m}) AS {m}" for m in METRICS)
    keys = f"CAST({C.BillingPeriodStart} AS DATE) AS month, {C.BillingCurrency} AS currency"
    return {(r[0], r[1]): tuple(r[2:]) for r in db.rows(con, f"SELECT {keys}, {sums} FROM {relation} GROUP BY ALL")}


def check_conservation(want: Totals, got: Totals, rel: float = 1e-6) -> None:
    """Every metric, per billing period and currency, equals its raw total to ``rel`` relative."""
    for key in sorted(set(want) | set(got), key=str):
        a, b = want.get(key, (0.0,) * len(METRICS)), got.get(key, (0.0,) * len(METRICS))
        for metric, x, y in zip(METRICS, a, b, strict=True):
            x, y = x or 0.0, y or 0.0
            if abs(x - y) > rel * max(abs(x), 1.0):
                raise ConservationError(
                    f"allocation does not conserve {metric} for billing period {key[0]:%Y-%m} {key[1]}: "
                    f"raw {x:,.6f}, allocated {y:,.6f}"
                )
