"""FOCUS 1.3 contract commitments: what was committed and what has been consumed against it.

Consumption of a commitment is read from the cost rows' ContractApplied (the provider says which
commitment each charge counts towards and by how much): the sum of ContractCommitmentAppliedCost
(Spend commitments, in the billing currency) or of ContractCommitmentAppliedQuantity (Usage
commitments, in the commitment's unit) over the charges whose ChargePeriodStart falls in the
commitment's period and on or before the query's end day. It is not recomputed from BilledCost:
which charges count towards a contract is the provider's rule, not ours.

Scope, as for commitment discounts: a viewer sees the commitments that charges in their scope
were applied to, and only those charges' consumption; an unscoped caller sees every commitment
of the dataset, consumed or not.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import polars as pl

from finops_core import db
from finops_core.query import CostQuery, scope_sql


def contract_commitments(con: duckdb.DuckDBPyConnection, q: CostQuery, currency: str | None = None) -> pl.DataFrame:
    """One row per contract commitment: contract, category, type, period, committed amount and unit,
    consumed (up to ``q.end``, in ``q.scope``), remaining, consumed share and the share of its period
    elapsed. ``currency`` keeps Spend commitments in that billing currency (Usage ones have no
    currency and always show)."""
    params: list[object] = []
    scope = scope_sql(q.scope, params)
    end = q.end + timedelta(days=1)
    params += [end]
    consumed = (
        "SELECT a.x_ContractCommitmentId AS id, sum(a.x_AppliedCost) AS cost, sum(a.x_AppliedQuantity) AS qty, "
        "count(*) AS charges FROM contract_applied a JOIN contract_commitments c "
        "ON c.ContractCommitmentId = a.x_ContractCommitmentId "
        f"WHERE {scope} AND a.ChargePeriodStart >= c.ContractCommitmentPeriodStart "
        "AND a.ChargePeriodStart < c.ContractCommitmentPeriodEnd AND a.ChargePeriodStart < ? "
        "AND (c.ContractCommitmentCategory = 'Usage' OR a.BillingCurrency = c.BillingCurrency) GROUP BY 1"
    )
    join = "JOIN" if not q.scope.is_all else "LEFT JOIN"
    cur = ""
    if currency is not None:
        cur = "WHERE c.BillingCurrency IS NULL OR c.BillingCurrency = ?"
        params.append(currency)
    sql = (
        "SELECT c.ContractId, c.ContractCommitmentId, c.ContractCommitmentCategory, c.ContractCommitmentType, "
        "c.ContractCommitmentDescription, CAST(c.ContractCommitmentPeriodStart AS DATE) AS period_start, "
        "CAST(c.ContractCommitmentPeriodEnd AS DATE) AS period_end, c.BillingCurrency, "
        "CASE c.ContractCommitmentCategory WHEN 'Spend' THEN c.ContractCommitmentCost "
        "ELSE c.ContractCommitmentQuantity END AS committed, "
        "CASE c.ContractCommitmentCategory WHEN 'Spend' THEN c.BillingCurrency ELSE c.ContractCommitmentUnit END AS unit, "
        "coalesce(CASE c.ContractCommitmentCategory WHEN 'Spend' THEN u.cost ELSE u.qty END, 0) AS consumed, "
        "coalesce(u.charges, 0) AS charges "
        f"FROM contract_commitments c {join} ({consumed}) u ON u.id = c.ContractCommitmentId {cur}"
    )
    out = db.frame(con, sql, params)
    days = (pl.col("period_end") - pl.col("period_start")).dt.total_days()
    elapsed = (pl.lit(end) - pl.col("period_start")).dt.total_days().clip(0, None)
    return out.with_columns(
        (pl.col("committed") - pl.col("consumed")).alias("remaining"),
        pl.when(pl.col("committed") > 0).then(pl.col("consumed") / pl.col("committed")).alias("consumed_share"),
        pl.min_horizontal(elapsed / days, pl.lit(1.0)).alias("period_elapsed"),
    ).sort("period_start", "ContractId", "ContractCommitmentId")
