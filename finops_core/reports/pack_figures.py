"""The figures of one pack section, per billing currency, each from the function a page uses
(see ``pack`` and docs/pack.md). Results shared by every currency (anomaly detection, realized
savings) are computed once per pack."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path

import duckdb
import polars as pl

from finops_core import (
    anomalies,
    backlog,
    budgets,
    commitments,
    drilldown,
    events,
    governance,
    outlook,
    savings_items,
    triage,
)
from finops_core.forecast import ForecastError
from finops_core.query import CostQuery, QueryError, Scope
from finops_core.reports import budget_variance as bv
from finops_core.reports import variance as va
from finops_core.reports.pack import CONTRIBUTOR_DIMS, DETECT_DAYS, EXPIRY_DAYS, TOP, ForecastFigure, PackScope, Section
from finops_core.schema import C


@dataclass(frozen=True)
class Figures:
    con: duckdb.DuckDBPyConnection
    q: CostQuery  # the caller's scope, the pack's filters, first day to the last day with data
    scope: PackScope
    month: date
    data_end: date
    first_day: date
    demo: Path | None
    state_path: Path | None

    def month_query(self, v: va.Variance) -> CostQuery:
        return replace(self.q, start=v.current.start, end=v.current.end).with_filter(C.BillingCurrency, (v.currency,))

    def section(self, v: va.Variance) -> Section:
        mq = self.month_query(v)
        fc, note = self.forecast(v)
        cov = governance.coverage(self.con, mq)
        util, low, expiring = self.commitments(mq)
        ccov = commitments.commitment_coverage(self.con, mq)
        return Section(
            currency=v.currency,
            variance=v,
            contributors={d: va.contributors(v, va.CONTRIBUTOR_DIMS[d], TOP) for d in CONTRIBUTOR_DIMS},
            account_names=self.account_names(mq),
            budget=self.budget(v),
            forecast=fc,
            forecast_note=note,
            coverage=cov.row(0, named=True) if cov.height else None,
            showback=governance.showback_by_team(governance.showback(self.con, mq)),
            anomalies=self.anomalies(mq),
            savings=self.savings(v.currency, v.current.end),
            utilization=util,
            low_utilization=low,
            coverage_commit=ccov.row(0, named=True) if ccov.height else None,
            expiring=expiring,
        )

    def account_names(self, mq: CostQuery) -> dict[str, str]:
        named = drilldown.cost_by_dimension(self.con, replace(mq, group_by=(C.SubAccountId, C.SubAccountName)))
        return {str(i): str(n) for i, n in named.select(C.SubAccountId, C.SubAccountName).iter_rows() if i and n}

    def budget(self, v: va.Variance) -> bv.BudgetVariance | None:
        """Team budget lines only: a product or environment pack has no budget of its own."""
        if self.scope.values("product") or self.scope.values("environment"):
            return None
        lines = budgets.current(self.state_path)
        if lines.is_empty() and self.demo and (self.demo / "budgets.csv").exists():
            lines = budgets.load(self.demo / "budgets.csv")
        found = bv.vs_budget(
            self.con, self.q.with_filter(C.BillingCurrency, (v.currency,)), self.month, self.data_end, bv.rows_of(lines)
        )
        return found[0] if found else None

    def forecast(self, v: va.Variance) -> tuple[ForecastFigure | None, str]:
        """The month's total as forecast the day before it began (a month still open: from its last
        day with data) by the Forecast page's model."""
        full = v.current.end == va.month_end(v.current.start)
        as_of = v.current.start - timedelta(days=1) if full else v.current.end
        if as_of < self.first_day + timedelta(days=28):
            return None, f"no forecast: less than four weeks of data before {as_of:%d %b %Y}"
        hist = replace(self.q, end=as_of).with_filter(C.BillingCurrency, (v.currency,))
        try:
            fc = outlook.scope_forecast(self.con, hist, va.month_end(v.current.start), events.load())
        except (ForecastError, QueryError) as exc:
            return None, f"no forecast: {exc}"
        total = fc.period_total(v.current.start, va.month_end(v.current.start))
        return ForecastFigure(as_of, total["yhat"], total["lo80"], total["hi80"]), ""

    def anomalies(self, mq: CostQuery) -> pl.DataFrame:
        """Anomalies that began in the month, detected over DETECT_DAYS before its end so baselines
        hold; a team pack keeps its team's by attribution (ids then match the triage cases'). Status
        and owner from triage; a detection nobody triaged is New."""
        found = self.detected
        if found.height:
            found = found.filter(pl.col(C.BillingCurrency) == (mq.filter_values(C.BillingCurrency) or ("",))[0])
        teams = self.scope.values("team")
        schema = {"id": pl.String, "kind": pl.String, "key": pl.String, "start": pl.Date, "end": pl.Date}
        if found.is_empty():
            return pl.DataFrame(schema=schema | {"impact": pl.Float64, "team": pl.String, "status": pl.String})
        team = pl.col(C.x_Team) if C.x_Team in found.columns else pl.lit(None, pl.String)
        month = found.filter(pl.col("start").is_between(mq.start, mq.end)).with_columns(
            team.fill_null("").alias("team")
        )
        if teams:
            month = month.filter(pl.col("team").is_in(list(teams)))
        cases = triage.cases(self.state_path)
        status = cases.select("id", "status", "owner") if cases.height else pl.DataFrame(schema={"id": pl.String})
        out = month.select("id", "kind", "key", "start", "end", "impact", "team").join(status, on="id", how="left")
        if "status" not in out.columns:
            out = out.with_columns(pl.lit(None, pl.String).alias("status"), pl.lit(None, pl.String).alias("owner"))
        owners = self.owners()
        return out.with_columns(
            pl.col("status").fill_null("New"),
            pl.coalesce(pl.col("owner").replace("", None), pl.col("team").replace_strict(owners, default=None)),
        ).sort("impact", descending=True)

    @cached_property
    def last_day(self) -> date:
        return min(va.month_end(self.month), self.data_end)

    @cached_property
    def detected(self) -> pl.DataFrame:
        """Every currency's detections over the DETECT_DAYS to the month's last day with data, on
        the caller's rows (a team pack: all of them, kept by attribution later, as the digest does)."""
        start = max(self.first_day, self.last_day - timedelta(days=DETECT_DAYS))
        teams = self.scope.values("team")
        kept = tuple((d, v) for d, v in self.q.filters if d != C.x_Team or not teams)
        return anomalies.detect_with_teams(self.con, replace(self.q, start=start, end=self.last_day, filters=kept))

    def owners(self) -> dict[str, str]:
        path = self.demo / "teams.csv" if self.demo else None
        return dict(pl.read_csv(path).select("team", "owner").iter_rows()) if path and path.exists() else {}

    def savings(self, currency: str, end: date) -> dict[str, dict[str, float]]:
        """Implemented backlog items in scope, realized monthly savings measured up to ``end``: those
        implemented in the month and all to date."""
        table = self.savings_table
        if table is None:
            return {}
        out: dict[str, dict[str, float]] = {}
        whole = savings_items.totals(table).filter(pl.col("currency") == currency)
        per = savings_items.totals(table, ("month",)).filter(
            (pl.col("currency") == currency) & (pl.col("month") == f"{end:%Y-%m}")
        )
        for name, frame in (("to_date", whole), ("month", per)):
            if frame.height:
                out[name] = {k: float(frame[k].sum()) for k in ("items", "estimated", "realized")}
        return out

    @cached_property
    def savings_table(self) -> pl.DataFrame | None:
        """Items in scope implemented by the month's last day with data, with realized savings in
        every currency (``savings_items.item_table``). Backlog items name a team, not a product or
        an environment, so only company and team packs have them."""
        if self.scope.values("product") or self.scope.values("environment"):
            return None
        end = self.last_day
        teams = self.scope.values("team")
        visible = self.q.scope
        if teams:
            mine = [t for t in teams if visible.teams is None or t in visible.teams]
            visible = Scope(teams=tuple(mine))
        history = replace(self.q, end=end, filters=())
        seed = self.demo / "backlog.csv" if self.demo else None
        if seed and seed.exists() and backlog.items(self.state_path).is_empty():  # as the Savings page does
            backlog.import_csv(seed.read_text(), "demo", self.state_path, source=str(seed))
        items = backlog.items(
            self.state_path, scope=visible, sub_account_ids=savings_items.sub_account_ids(self.con, history)
        )
        if items.is_empty():
            return None
        realized = savings_items.realized_for_items(self.con, history, items)
        if realized.is_empty():
            return None
        table = savings_items.item_table(items, realized)
        return table.filter(pl.col("implemented_on").cast(pl.String) <= end.isoformat())

    def commitments(self, mq: CostQuery) -> tuple[dict[str, float] | None, pl.DataFrame, pl.DataFrame]:
        """(utilization over the month, commitments under 90 % used, commitments expiring within 90
        days of the month's end). A commitment is shared: a scoped pack lists those that covered its
        usage in the month and shows no utilization (a part of a commitment's use is none's)."""
        scoped = not (self.scope.is_company and self.q.scope.is_all)
        util = commitments.commitment_utilization(self.con, mq)
        name = pl.coalesce(C.CommitmentDiscountName, C.CommitmentDiscountId).alias("commitment")
        inventory = self.demo / "commitments.csv" if self.demo and (self.demo / "commitments.csv").exists() else None
        currency = (mq.filter_values(C.BillingCurrency) or ("",))[0]
        whole = replace(mq, filters=((C.BillingCurrency, (currency,)),))
        exp = commitments.expirations_from_file(self.con, whole, str(inventory) if inventory else None)
        exp = exp.filter(pl.col(C.BillingCurrency) == currency)
        if scoped:
            covering = util.filter(pl.col("used") > 0)[C.CommitmentDiscountId].to_list()
            exp = exp.filter(pl.col(C.CommitmentDiscountId).is_in(covering)).with_columns(
                pl.lit(None, pl.Float64).alias("utilization")
            )
        expiring = exp.filter(pl.col("days_to_expiry").is_between(0, EXPIRY_DAYS)).select(
            name, "term_end", "days_to_expiry", "monthly_amount", "utilization"
        )
        if scoped or util.is_empty():
            return (
                None,
                pl.DataFrame(schema={"commitment": pl.String, "utilization": pl.Float64, "unused": pl.Float64}),
                expiring,
            )
        used, unused = float(util["used"].sum()), float(util["unused"].sum())
        summary = {"used": used, "unused": unused, "utilization": used / (used + unused) if used + unused else 0.0}
        low = util.filter(pl.col("utilization") < commitments.LOW_UTILIZATION).sort("unused", descending=True)
        return summary, low.select(name, "utilization", "unused"), expiring
