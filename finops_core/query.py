"""Typed cost requests and their translation to parameterized SQL over the store's views.

A ``CostQuery`` names a period, filters, up to two group-by dimensions, a grain, a metric and a
``Scope`` (the rows the caller may see). ``compile_where`` picks the smallest view that can answer
it (``daily`` rollup, ``resource_daily`` rollup, else the raw ``costs`` view) and returns the
WHERE clause with its bound parameters; dimension names are checked against the schema, values
are always parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from finops_core import periods
from finops_core.schema import (
    DEFAULT_METRIC,
    METRICS,
    QUERY_DIMENSIONS,
    RESOURCE_DIMENSIONS,
    ROLLUP_DIMENSIONS,
    TAG_PREFIX,
    C,
)

GRAINS = ("day", "week", "month")
NOT_SET = "(not set)"  # how a null dimension value is shown and filtered
OTHER = "Other"


class QueryError(ValueError):
    """A request that cannot be answered as asked; the message names the field."""


@dataclass(frozen=True)
class Scope:
    """Rows a caller may see: those of the listed teams or sub accounts; ``None`` for both = all."""

    teams: tuple[str, ...] | None = None
    sub_accounts: tuple[str, ...] | None = None

    @property
    def is_all(self) -> bool:
        return self.teams is None and self.sub_accounts is None

    def key(self) -> str:
        """A stable string for cache keys."""
        return f"teams={sorted(self.teams) if self.teams is not None else '*'};subs=" + (
            str(sorted(self.sub_accounts)) if self.sub_accounts is not None else "*"
        )


ALL = Scope()


@dataclass(frozen=True)
class CostQuery:
    """One cost question. ``end`` is inclusive; filters are (dimension, allowed values)."""

    start: date
    end: date
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    group_by: tuple[str, ...] = ()
    grain: str = "day"
    metric: str = DEFAULT_METRIC
    scope: Scope = field(default=ALL)

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise QueryError(f"start {self.start} is after end {self.end}")
        if self.metric not in METRICS:
            raise QueryError(f"metric {self.metric!r} is not one of {', '.join(METRICS)}")
        if self.grain not in GRAINS:
            raise QueryError(f"grain {self.grain!r} is not one of {', '.join(GRAINS)}")
        if len(self.group_by) > 2:
            raise QueryError(f"group_by takes at most two dimensions, got {len(self.group_by)}")
        for dim in self.group_by + tuple(d for d, _ in self.filters):
            check_dimension(dim)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self, mode: str = "previous", preset: str | None = None) -> CostQuery:
        """The same question over the period to compare with (``periods.compare``): the previous
        calendar month, month to date, quarter or year where this period is one, else the equally
        long period just before; ``mode="yoy"``: the same dates a year earlier."""
        other = periods.compare(self.start, self.end, mode, preset)
        return replace(self, start=other.start, end=other.end)

    def comparison(self, mode: str = "previous", preset: str | None = None) -> periods.Comparison:
        return periods.compare(self.start, self.end, mode, preset)

    def with_filter(self, dimension: str, values: tuple[str, ...]) -> CostQuery:
        kept = tuple((d, v) for d, v in self.filters if d != dimension)
        return replace(self, filters=kept + ((dimension, values),))

    def filter_values(self, dimension: str) -> tuple[str, ...] | None:
        return next((v for d, v in self.filters if d == dimension), None)


def check_dimension(dim: str) -> str:
    if dim.startswith(TAG_PREFIX):
        if not dim[len(TAG_PREFIX) :].strip():
            raise QueryError(f"tag dimension {dim!r} names no tag key")
        return dim
    if dim not in QUERY_DIMENSIONS:
        raise QueryError(f"unknown dimension {dim!r}; use a FOCUS or x_ column, or tag:<key>")
    return dim


def view_for(dims: set[str]) -> str:
    """The smallest view holding every dimension in ``dims`` (every view keys on the currency).

    Questions about raw rows that involve no allocation column read ``raw_rows`` (the Parquet
    rows as billed): splitting a charge between teams never changes its sum per any other column,
    so they skip the allocation work of ``costs``."""
    dims = dims - {C.BillingCurrency}
    if dims <= set(ROLLUP_DIMENSIONS):
        return "daily"
    if dims <= set(RESOURCE_DIMENSIONS):
        return "resource_daily"
    if not any(d.startswith("x_") and d not in (C.x_ChargeDate, C.x_BillingMonth) for d in dims):
        return "raw_rows"
    return "costs"


def dimension_sql(dim: str, params: list[object]) -> str:
    """SQL expression for a dimension (tags become a parameterized JSON lookup)."""
    if dim.startswith(TAG_PREFIX):
        key = dim[len(TAG_PREFIX) :]
        params.append('$."' + key.replace('"', '\\"') + '"')
        return f"json_extract_string({C.Tags}, ?)"
    return check_dimension(dim)


def grain_sql(grain: str) -> str:
    if grain == "day":
        return C.x_ChargeDate
    return f"CAST(date_trunc('{grain}', {C.x_ChargeDate}) AS DATE)"


def _in(expr: str, values: tuple[str, ...], params: list[object]) -> str:
    """``expr`` is one of ``values``; NOT_SET among them matches null."""
    if not values:
        return "FALSE"
    params.extend(values)
    return f"coalesce({expr}, '{NOT_SET}') IN ({', '.join('?' for _ in values)})"


def scope_sql(scope: Scope, params: list[object]) -> str:
    """Row-level scope: rows of an allowed team or an allowed sub account."""
    if scope.is_all:
        return "TRUE"
    parts: list[str] = []
    if scope.teams is not None:
        parts.append(_in(C.x_Team, scope.teams, params))
    if scope.sub_accounts is not None:
        parts.append(_in(C.SubAccountId, scope.sub_accounts, params))
    return "(" + " OR ".join(parts) + ")"


def scope_dims(scope: Scope) -> set[str]:
    dims = set()
    if scope.teams is not None:
        dims.add(C.x_Team)
    if scope.sub_accounts is not None:
        dims.add(C.SubAccountId)
    return dims


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def compile_where(
    q: CostQuery, extra_dims: tuple[str, ...] = (), view: str | None = None
) -> tuple[str, str, list[object]]:
    """(view, WHERE clause, params) for ``q``; the view also holds ``extra_dims``. ``view`` names
    a table known to hold every dimension asked (a table built for one capability) instead."""
    view = view or view_for(query_dims(q) | set(extra_dims))
    where, params = where_sql(q, raw=view in ("costs", "raw_rows"))
    return view, where, params


def query_dims(q: CostQuery) -> set[str]:
    """The dimensions ``q`` groups, filters or is scoped by: what a view must hold to answer it."""
    return set(q.group_by) | {d for d, _ in q.filters} | scope_dims(q.scope)


def where_sql(q: CostQuery, raw: bool = False) -> tuple[str, list[object]]:
    """WHERE clause and params for ``q``'s days, scope and filters over any view keyed by
    x_ChargeDate; ``raw`` adds the clauses that let a scan of the Parquet rows skip files."""
    params: list[object] = [q.start, q.end]
    clauses = [f"{C.x_ChargeDate} BETWEEN ? AND ?"]
    if raw:
        # Let the Parquet scan skip files and row groups: no billing period that ended before the
        # start can hold a charge starting on or after it (later periods may hold corrections).
        clauses.append(f"billing_period >= ? AND {C.ChargePeriodStart} >= ? AND {C.ChargePeriodStart} < ?")
        params += [f"{q.start:%Y-%m}", _utc(q.start), _utc(q.end + timedelta(days=1))]
    clauses.append(scope_sql(q.scope, params))
    for dim, values in q.filters:
        expr = dimension_sql(dim, params)
        clauses.append(_in(expr, values, params))
    return " AND ".join(clauses), params
