"""The monthly variance pack: for one calendar month and one scope, every figure a monthly cost
review reads, per billing currency (none adds two currencies). The narrative is in
``pack_narrative``, the charts in ``pack_charts``, HTML and PDF in ``pack_render`` (docs/pack.md).

Every figure comes from the functions the pages use: ``variance`` and ``budget_variance`` (the
decomposition and its contributors), ``outlook`` (the forecast made before the month), ``governance``
(allocation coverage, showback), ``anomalies`` and ``triage`` (the month's anomalies and their
status), ``backlog`` and ``savings_items`` (savings realized), ``commitments`` (utilization,
coverage, expiries), narrowed to the caller's scope and the pack's scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
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
from finops_core.reports.digest import KINDS, DigestScope
from finops_core.schema import C

TOP = 5
CONTRIBUTOR_DIMS = ("team", "service", "account", "region")
DETECT_DAYS = 180  # history enough for the month's baselines (28 days, 3 month-ends, young resources)
EXPIRY_DAYS = 90


class PackError(ValueError):
    """A pack that cannot be built as asked (no data for the month, a scope value not in the data)."""


@dataclass(frozen=True)
class PackScope:
    """What a pack covers: everything the caller sees, or the rows of the listed teams, products and
    environments (values of one kind: either; of different kinds: all of them)."""

    parts: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, texts: list[str] | tuple[str, ...] | None) -> PackScope:
        """['team=payments', 'environment=prod', ...]; empty: the company."""
        found: dict[str, list[str]] = {}
        for text in texts or ():
            one = DigestScope.parse(text)
            if one.kind != "company":
                found.setdefault(one.kind, []).append(one.value)
        return cls(tuple((k, tuple(dict.fromkeys(v))) for k, v in found.items()))

    @property
    def is_company(self) -> bool:
        return not self.parts

    def values(self, kind: str) -> tuple[str, ...] | None:
        return next((v for k, v in self.parts if k == kind), None)

    @property
    def label(self) -> str:
        return "; ".join(f"{k} {', '.join(v)}" for k, v in self.parts) or "the company"

    def narrow(self, q: CostQuery) -> CostQuery:
        for kind, values in self.parts:
            q = q.with_filter(KINDS[kind], values)
        return q


@dataclass(frozen=True)
class ForecastFigure:
    """The month's expected total as forecast from the data up to ``as_of``, with its 80 % band."""

    as_of: date
    expected: float
    lo80: float
    hi80: float


@dataclass(frozen=True)
class Section:
    """One billing currency's figures for the month."""

    currency: str
    variance: va.Variance
    contributors: dict[str, pl.DataFrame]  # dimension name -> contributors() rows
    budget: bv.BudgetVariance | None
    forecast: ForecastFigure | None
    forecast_note: str
    coverage: dict[str, float] | None  # governance.coverage: total, allocated, coverage, controllable_coverage
    showback: pl.DataFrame  # governance.showback_by_team: x_Team, direct, shared, total, share
    anomalies: pl.DataFrame  # id, kind, key, start, end, impact, team, status, owner
    savings: dict[str, dict[str, float]]  # 'month' / 'to_date' -> items, estimated, realized
    utilization: dict[str, float] | None  # used, unused, utilization (None: not shown in a scoped pack)
    low_utilization: pl.DataFrame  # commitment, utilization, unused
    coverage_commit: dict[str, float] | None  # covered, eligible, coverage
    expiring: pl.DataFrame  # commitment, term_end, days_to_expiry, monthly_amount, utilization


@dataclass(frozen=True)
class Pack:
    month: date
    scope: PackScope
    caller: str  # the caller's scope when it is not everything ("teams payments")
    data_end: date
    sections: list[Section] = field(default_factory=list)

    @property
    def base(self) -> va.Period:
        return self.sections[0].variance.base

    @property
    def current(self) -> va.Period:
        return self.sections[0].variance.current

    @property
    def title(self) -> str:
        whom = f"your scope ({self.caller})" if self.caller and self.scope.is_company else self.scope.label
        return f"Monthly variance pack, {self.month:%B %Y}, for {whom}"


