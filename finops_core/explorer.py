"""The rule explorer: why a group of charges sits on its teams, rule by rule, and the shared-cost
splits that spread it, within the caller's scope (definitions in ``governance.py``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
import polars as pl

from finops_core import allocation, db, drilldown, rollups
from finops_core.query import CostQuery, compile_where
from finops_core.schema import C


@dataclass(frozen=True)
class Explanation:
    outcomes: pl.DataFrame  # one row per (direct team, rule, pool, BillingCurrency): cost, rows
    chains: dict[tuple[str, str, str | None], pl.DataFrame]  # outcome -> the team rules tried, in order
    splits: pl.DataFrame  # shares of the pools involved, for the months of ``q``
    received: pl.DataFrame  # after splits: cost per (team, split, BillingCurrency) of the rows matching ``q``


def explain(con: duckdb.DuckDBPyConnection, q: CostQuery) -> Explanation:
    """Why the rows matching ``q`` sit on their teams: for each distinct outcome, the team rules in
    precedence order with whether each matched on the outcome's costliest row (for a scoped caller,
    only the rules that match it), and the splits to the teams in scope."""
    rules = rollups.version_rules(con, "r").allocation
    _, where, params = compile_where(q, (C.Tags,))
    outcomes = db.frame(
        con,
        f"SELECT {C.x_Team} AS team, {C.x_AllocationRule} AS rule, {C.x_Pool} AS pool, {C.BillingCurrency}, "
        f"sum({q.metric}) AS cost, count(*) AS rows FROM focus_rows WHERE {where} GROUP BY ALL ORDER BY cost DESC",
        params,
    )
    chains: dict[tuple[str, str, str | None], pl.DataFrame] = {}
    team_rules = rules.rules_for("team")
    for team, rule, pool in outcomes.head(10).select("team", "rule", "pool").unique(maintain_order=True).iter_rows():
        if not team_rules:
            break
        checks = ", ".join(
            f"coalesce({allocation.rule_condition(replace(r, start=None, end=None))}, FALSE) AS m{i}, "
            f"coalesce({allocation.condition((), r.start, r.end)}, FALSE) AS d{i}"
            for i, r in enumerate(team_rules)
        )
        sql = (
            f"SELECT {checks} FROM focus_rows WHERE {where} AND {C.x_Team} = ? AND {C.x_AllocationRule} = ? "
            f"AND {C.x_Pool} IS NOT DISTINCT FROM ? ORDER BY abs({q.metric}) DESC LIMIT 1"
        )
        hit = db.rows(con, sql, [*params, team, rule, pool])
        if not hit:
            continue
        flags = hit[0]
        won = False
        rows = []
        for i, r in enumerate(team_rules):
            matched, in_dates = bool(flags[2 * i]), bool(flags[2 * i + 1])
            if matched and in_dates and not won:
                verdict, won = "matched: sets the team", True
            elif matched and in_dates:
                verdict = "matched, but an earlier rule won"
            elif matched:
                verdict = "not in effect on the charge date"
            else:
                verdict = "no match"
            # A scoped caller sees only the rules that match their charge: the others name other
            # teams and their accounts.
            if verdict != "no match" or q.scope.is_all:
                rows.append({"order": i + 1, "rule": r.id, "line": r.line, "gives": describe(r), "result": verdict})
        chains[(team, rule, pool)] = pl.DataFrame(rows)
    pools = outcomes["pool"].drop_nulls().unique().to_list()
    # only the shares of teams that received part of these charges in the caller's scope: the
    # other teams of a pool, and their shares, are outside it
    splits = db.frame(
        con,
        "SELECT s.pool, s.month, s.currency, s.team, s.share FROM shares s SEMI JOIN ("
        f"SELECT DISTINCT {C.x_Pool} AS pool, {C.x_BillingMonth} AS month, {C.BillingCurrency} AS currency, "
        f"{C.x_Team} AS team FROM costs WHERE {where}) c USING (pool, month, currency, team) "
        "WHERE list_contains(?, s.pool) ORDER BY s.pool, s.month, s.share DESC",
        [*params, pools],
    )
    received = db.frame(
        con,
        f"SELECT {C.x_Team} AS team, {C.x_AllocationRule} AS split, {C.BillingCurrency}, sum({q.metric}) AS cost FROM costs "
        f"WHERE {where} AND {C.x_AllocationRule} IN (SELECT DISTINCT rule FROM shares) GROUP BY ALL ORDER BY cost DESC",
        params,
    )
    return Explanation(outcomes, chains, splits, received)


def explain_values(con: duckdb.DuckDBPyConnection, q: CostQuery, dim: str) -> list[str]:
    """The costliest 200 values of ``dim`` in ``q`` (what the explorer offers to pick)."""
    frame = drilldown.cost_by_dimension(con, replace(q, group_by=(dim,)), limit=200)
    return [v for v in frame[dim].to_list() if v is not None]


def describe(rule: allocation.Rule) -> str:
    """A rule in words: 'team = tag team' or 'team = payments when SubAccountId in (...)'."""
    value = f"tag {rule.tag}" if rule.tag else repr(rule.value)
    conds = []
    for m in rule.match:
        if m.pattern is not None:
            conds.append(f"{m.column} ~ /{m.pattern}/")
        else:
            shown = ", ".join(m.values[:3]) + (f" +{len(m.values) - 3}" if len(m.values) > 3 else "")
            conds.append(f"{m.column} in ({shown})")
    if rule.start:
        conds.append(f"from {rule.start}")
    if rule.end:
        conds.append(f"until {rule.end}")
    return f"{rule.target} = {value}" + (" when " + " and ".join(conds) if conds else "")
