"""An independent allocation of raw FOCUS rows in plain Polars, to check the SQL engine against.

Shares the rules' parsed form and the tag normalization (tested on their own in
test_tagrules.py) with the engine; the attribution, pooling, share computation and fan-out are
written again here, row-wise in Polars expressions.
"""

from __future__ import annotations

import polars as pl

from finops_core import allocation
from finops_core.dimensions import tag_values
from finops_core.rollups import RuleSet
from finops_core.schema import METRICS, UNALLOCATED, C
from finops_core.tagrules import CANONICAL


def _cond(matches: tuple[allocation.Match, ...], start, end) -> pl.Expr:  # type: ignore[no-untyped-def]
    expr = pl.lit(True)
    for m in matches:
        col = pl.col(m.column)
        hit = col.str.contains(m.pattern) if m.pattern is not None else col.is_in(list(m.values))
        expr = expr & hit.fill_null(False)
    if start is not None:
        expr = expr & (pl.col(C.x_ChargeDate) >= start)
    if end is not None:
        expr = expr & (pl.col(C.x_ChargeDate) <= end)
    return expr


def attribute(rows: pl.DataFrame, rules: RuleSet) -> pl.DataFrame:
    """Raw rows plus x_ChargeDate, x_BillingMonth, x_Team.. x_Owner, x_AllocationRule, x_Pool."""
    tags = rows[C.Tags].fill_null("").unique().to_list()
    values = {t: tag_values(t, rules.tags) for t in tags}
    out = rows.with_columns(
        pl.col(C.ChargePeriodStart).dt.date().alias(C.x_ChargeDate),
        pl.col(C.BillingPeriodStart).dt.date().alias(C.x_BillingMonth),
        *[
            pl.col(C.Tags)
            .fill_null("")
            .replace_strict({t: v[k] for t, v in values.items()}, return_dtype=pl.String)
            .alias(f"tag_{k}")
            for k in CANONICAL
        ],
    )
    exprs = []
    for target, column in allocation.TARGETS.items():
        expr: pl.Expr = pl.lit(UNALLOCATED)
        rule_expr: pl.Expr = pl.lit(allocation.NO_RULE)
        for r in reversed(allocation_rules(rules).rules_for(target)):
            cond = _cond(r.match, r.start, r.end)
            value = pl.lit(r.value)
            if r.tag is not None:
                cond = cond & pl.col(f"tag_{r.tag}").is_not_null()
                value = pl.col(f"tag_{r.tag}")
            expr = pl.when(cond).then(value).otherwise(expr)
            rule_expr = pl.when(cond).then(pl.lit(r.id)).otherwise(rule_expr)
        exprs.append(expr.alias(column))
        if target == "team":
            exprs.append(rule_expr.alias(C.x_AllocationRule))
    out = out.with_columns(*exprs, pl.col("tag_owner").fill_null(UNALLOCATED).alias(C.x_Owner))
    pool: pl.Expr = pl.lit(None, dtype=pl.String)
    for s in reversed(allocation_rules(rules).splits):
        pool = pl.when(_cond(s.pool, s.start, s.end)).then(pl.lit(s.id)).otherwise(pool)
    return out.with_columns(pool.alias(C.x_Pool)).drop([f"tag_{k}" for k in CANONICAL])


def allocation_rules(rules: RuleSet) -> allocation.AllocationRules:
    return rules.allocation


def allocate(rows: pl.DataFrame, rules: RuleSet) -> pl.DataFrame:
    """Attributed rows with each pooled row replaced by one row per receiving team."""
    att = attribute(rows, rules)
    keys = [C.x_BillingMonth, C.BillingCurrency]
    direct = (
        att.filter(pl.col(C.x_Pool).is_null() & (pl.col(C.x_Team) != UNALLOCATED))
        .group_by(*keys, C.x_Team)
        .agg(pl.col(C.EffectiveCost).sum().clip(lower_bound=0).alias("basis"))
    )
    parts = [att.filter(pl.col(C.x_Pool).is_null())]
    pooled = att.filter(pl.col(C.x_Pool).is_not_null())
    for s in rules.allocation.splits:
        rows_s = pooled.filter(pl.col(C.x_Pool) == s.id)
        if rows_s.is_empty():
            continue
        periods = rows_s.select(keys).unique()
        if s.method == "fixed":
            w = pl.DataFrame({C.x_Team: list(s.weights), "w": list(s.weights.values())})
            weights = periods.join(w, how="cross")
        else:
            cand = direct if s.to is None else direct.filter(pl.col(C.x_Team).is_in(list(s.to)))
            cand = cand.join(periods, on=keys)
            if s.method == "even":
                if s.to is not None:
                    weights = periods.join(pl.DataFrame({C.x_Team: list(s.to)}), how="cross").with_columns(
                        w=pl.lit(1.0)
                    )
                else:
                    weights = cand.filter(pl.col("basis") > 0).with_columns(w=pl.lit(1.0)).drop("basis")
            else:
                weights = cand.filter(pl.col("basis") > 0).rename({"basis": "w"})
        weights = weights.with_columns((pl.col("w") / pl.col("w").sum().over(keys)).alias("share"))
        split = rows_s.drop(C.x_Team).join(weights.select(*keys, C.x_Team, "share"), on=keys, how="inner")
        scaled = [c for c in allocation.SCALED if c in split.columns]
        split = split.with_columns(
            *[(pl.col(c) * pl.col("share")).alias(c) for c in scaled], pl.lit(s.id).alias(C.x_AllocationRule)
        ).drop("share")
        kept = rows_s.join(weights.select(keys).unique(), on=keys, how="anti")
        parts += [split.select(att.columns), kept]
    return pl.concat(parts, how="vertical_relaxed")


def total_by(frame: pl.DataFrame, keys: list[str]) -> dict[tuple, float]:  # type: ignore[type-arg]
    out = frame.group_by(keys).agg(*[pl.col(m).sum() for m in METRICS])
    return {tuple(r[: len(keys)]): r[len(keys) :] for r in out.iter_rows()}
