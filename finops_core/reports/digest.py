"""The weekly digest for the company or one scope (team, product, environment): the last 7 days
against the 7 before, top movers, new and open anomalies with status and owner, budget burn and
projected overrun, commitments that need action, backlog progress and savings realized. Rendering
is in ``digest_render``, delivery in ``delivery`` (docs/digest.md).

Every figure comes from the functions the pages use (drilldown, anomalies, triage, budgets,
commitments, backlog, savings_items), narrowed to the caller's scope and the digest's scope.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from finops_core import anomalies, backlog, budget_status, budgets, commitments, drilldown, savings_items, triage
from finops_core.query import CostQuery, QueryError, Scope
from finops_core.schema import C

KINDS = {"team": C.x_Team, "product": C.x_Product, "environment": C.x_Environment}
WEEK = 7
TOP_MOVERS = 5
TOP_ANOMALIES = 10
CASE_SCHEMA = pl.Schema(
    {
        "id": pl.String,
        "key": pl.String,
        "kind": pl.String,
        "currency": pl.String,
        "start": pl.Date,
        "end": pl.Date,
        "impact": pl.Float64,
        "team": pl.String,
        "status": pl.String,
        "owner": pl.String,
    }
)


@dataclass(frozen=True)
class DigestScope:
    """What a digest covers: the company (``kind`` 'company') or one team, product or environment."""

    kind: str = "company"
    value: str = ""

    @classmethod
    def parse(cls, text: str | None) -> DigestScope:
        """'team=payments', 'product=web', 'environment=prod'; empty or None: the company."""
        if not text:
            return cls()
        kind, sep, value = text.partition("=")
        kind = {"env": "environment"}.get(kind.strip(), kind.strip())
        if not sep or kind not in KINDS or not value.strip():
            raise QueryError(f"scope {text!r}: use team=NAME, product=NAME or environment=NAME")
        return cls(kind, value.strip())

    @property
    def label(self) -> str:
        return "the company" if self.kind == "company" else f"{self.kind} {self.value}"

    def narrow(self, q: CostQuery) -> CostQuery:
        return q if self.kind == "company" else q.with_filter(KINDS[self.kind], (self.value,))


@dataclass(frozen=True)
class Digest:
    """One week's digest. Every frame is per billing currency; none adds two currencies."""

    scope: DigestScope
    week: tuple[date, date]
    previous: tuple[date, date]
    totals: pl.DataFrame  # BillingCurrency, current, previous, delta, delta_pct
    movers: pl.DataFrame  # dimension, value, BillingCurrency, current, previous, delta
    anomalies: pl.DataFrame  # id, key, kind, currency, start, end, impact, status, owner, is_new
    budgets: pl.DataFrame  # line, currency, budget, mtd, burn, projected, overrun, overrun_on
    commitments: pl.DataFrame  # commitment, currency, term_end, days_to_expiry, utilization, flags
    backlog: pl.DataFrame  # status, items
    implemented: pl.DataFrame  # item_id, title, team, status, implemented_on (this week)
    savings: pl.DataFrame  # currency, items, estimated, realized, realization
    validated_this_month: int
    caller: str = ""  # the caller's scope when it is not everything ("teams payments")

    @property
    def title(self) -> str:
        whom = f"your scope ({self.caller})" if self.caller and self.scope.kind == "company" else self.scope.label
        return f"Weekly cost digest for {whom}: {self.week[0].day} {self.week[0]:%b} to {self.week[1].day} {self.week[1]:%b %Y}"


