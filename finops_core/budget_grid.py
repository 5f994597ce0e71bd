"""The budget editor's team x month grid: team-level month lines of one currency as a table (one row
per team, one column per month 'YYYY-MM', empty = no line) and back to budget lines.

Lines the grid does not show (other currencies, quarter lines, product or sub-account lines, months
outside the grid) are kept as they are when a grid is saved. Errors name the grid row and month.
"""

from __future__ import annotations

import polars as pl

from finops_core import budgets
from finops_core.query import Scope

TEAM = "team"


def _in_grid(lines: pl.DataFrame, currency: str, months: list[str]) -> pl.Expr:
    return (
        (pl.col("currency") == currency)
        & (pl.col("product") == "")
        & (pl.col("sub_account") == "")
        & pl.col("period").is_in(months)
    )


def to_grid(lines: pl.DataFrame, currency: str, months: list[str]) -> pl.DataFrame:
    """One row per team with a line in the grid's months, one Float64 column per month."""
    shown = lines.filter(_in_grid(lines, currency, months))
    base = pl.DataFrame({TEAM: sorted(set(shown["team"].to_list()))}, schema={TEAM: pl.String})
    for month in months:
        col = shown.filter(pl.col("period") == month).select(TEAM, pl.col("amount").alias(month))
        base = base.join(col, on=TEAM, how="left")
    return base.with_columns(pl.col(m).cast(pl.Float64) for m in months)


def from_grid(grid: pl.DataFrame, lines: pl.DataFrame, currency: str, months: list[str]) -> pl.DataFrame:
    """The full set of budget lines after editing ``grid`` (from ``to_grid``) over ``lines``:
    validated like a file; a blank team with amounts, a team twice or a bad amount is refused with
    the grid row (from 1) and month named."""
    errors: list[str] = []
    seen: dict[str, int] = {}
    cells = []
    for i, row in enumerate(grid.iter_rows(named=True), start=1):
        team = str(row.get(TEAM) or "").strip()
        amounts = {m: row.get(m) for m in months if row.get(m) is not None}
        if not team:
            if amounts:
                errors.append(f"budget grid: row {i}: team: required")
            continue
        if team in seen:
            errors.append(f"budget grid: row {i}: team: {team!r} is already on row {seen[team]}")
            continue
        seen[team] = i
        for month, amount in amounts.items():
            try:
                value = float(str(amount))
            except (TypeError, ValueError):
                errors.append(f"budget grid: row {i}: {month}: {amount!r} is not a number")
                continue
            if value != value or value < 0:
                errors.append(f"budget grid: row {i}: {month}: {value:g} is not a non-negative number")
                continue
            cells.append(
                {"team": team, "product": "", "sub_account": "", "period": month, "currency": currency, "amount": value}
            )
    if errors:
        raise budgets.BudgetError(errors)
    kept = lines.filter(~_in_grid(lines, currency, months))
    edited = pl.DataFrame(cells, schema=budgets.SCHEMA)
    return budgets.validate_frame(pl.concat([kept.select(list(budgets.SCHEMA)), edited]), "budget grid")


def changed_teams(before: pl.DataFrame, after: pl.DataFrame) -> set[str]:
    """Teams with a line added, removed or changed between two sets of lines."""
    key = list(budgets.KEY)
    diff = pl.concat(
        [before.join(after, on=[*key, "amount"], how="anti"), after.join(before, on=[*key, "amount"], how="anti")]
    )
    return set(diff["team"].to_list())


def check_scope(before: pl.DataFrame, after: pl.DataFrame, scope: Scope) -> None:
    """Refuse a change to a team outside an editor's scope (an editor scoped to teams may only change
    their own teams' lines)."""
    if scope.is_all:
        return
    outside = sorted(changed_teams(before, after) - set(scope.teams or ()))
    if outside:
        raise budgets.BudgetError([f"budget grid: team {t!r}: outside your scope, not changed" for t in outside])
