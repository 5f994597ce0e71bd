"""The KPI scorecard of the Overview page, for one caller scope and one billing currency.

Each KPI is computed by the same ``finops_core`` functions the page it links to calls, so the two
agree by construction (``tests/test_kpis.py`` checks every one). The review month is the last
complete calendar month of data; the trend is one value per month over the six months ending with
it. A KPI that cannot be computed (no invoices, no deliveries, nothing in scope) has no value,
status ``no data`` and a note saying why; none is ever estimated. Grain: one ``Kpi`` per KPI (tag
compliance: one per required tag key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import duckdb
import polars as pl

from finops_core import commitments, governance
from finops_core.query import CostQuery, Scope
from finops_core.reports.kpi_targets import DEFINITIONS, Targets
from finops_core.schema import C

MONTHS = 6
Trend = tuple[tuple[str, float | None], ...]


def month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def add_months(first: date, n: int) -> date:
    m = first.year * 12 + first.month - 1 + n
    return date(m // 12, m % 12 + 1, 1)


@dataclass(frozen=True)
class Window:
    """What a scorecard covers: the caller's scope, one currency, the data's first and last day."""

    data_start: date
    data_end: date
    currency: str
    scope: Scope

    @property
    def review(self) -> date:
        """First day of the last complete month (the data end's month when it ends on its last day)."""
        first = self.data_end.replace(day=1)
        return first if month_end(first) == self.data_end else add_months(first, -1)

    @property
    def months(self) -> tuple[date, ...]:
        return tuple(add_months(self.review, i - MONTHS + 1) for i in range(MONTHS))

    def query(self, start: date, end: date, **kw: Any) -> CostQuery:
        """EffectiveCost in the window's currency and scope over [start, end] (clamped to the data)."""
        end = min(end, self.data_end)
        start = min(max(start, self.data_start), end)
        return CostQuery(start, end, filters=((C.BillingCurrency, (self.currency,)),), scope=self.scope, **kw)

    @property
    def trend_query(self) -> CostQuery:
        return self.query(self.months[0], month_end(self.review), grain="month")

    def month_query(self, first: date) -> CostQuery:
        return self.query(first, month_end(first))

    def link(self, page: str, first: date | None = None, last: date | None = None) -> str:
        """``page`` opened on the review month (or [first, last]) in this currency."""
        first = first or self.review
        last = last or month_end(first)
        params = {"period": "custom", "from": first.isoformat(), "to": min(last, self.data_end).isoformat()}
        return f"./{page}?" + urlencode(params | {"cur": self.currency})


@dataclass(frozen=True)
class Kpi:
    key: str  # DEFINITIONS key, or "tag_compliance:<tag key>"
    kind: str  # DEFINITIONS key
    label: str
    unit: str
    value: float | None
    target: float
    warn: float
    status: str  # ok, warn, bad, no data (kpi_targets)
    period: str  # what the value covers, e.g. "October 2026"
    trend: Trend  # (YYYY-MM, value) for the six months of the window, oldest first
    page: str  # url path of the page that explains it
    link: str  # that page opened on the same period and currency
    note: str = ""  # why there is no value, or how it was computed

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def make(
    kind: str,
    targets: Targets,
    value: float | None,
    period: str,
    trend: Trend,
    link: str,
    empty: str = "",
    note: str = "",
    key: str | None = None,
    label: str | None = None,
) -> Kpi:
    """A KPI judged against its target; ``empty`` says why there is no value (used when value is None)."""
    d, t = DEFINITIONS[kind], targets[kind]
    return Kpi(
        key or kind, kind, label or d.label, d.unit, value, t.target, t.warn, t.status(value), period, trend,
        d.page, link, empty if value is None else note,
    )  # fmt: skip


def month_label(first: date) -> str:
    return f"{first:%B %Y}"


def trend_of(w: Window, frame: pl.DataFrame, month_col: str, value: str | pl.Expr) -> Trend:
    """(YYYY-MM, value) for each month of ``w`` from a frame with one row per month (None: missing)."""
    expr = pl.col(value) if isinstance(value, str) else value
    if frame.is_empty():
        found: dict[str, float | None] = {}
    else:
        months = pl.col(month_col).cast(pl.String).str.slice(0, 7)
        found = dict(frame.select(months.alias("m"), expr.alias("v")).iter_rows())
    return tuple((f"{m:%Y-%m}", _num(found.get(f"{m:%Y-%m}"))) for m in w.months)


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) else None


def last_value(trend: Trend) -> float | None:
    return trend[-1][1]


# -- figures from the bill (one cached call on the page) -------------------------------------------


def bill_figures(con: duckdb.DuckDBPyConnection, q: CostQuery, keys: tuple[str, ...]) -> dict[str, pl.DataFrame]:
    """The monthly frames the bill KPIs come from, over ``q`` (a Window's trend query): allocation
    coverage, tag compliance per key, commitment utilization and coverage. Each is the function the
    Allocation or Commitments page calls."""
    util = commitments.commitment_utilization(con, q, by_period=True)
    return {
        "coverage": governance.coverage(con, q),
        "compliance": governance.compliance(con, q, keys, None),
        "utilization": util.group_by("period").agg(pl.col("used").sum(), pl.col("unused").sum()),
        "commitment_coverage": commitments.coverage_trend(con, q),
    }


def bill_kpis(w: Window, figures: dict[str, pl.DataFrame], keys: tuple[str, ...], targets: Targets) -> list[Kpi]:
    """Allocation coverage (all, controllable), tag compliance per key, commitment utilization and
    coverage for the review month, with their trends."""
    cur = pl.col(C.BillingCurrency) == w.currency
    review = month_label(w.review)
    cov = figures["coverage"].filter(cur)
    empty = f"no {w.currency} cost in scope in {review}"
    t = trend_of(w, cov, "month", "coverage")
    out = [make("allocation_coverage", targets, last_value(t), review, t, w.link("allocation"), empty)]
    t = trend_of(w, cov, "month", "controllable_coverage")
    out.append(make("controllable_coverage", targets, last_value(t), review, t, w.link("allocation"), empty))
    comp = figures["compliance"].filter(cur)
    for key in keys:
        t = trend_of(w, comp, "month", key)
        note = f"no taggable {w.currency} usage in scope in {review}"
        label = f"Tag compliance: {key}"
        link = w.link("allocation")
        out.append(
            make(
                "tag_compliance",
                targets,
                last_value(t),
                review,
                t,
                link,
                note,
                key=f"tag_compliance:{key}",
                label=label,
            )
        )
    util = figures["utilization"]
    used_total = pl.col("used") + pl.col("unused")
    t = trend_of(w, util.filter(used_total.abs() > 1e-12), "period", pl.col("used") / used_total)
    note = f"no {w.currency} commitment in scope was charged in {review}"
    out.append(make("commitment_utilization", targets, last_value(t), review, t, w.link("commitments"), note))
    t = trend_of(w, figures["commitment_coverage"].filter(cur), "period", "coverage")
    note = f"no {w.currency} usage of a service commitments cover in {review}"
    out.append(make("commitment_coverage", targets, last_value(t), review, t, w.link("commitments"), note))
    return out


Call = Callable[..., Any]


def direct(con: duckdb.DuckDBPyConnection) -> Call:
    """A ``call(fn, q, *args)`` that runs ``fn(con, q, *args)``; the page passes a cached one instead."""
    return lambda fn, q, *args: fn(con, q, *args)