def _totals(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    cur = drilldown.total(con, q).rename({q.metric: "current"})
    prev = drilldown.total(con, q.previous()).rename({q.metric: "previous"})
    both = cur.join(prev, on=C.BillingCurrency, how="full", coalesce=True).fill_null(0.0)
    return (
        both.with_columns((pl.col("current") - pl.col("previous")).alias("delta"))
        .with_columns(
            pl.when(pl.col("previous").abs() > 1e-9).then(pl.col("delta") / pl.col("previous").abs()).alias("delta_pct")
        )
        .sort(C.BillingCurrency)
    )


def _movers(con: duckdb.DuckDBPyConnection, q: CostQuery, scope: DigestScope) -> pl.DataFrame:
    dims = (C.x_Team, C.ServiceName) if scope.kind != "team" else (C.ServiceName, C.ResourceId)
    out = []
    for dim in dims:
        moved = drilldown.movers(con, q, dim, TOP_MOVERS)
        out.append(
            moved.select(
                pl.lit(dim).alias("dimension"),
                pl.col(dim).cast(pl.String).fill_null("(not set)").alias("value"),
                C.BillingCurrency,
                "current",
                "previous",
                "delta",
            )
        )
    return pl.concat(out)


def _anomalies(
    con: duckdb.DuckDBPyConnection,
    q: CostQuery,
    scope: DigestScope,
    week: tuple[date, date],
    first_day: date,
    owners: dict[str, str],
    state_path: Path | None,
) -> pl.DataFrame:
    """This week's new anomalies (detected over the whole history, as on the Anomalies page) and the
    open triage cases in scope, with status and owner (a detection not yet triaged is New, owned by
    its team's owner). Read-only: cases are created and triaged on the Anomalies page."""
    # over the whole history, as the Anomalies page detects: the same cases with the same figures,
    # and the company's detection is the one stored at publish (no detection at digest time)
    window = replace(q, start=first_day, filters=(), group_by=())
    if scope.kind not in ("company", "team"):  # a team's are the caller's, kept by attribution below
        window = scope.narrow(window)
    found = anomalies.detect_with_teams(con, window)
    new = pl.DataFrame(schema=CASE_SCHEMA)
    if found.height:
        team = pl.col(C.x_Team) if C.x_Team in found.columns else pl.lit(None, pl.String)
        new = (
            found.filter(pl.col("start") >= week[0])
            .select(
                "id",
                "key",
                "kind",
                pl.col(C.BillingCurrency).alias("currency"),
                "start",
                "end",
                "impact",
                team.fill_null("").alias("team"),
                pl.lit(None, pl.String).alias("status"),
                pl.lit("").alias("owner"),
            )
            .cast(CASE_SCHEMA)
        )
        if scope.kind == "team":
            new = new.filter(pl.col("team") == scope.value)
    cases = _cases_in_scope(triage.cases(state_path), q.scope, scope)
    triaged = new.select("id").join(cases, on="id", how="inner")
    rows = pl.concat(
        [
            new.join(cases.select("id"), on="id", how="anti"),
            triaged,
            cases.filter(~pl.col("status").is_in(triage.CLOSED)).join(new.select("id"), on="id", how="anti"),
        ]
    )
    by_team = pl.col("team").replace_strict(owners, default="", return_dtype=pl.String)
    rows = rows.with_columns(
        pl.col("status").fill_null("New"),
        pl.when(pl.col("owner") != "").then(pl.col("owner")).otherwise(by_team).alias("owner"),
        (pl.col("start") >= week[0]).alias("is_new"),
    )
    # latest first, as a reader scans a timeline: by last day, then first day, then impact
    return rows.sort(["end", "start", "impact"], descending=True).drop("team")


def _cases_in_scope(cases: pl.DataFrame, caller: Scope, scope: DigestScope) -> pl.DataFrame:
    """Triage cases the caller may see that belong to ``scope``: by their team, or for a caller
    scoped to sub accounts by the sub account in a service case's key. Cases carry no product or
    environment, so those digests list only their own detections."""
    if cases.is_empty() or scope.kind in ("product", "environment"):
        return pl.DataFrame(schema=CASE_SCHEMA)
    frame = cases.select(
        "id",
        "key",
        "kind",
        "currency",
        pl.col("start").str.to_date(),
        pl.col("end").str.to_date(),
        "impact",
        "team",
        "status",
        "owner",
    ).cast(CASE_SCHEMA)
    if not caller.is_all:
        keep = pl.lit(False)
        if caller.teams is not None:
            keep = keep | pl.col("team").is_in(list(caller.teams))
        if caller.sub_accounts is not None:
            keep = keep | pl.col("key").str.split(" / ").list.last().is_in(list(caller.sub_accounts))
        frame = frame.filter(keep)
    return frame.filter(pl.col("team") == scope.value) if scope.kind == "team" else frame


def cases_visible(cases: pl.DataFrame, caller: Scope) -> pl.DataFrame:
    """Triage cases ``caller`` may see, by the digest's rule (their teams, or their sub accounts)."""
    return _cases_in_scope(cases, caller, DigestScope())


def _budgets(con: duckdb.DuckDBPyConnection, q: CostQuery, lines: pl.DataFrame, scope: DigestScope) -> pl.DataFrame:
    """This month's budget lines in scope: budget, month to date, burn, projection at the current
    run rate (drilldown.month_run_rate), overrun and the day the run rate crosses the budget."""
    as_of = q.end
    month, _ = budgets.periods_containing(as_of)
    month_end = budgets.period_range(month)[1]
    mine = lines.filter(pl.col("period") == month)
    if not q.scope.is_all:
        mine = mine.filter(pl.col("team").is_in(list(q.scope.teams or ())))
    if scope.kind == "team":
        mine = mine.filter(pl.col("team") == scope.value)
    elif scope.kind == "product":
        mine = mine.filter(pl.col("product") == scope.value)
    elif scope.kind == "environment":
        mine = mine.clear()  # budgets are set per team, product and sub account, never per environment
    rows = []
    for row in mine.iter_rows(named=True):
        lq = budget_status.line_query(replace(q, filters=()), row, as_of.replace(day=1), as_of)
        rate = drilldown.month_run_rate(con, lq)
        mtd = float(rate["mtd"].sum()) if rate.height else 0.0
        projected = float(rate["projected"].sum()) if rate.height else 0.0
        budget = float(row["amount"])
        rows.append(
            {
                "line": budget_status.line_label(row),
                "currency": row["currency"],
                "budget": budget,
                "mtd": mtd,
                "burn": mtd / budget if budget else None,
                "projected": projected,
                "overrun": max(projected - budget, 0.0),
                "overrun_on": _crossing(as_of, month_end, mtd, projected, budget),
            }
        )
    schema = {
        "line": pl.String,
        "currency": pl.String,
        "budget": pl.Float64,
        "mtd": pl.Float64,
        "burn": pl.Float64,
        "projected": pl.Float64,
        "overrun": pl.Float64,
        "overrun_on": pl.Date,
    }
    return pl.DataFrame(rows, schema=schema).sort("overrun", "burn", descending=True, nulls_last=True)


def _crossing(as_of: date, month_end: date, mtd: float, projected: float, budget: float) -> date | None:
    """The day cumulative cost passes ``budget`` at a straight run rate from ``mtd`` to ``projected``."""
    if mtd > budget:
        return as_of
    days_left = (month_end - as_of).days
    if projected <= budget or days_left <= 0:
        return None
    per_day = (projected - mtd) / days_left
    return as_of + timedelta(days=math.ceil((budget - mtd) / per_day))


def _commitments(
    con: duckdb.DuckDBPyConnection, q: CostQuery, scope: DigestScope, inventory: str | None
) -> pl.DataFrame:
    """Flagged commitments (expiring within 90 days, under 90 % used, covered usage dropping, or
    expired in the last 30 days). A commitment is shared: a team's or a scoped caller's digest lists
    those that covered its usage in the last 30 days, and a scoped caller sees only the expiry
    (utilization over part of the rows it covers would be no commitment's utilization)."""
    scoped = not q.scope.is_all
    found = commitments.expirations_from_file(con, q, inventory)
    if scope.kind != "company" or scoped:
        recent = scope.narrow(replace(q, start=q.end - timedelta(days=29), filters=()))
        used = commitments.commitment_utilization(con, recent).filter(pl.col("used") > 0)
        found = found.filter(pl.col(C.CommitmentDiscountId).is_in(used[C.CommitmentDiscountId].to_list()))
    if scoped:
        expiry = pl.element().str.starts_with("expire")
        found = found.with_columns(
            pl.lit(None, pl.Float64).alias("utilization"),
            pl.col("flags").fill_null("").str.split("; ").list.eval(pl.element().filter(expiry)).list.join("; "),
        )
    flagged = found.filter((pl.col("flags").fill_null("") != "") & (pl.col("days_to_expiry").fill_null(0) >= -30))
    name = (
        pl.coalesce(C.CommitmentDiscountName, C.CommitmentDiscountId)
        if C.CommitmentDiscountName in found.columns
        else pl.col(C.CommitmentDiscountId)
    )
    return flagged.select(
        name.alias("commitment"),
        pl.col(C.BillingCurrency).alias("currency"),
        "term_end",
        "days_to_expiry",
        "utilization",
        "flags",
    )


def build(
    con: duckdb.DuckDBPyConnection,
    q: CostQuery,
    scope: DigestScope = DigestScope(),
    *,
    first_day: date,
    store_root: Path | None = None,
    state_path: Path | None = None,
) -> Digest:
    """The digest of the 7 days ending ``q.end`` for ``scope`` within ``q``'s scope (its caller's
    rows) and metric; ``first_day`` is the first day with data (savings are measured over it).
    Nothing is written but a demo store's first backlog (see ``_backlog``)."""
    as_of = q.end
    week_q = scope.narrow(replace(q, start=as_of - timedelta(days=WEEK - 1), group_by=()))
    history = scope.narrow(replace(q, start=first_day, filters=(), group_by=()))
    demo = store_root / "demo" if store_root else None
    owners = _owners(demo)
    lines = budgets.current(state_path)
    if lines.is_empty() and demo and (demo / "budgets.csv").exists():
        lines = budgets.load(demo / "budgets.csv")
    inventory = str(demo / "commitments.csv") if demo and (demo / "commitments.csv").exists() else None
    items, savings, validated = _backlog(con, history, scope, as_of, store_root, state_path)
    previous = week_q.previous()
    return Digest(
        scope=scope,
        week=(week_q.start, week_q.end),
        previous=(previous.start, previous.end),
        totals=_totals(con, week_q),
        movers=_movers(con, week_q, scope),
        anomalies=_anomalies(con, q, scope, (week_q.start, as_of), first_day, owners, state_path),
        budgets=_budgets(con, q, lines, scope),
        commitments=_commitments(con, replace(q, filters=()), scope, inventory),
        backlog=items.group_by("status").agg(pl.len().cast(pl.Int64).alias("items")).sort("status")
        if items.height
        else pl.DataFrame(schema={"status": pl.String, "items": pl.Int64}),
        implemented=_implemented(items, week_q.start, as_of),
        savings=savings,
        validated_this_month=validated,
        caller="" if q.scope.is_all else ", ".join((*(q.scope.teams or ()), *(q.scope.sub_accounts or ()))),
    )


def _owners(demo: Path | None) -> dict[str, str]:
    """Team owners from the org reference data beside the store, when there is one."""
    path = demo / "teams.csv" if demo else None
    return dict(pl.read_csv(path).select("team", "owner").iter_rows()) if path and path.exists() else {}


def _backlog(
    con: duckdb.DuckDBPyConnection,
    history: CostQuery,
    scope: DigestScope,
    as_of: date,
    store_root: Path | None,
    state_path: Path | None,
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """(backlog items in scope, realized savings per currency, items validated this month). A store
    with demo side files and an empty backlog gets the demo's backlog first, as the Savings page does."""
    seed = store_root / "demo" / "backlog.csv" if store_root else None
    if seed and seed.exists() and backlog.items(state_path).is_empty():
        backlog.import_csv(seed.read_text(), "demo", state_path, source=str(seed))
    ids = savings_items.sub_account_ids(con, history)
    visible = history.scope
    if scope.kind == "team":
        allowed = visible.is_all or scope.value in (visible.teams or ())
        visible = Scope(teams=(scope.value,) if allowed else ())
    elif scope.kind != "company":
        visible = Scope(teams=())  # backlog items name a team, sub account and service, not a product or environment
    items = backlog.items(state_path, scope=visible, sub_account_ids=ids)
    schema = {
        "currency": pl.String,
        "items": pl.UInt32,
        "estimated": pl.Float64,
        "realized": pl.Float64,
        "realization": pl.Float64,
    }
    if items.is_empty():
        return items, pl.DataFrame(schema=schema), 0
    realized = savings_items.realized_for_items(con, history, items)
    done = backlog.throughput(state_path, scope=visible, sub_account_ids=ids)
    validated = int(done.filter(pl.col("month") == f"{as_of:%Y-%m}")["validated"].sum()) if done.height else 0
    if realized.is_empty():  # no implemented item in scope: nothing realized yet
        return items, pl.DataFrame(schema=schema), validated
    return items, savings_items.totals(savings_items.item_table(items, realized)), validated


def _implemented(items: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    schema = {
        "item_id": pl.String,
        "title": pl.String,
        "team": pl.String,
        "status": pl.String,
        "implemented_on": pl.String,
    }
    if items.is_empty():
        return pl.DataFrame(schema=schema)
    day = pl.col("implemented_on").cast(pl.String)
    week = day.is_between(pl.lit(start.isoformat()), pl.lit(end.isoformat()))
    return items.filter(week & pl.col("status").is_in(savings_items.DONE)).select(
        "item_id", "title", "team", "status", day.alias("implemented_on")
    )
