"""Cost anomaly detection: spikes and slow leaks in daily usage-based cost, per scope.

Scopes: service x sub account, team, and total (each per billing currency). Only usage-based
charges count, so monthly fees and purchases (which land on one day by design) never alarm.

Per series and day the expected cost (``anomaly_baseline.expected``) is the median of the same
weekday over the previous four weeks (weekly pattern, trend-following); on a month's edge days (the
last three and first calendar days, the last two and first business days) it is that times the
median ratio to it at the same position in up to six earlier months (month-end batch runs, judged
each against its own weekday); such a day is judged once one earlier month is known.
A **spike** is a day above expected by more than ``z`` robust standard deviations (1.4826 x the
median absolute deviation of the previous 28 days' residuals, relative to expected, from their
median; at least ``sigma_floor``; 1.5x on month-edge days) x expected, by at least
``min_impact`` and ``min_pct``. A **leak** is a sustained rise of the last 7 days' median: at
least ``leak_pct`` above the median of the 28 days before them (a step), or ``trend_pct`` above
the median of the week four weeks before them (a slow leak, e.g. +15 % a week). Series are judged
on their settled cost: resources in their first five weeks are taken out, and unused commitment
rows are left out: a deployment is growth and idle commitment is a utilization matter, not
anomalies. Consecutive anomalous days (gaps of up to two days) form one anomaly; its impact is
actual minus expected over its days. Series need 14 days of history before they are judged
(warm-up). Only increases are reported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import timedelta

import duckdb
import polars as pl

from finops_core import anomaly_results, db
from finops_core.anomaly_baseline import SCOPES, daily_series, expected, level_medians, young_resources
from finops_core.query import CostQuery, compile_where
from finops_core.schema import C

EDGE_NOISE = 1.5

__all__ = ["SCOPES", "DetectionSettings", "Thresholds", "daily_series", "detect", "series_with_band"]


@dataclass(frozen=True)
class Thresholds:
    z: float = 4.0
    min_impact: float = 50.0  # per day, billing currency
    min_pct: float = 0.15  # below the +20 % a cost owner still wants to hear about
    sigma_floor: float = 0.03  # of expected: series this smooth cannot tell smaller moves from noise
    leak_pct: float = 0.50
    trend_pct: float = 0.30
    warmup_days: int = 14


@dataclass(frozen=True)
class DetectionSettings:
    """Thresholds per scope type; ``default`` applies where a scope has none."""

    default: Thresholds = field(default_factory=Thresholds)
    per_scope: tuple[tuple[str, Thresholds], ...] = (
        # aggregates are smoother: a tenth of a team's or the company's daily cost is worth a look
        ("team", Thresholds(min_impact=200.0, min_pct=0.10, sigma_floor=0.02, trend_pct=0.25)),
        ("total", Thresholds(min_impact=1000.0, min_pct=0.10, sigma_floor=0.02, leak_pct=0.25, trend_pct=0.20)),
    )

    def for_scope(self, scope: str) -> Thresholds:
        return dict(self.per_scope).get(scope, self.default)


def _flag(frame: pl.DataFrame, keys: list[str], t: Thresholds) -> pl.DataFrame:
    resid = pl.col("settled") - pl.col("expected")
    # noise in proportion to the level (a month-end batch day is noisier in dollars than a Sunday),
    # measured about the residuals' own recent median: a baseline still holding a level that just
    # ended (a leak fixed) offsets every residual alike, which is bias, not noise
    previous = (resid / pl.col("expected").clip(lower_bound=0.01)).shift(1)
    mad = (previous - previous.rolling_median(28, min_samples=7)).abs().rolling_median(28, min_samples=7).over(keys)
    # a month-edge day's expected carries the error of the earlier months' ratios on top of its own
    edge = pl.when(pl.col("_edge")).then(EDGE_NOISE).otherwise(1.0)
    sigma = pl.max_horizontal(1.4826 * mad, pl.lit(t.sigma_floor)) * edge * pl.col("expected").clip(lower_bound=0.01)
    # medians, so two month-end batch days in a week do not read as a level shift; resources in
    # their first weeks are ramping deployments, not leaks
    settled = pl.col("settled")
    frame = level_medians(frame)
    recent, before, old = pl.col("_recent"), pl.col("_before"), pl.col("_old")
    age = pl.int_range(pl.len()).over(keys)
    spike = (resid > t.z * sigma) & (resid >= t.min_impact) & (resid >= t.min_pct * pl.col("expected"))

    def shifted(level: pl.Expr, pct: float) -> pl.Expr:  # a level shift needs a level to shift from
        return (
            (recent >= (1 + pct) * level)
            & ((recent - level) >= t.min_impact)
            & (settled > level)
            & (level >= 0.5 * t.min_impact)
        )

    # a step: the last week against the four before it; a slow leak: against the week four weeks earlier
    step, trend = shifted(before, t.leak_pct).fill_null(False), shifted(old, t.trend_pct).fill_null(False)
    level_before = pl.when(trend & ~step).then(old).otherwise(before)
    return frame.with_columns(sigma.alias("sigma"), level_before.alias("level_before")).with_columns(
        ((age >= t.warmup_days) & pl.col("_judged") & pl.col("expected").is_not_null() & spike.fill_null(False)).alias(
            "spike"
        ),
        ((age >= t.warmup_days) & (step | trend)).alias("leak"),
    )


def detect(
    con: duckdb.DuckDBPyConnection,
    q: CostQuery,
    settings: DetectionSettings | None = None,
    scopes: tuple[str, ...] = tuple(SCOPES),
) -> pl.DataFrame:
    """Anomalies found in ``q``'s period (use a long period: baselines need history).

    One row per anomaly: id, scope, key (+ scope dimensions), BillingCurrency, start, end, days,
    kind (spike/leak), actual, expected, impact, peak_day, peak_ratio.
    """
    settings = settings or DetectionSettings()
    young = young_resources(con, q)
    out = []
    for scope in scopes:
        series = daily_series(con, q, scope, young)
        if series.is_empty():
            continue
        keys = [C.BillingCurrency, *SCOPES[scope]]
        flagged = _flag(expected(series, keys), keys, settings.for_scope(scope))
        events = _events(flagged, scope, keys)
        if not events.is_empty():
            out.append(events.filter(pl.col("impact") >= settings.for_scope(scope).min_impact))
    if not out:
        return pl.DataFrame()
    return pl.concat(out, how="diagonal_relaxed").sort("impact", descending=True)


def _events(flagged: pl.DataFrame, scope: str, keys: list[str]) -> pl.DataFrame:
    days = flagged.with_columns(
        (
            pl.when(pl.col("leak") & ~pl.col("spike"))
            .then(pl.max_horizontal("level_before", "expected"))
            .otherwise("expected")
            + pl.col("young_cost")
        ).alias("baseline")
    ).filter(pl.col("spike") | pl.col("leak"))
    if days.is_empty():
        return pl.DataFrame()
    gap = (pl.col("day") - pl.col("day").shift(1).over(keys)).dt.total_days()
    days = days.sort([*keys, "day"]).with_columns((gap.fill_null(99) > 3).cum_sum().over(keys).alias("_event"))
    events = days.group_by([*keys, "key", "_event"]).agg(
        pl.col("day").min().alias("start"),
        pl.col("day").max().alias("end"),
        pl.len().alias("days"),
        pl.col("leak").sum().alias("_leak_days"),
        pl.col("cost").sum().alias("actual"),
        pl.col("baseline").sum().alias("expected"),
        pl.col("day").sort_by(pl.col("cost") / pl.col("baseline").clip(lower_bound=0.01)).last().alias("peak_day"),
        (pl.col("cost") / pl.col("baseline").clip(lower_bound=0.01)).max().alias("peak_ratio"),
    )
    ident = pl.concat_str(
        [pl.lit(scope), pl.col("key"), pl.col(C.BillingCurrency), pl.col("start").cast(pl.String)], separator="|"
    )
    return events.with_columns(
        pl.lit(scope).alias("scope"),
        pl.when((pl.col("_leak_days") >= 3) | (pl.col("days") >= 5))
        .then(pl.lit("leak"))
        .otherwise(pl.lit("spike"))
        .alias("kind"),
        (pl.col("actual") - pl.col("expected")).alias("impact"),
        ident.map_elements(lambda s: hashlib.sha1(s.encode()).hexdigest()[:12], return_dtype=pl.String).alias("id"),
    ).drop("_event", "_leak_days")


def series_with_band(
    con: duckdb.DuckDBPyConnection, q: CostQuery, scope: str, key: str, settings: DetectionSettings | None = None
) -> pl.DataFrame:
    """One series with its expected value and band (expected +/- z sigma) for a chart.

    One row per day: day, cost, expected, lower, upper, spike, leak.
    """
    t = (settings or DetectionSettings()).for_scope(scope)
    series = daily_series(con, q, scope).filter(pl.col("key") == key)
    keys = [C.BillingCurrency, *SCOPES[scope]]
    flagged = _flag(expected(series, keys), keys, t)
    return flagged.select(
        "day",
        "cost",
        "expected",
        (pl.col("expected") - t.z * pl.col("sigma")).clip(lower_bound=0).alias("lower"),
        (pl.col("expected") + t.z * pl.col("sigma")).alias("upper"),
        "spike",
        "leak",
    )


def scope_filters(row: dict[str, object]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The query filters that select an anomaly's series."""
    dims = SCOPES[str(row["scope"])]
    return tuple((d, (str(row[d]),)) for d in dims) + ((C.BillingCurrency, (str(row[C.BillingCurrency]),)),)