def check_scope(con: duckdb.DuckDBPyConnection, q: CostQuery, scope: PackScope) -> None:
    """Refuse a scope value that is not in the caller's rows (a typo would give an empty pack)."""
    dims = tuple(KINDS[k] for k, _ in scope.parts)
    if not dims:
        return
    known = drilldown.dimension_values(con, replace(q, filters=(), group_by=()), dims)
    for kind, values in scope.parts:
        have = set(known.get(KINDS[kind], []))
        for value in values:
            if value not in have:
                sample = ", ".join(sorted(have)[:8])
                raise PackError(f"scope {kind}={value}: no such {kind} in your data (known: {sample})")


def build(
    con: duckdb.DuckDBPyConnection,
    q: CostQuery,
    month: date,
    scope: PackScope = PackScope(),
    *,
    first_day: date,
    store_root: Path | None = None,
    state_path: Path | None = None,
) -> Pack:
    """The pack for calendar ``month`` (up to ``q.end``, the last day with data) for ``scope`` within
    ``q``'s scope (its caller's rows) and metric. ``first_day`` is the first day with data."""
    month = month.replace(day=1)
    if month > q.end or va.month_end(month) < first_day:
        raise PackError(f"{month:%Y-%m}: no data for this month (data runs {first_day} to {q.end})")
    if month <= first_day:
        raise PackError(f"{month:%Y-%m}: the pack compares a month with the one before; data starts {first_day}")
    check_scope(con, q, scope)
    narrowed = scope.narrow(replace(q, start=first_day, filters=(), group_by=()))
    found = va.month_over_month(con, narrowed, month, q.end)
    found = [v for v in found if v.current_total != 0 or v.keys["n1"].sum() > 0]
    if not found:
        raise PackError(f"{month:%Y-%m}: no costs for {scope.label} in this month")
    demo = store_root / "demo" if store_root else None
    ctx = _Context(con, narrowed, scope, month, q.end, first_day, demo, state_path)
    caller = "" if q.scope.is_all else ", ".join((*(q.scope.teams or ()), *(q.scope.sub_accounts or ())))
    return Pack(month, scope, caller, q.end, [ctx.section(v) for v in found])


@dataclass(frozen=True)
class _Context:
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
        start = max(self.first_day, mq.end - timedelta(days=DETECT_DAYS))
        teams = self.scope.values("team")
        window = replace(mq, start=start, filters=tuple((d, v) for d, v in mq.filters if d != C.x_Team or not teams))
        found = anomalies.detect_with_teams(self.con, window)
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

    def owners(self) -> dict[str, str]:
        path = self.demo / "teams.csv" if self.demo else None
        return dict(pl.read_csv(path).select("team", "owner").iter_rows()) if path and path.exists() else {}

    def savings(self, currency: str, end: date) -> dict[str, dict[str, float]]:
        """Implemented backlog items in scope, realized monthly savings measured up to ``end``: those
        implemented in the month and all to date. Backlog items name a team, not a product or an
        environment, so only company and team packs have them."""
        if self.scope.values("product") or self.scope.values("environment"):
            return {}
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
            return {}
        realized = savings_items.realized_for_items(self.con, history, items)
        if realized.is_empty():
            return {}
        table = savings_items.item_table(items, realized)
        table = table.filter(pl.col("implemented_on").cast(pl.String) <= end.isoformat())
        out: dict[str, dict[str, float]] = {}
        whole = savings_items.totals(table).filter(pl.col("currency") == currency)
        per = savings_items.totals(table, ("month",)).filter(
            (pl.col("currency") == currency) & (pl.col("month") == f"{end:%Y-%m}")
        )
        for name, frame in (("to_date", whole), ("month", per)):
            if frame.height:
                out[name] = {k: float(frame[k].sum()) for k in ("items", "estimated", "realized")}
        return out

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
