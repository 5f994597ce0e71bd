"""The tag policy against the billing data: compliance per month, and what breaks it.

Grain: taggable cost (usage of a resource, as governance defines it; before shared-cost splits)
per (billing month, currency, provider, sub account, service, Tags value). Each group is
*compliant* (no rule broken), *exempt* (only exempted breaks) or *violating*; groups no rule's
scope covers are *out of scope*. Compliance = (compliant + exempt) / in-scope cost, per month and
currency. An exemption covers the months that start on or before its expiry date.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import polars as pl

from finops_core import allocation, db, tagrules
from finops_core.policy.judge import violations
from finops_core.policy.rules import Policy, parse
from finops_core.query import CostQuery, compile_where
from finops_core.schema import C

STATUSES = ("compliant", "exempt", "violating", "out of scope")


def _groups(con: duckdb.DuckDBPyConnection, q: CostQuery, by_resource: bool) -> pl.DataFrame:
    _, where, params = compile_where(q, (C.Tags,))
    resource = f"{C.ResourceId}, " if by_resource else ""
    sql = (
        f"SELECT {C.x_BillingMonth} AS month, {C.BillingCurrency}, {C.ProviderName}, {C.SubAccountName}, "
        f"{C.ServiceName}, {resource}{C.Tags}, sum({q.metric}) AS cost FROM focus_rows "
        f"WHERE {where} AND {allocation.TAGGABLE_SQL} GROUP BY ALL"
    )
    return db.frame(con, sql, params)


def evaluate(con: duckdb.DuckDBPyConnection, q: CostQuery, policy: Policy) -> pl.DataFrame:
    """One row per group: month, BillingCurrency, ProviderName, SubAccountName, ServiceName, cost,
    status, broken (the unexempted 'rule/key: problem' entries, '; '-separated) and exempt_by
    ('rule/key: reason' entries)."""
    frame = _groups(con, q, policy.by_resource)
    seen: dict[tuple[Any, ...], tuple[str, list[str], list[str]]] = {}
    status, broken, exempt_by = [], [], []
    resources = frame[C.ResourceId] if policy.by_resource else [None] * frame.height
    for month, provider, account, service, tags, resource in zip(
        frame["month"],
        frame[C.ProviderName],
        frame[C.SubAccountName],
        frame[C.ServiceName],
        frame[C.Tags],
        resources,
        strict=True,
    ):
        on = month.replace(day=1)
        # months in which the same exemptions are in force judge a Tags value alike: judge it once
        epoch = tuple(on <= e.expires for e in policy.exemptions)
        key = (epoch, provider, account, service, tags, resource)
        if key not in seen:
            facts = {"provider": provider, "accounts": account, "services": service, "resources": resource}
            seen[key] = _judge(policy, tagrules.folded_tags(tags), facts, on)
        s, b, e = seen[key]
        status.append(s)
        broken.append(b)
        exempt_by.append(e)
    return frame.drop(C.Tags).with_columns(
        pl.Series("status", status, pl.String),
        # joined text, not lists: building 20k+ small list values costs more than the whole query
        pl.Series("broken", ["; ".join(b) for b in broken], pl.String),
        pl.Series("exempt_by", ["; ".join(e) for e in exempt_by], pl.String),
    )


def _judge(
    policy: Policy, folded: dict[str, Any], facts: dict[str, str | None], on: date
) -> tuple[str, list[str], list[str]]:
    """(status, unexempted breaks, exempted breaks with their reasons)."""
    if not any(r.scope.matches(facts) for r in policy.rules):
        return "out of scope", [], []
    found = violations(policy, folded, facts, on)
    broken = [f"{v['rule']}/{v['key']}: {v['problem']}" for v in found if not v["exempt"]]
    exempted = [f"{v['rule']}/{v['key']}: {v['exempt']}" for v in found if v["exempt"]]
    status = "violating" if broken else "exempt" if exempted else "compliant"
    return status, broken, exempted


def compliance_history(evaluated: pl.DataFrame) -> pl.DataFrame:
    """Per (month, BillingCurrency): taggable cost, the cost of each status, and compliance."""
    c = pl.col("cost")
    out = evaluated.group_by("month", C.BillingCurrency).agg(
        c.sum().alias("taggable_cost"),
        *[c.filter(pl.col("status") == s).sum().alias(s.replace(" ", "_")) for s in STATUSES],
    )
    in_scope = pl.col("taggable_cost") - pl.col("out_of_scope")
    return out.with_columns(
        in_scope.alias("in_scope"),
        pl.when(in_scope.abs() > 1e-9)
        .then((pl.col("compliant") + pl.col("exempt")) / in_scope)
        .otherwise(None)
        .alias("compliance"),
    ).sort("month", C.BillingCurrency)


def top_violations(evaluated: pl.DataFrame, month: date | None = None, limit: int = 20) -> pl.DataFrame:
    """The costliest unexempted breaks (of ``month``, default the latest): one row per (rule/key:
    problem, BillingCurrency, sub account, service) with its cost, costliest first."""
    if evaluated.is_empty():
        return evaluated
    month = month or evaluated["month"].max()  # type: ignore[assignment]
    rows = (
        evaluated.filter((pl.col("month") == month) & (pl.col("status") == "violating"))
        .with_columns(pl.col("broken").str.split("; "))
        .explode("broken")
    )
    return (
        rows.group_by("broken", C.BillingCurrency, C.SubAccountName, C.ServiceName)
        .agg(pl.col("cost").sum())
        .sort("cost", descending=True)
        .head(limit)
    )


def policy_compliance(
    con: duckdb.DuckDBPyConnection, q: CostQuery, text: str, source: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``compliance_history``, ``top_violations`` of the last month) of the policy document
    ``text`` (named ``source`` in errors) over ``q``, read with the store version's tag rules."""
    from finops_core import rollups

    policy = parse(text, source, rollups.version_rules(con, "r").tags)
    evaluated = evaluate(con, q, policy)
    return compliance_history(evaluated), top_violations(evaluated)
