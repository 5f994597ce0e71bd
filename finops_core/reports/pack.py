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
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from finops_core import (
    drilldown,
)
from finops_core.query import CostQuery
from finops_core.reports import budget_variance as bv
from finops_core.reports import variance as va
from finops_core.reports.digest import KINDS, DigestScope

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
    account_names: dict[str, str]  # SubAccountId -> SubAccountName, to label the account contributors
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
    from finops_core.reports.pack_figures import Figures  # it builds this module's Sections

    ctx = Figures(con, narrowed, scope, month, q.end, first_day, demo, state_path)
    caller = "" if q.scope.is_all else ", ".join((*(q.scope.teams or ()), *(q.scope.sub_accounts or ())))
    return Pack(month, scope, caller, q.end, [ctx.section(v) for v in found])