def contributors(
    con: duckdb.DuckDBPyConnection,
    q: CostQuery,
    row: dict[str, object],
    dims: tuple[str, ...] = (C.ResourceId, C.RegionId, C.SkuId),
    top: int = 5,
) -> pl.DataFrame:
    """What drove an anomaly: per dimension, the values whose cost rose most from the equally long
    window before it to the anomaly's window. One row per (dimension, value): before, during, delta."""
    from finops_core.drilldown import movers

    window = replace(q, start=row["start"], end=row["end"], filters=scope_filters(row))  # type: ignore[arg-type]
    out = []
    for dim in dims:
        moved = movers(con, window, dim).filter(pl.col("delta") > 0).head(top)
        out.append(
            moved.select(
                pl.lit(dim).alias("dimension"),
                pl.col(dim).alias("value"),
                pl.col("previous").alias("before"),
                pl.col("current").alias("during"),
                "delta",
            )
        )
    return pl.concat(out) if out else pl.DataFrame()


def attribute_teams(con: duckdb.DuckDBPyConnection, q: CostQuery, found: pl.DataFrame) -> pl.DataFrame:
    """Add x_Team to service-scope anomalies: the team with most cost in that series over ``q``."""
    if found.is_empty() or C.ServiceName not in found.columns:
        return found
    view, where, params = compile_where(replace(q, group_by=()), (C.ServiceName, C.SubAccountId, C.x_Team))
    teams = db.frame(
        con,
        f"SELECT {C.ServiceName}, {C.SubAccountId}, arg_max({C.x_Team}, cost) AS _team FROM ("
        f"SELECT {C.ServiceName}, {C.SubAccountId}, {C.x_Team}, sum({q.metric}) AS cost FROM {view} "
        f"WHERE {where} GROUP BY ALL) GROUP BY ALL",
        params,
    )
    merged = found.join(teams, on=[C.ServiceName, C.SubAccountId], how="left")
    team = pl.col(C.x_Team) if C.x_Team in merged.columns else pl.lit(None, dtype=pl.String)
    return merged.with_columns(pl.coalesce(team, pl.col("_team")).alias(C.x_Team)).drop("_team")


def drill_link(row: dict[str, object]) -> str:
    """A Spend page URL pre-filtered on the anomaly's scope and window (plus a week before)."""
    from urllib.parse import urlencode

    start = row["start"]
    params: list[tuple[str, str]] = [
        ("period", "custom"),
        ("from", str(start - timedelta(days=7))),  # type: ignore[operator]
        ("to", str(row["end"])),
        ("cur", str(row[C.BillingCurrency])),
        ("p_by", C.ResourceId),
    ]
    url_keys = {C.ServiceName: "service", C.SubAccountId: "sub", C.x_Team: "team"}
    for dim in SCOPES[str(row["scope"])]:
        params.append((url_keys[dim], str(row[dim])))
    return "./spend?" + urlencode(params)


def detect_with_teams(con: duckdb.DuckDBPyConnection, q: CostQuery, stored: bool = True) -> pl.DataFrame:
    """``detect`` with default settings, each anomaly attributed to a team (see attribute_teams).

    The company-wide detection over a version's whole history was run when it was published: that
    question is answered from the stored result (``anomaly_results``) unless ``stored`` is False.
    """
    if stored:
        found = anomaly_results.stored(con, q)
        if found is not None:
            return found
    return attribute_teams(con, q, detect(con, q))
