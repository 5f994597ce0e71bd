"""Cost anomaly detection: spikes and slow leaks in daily usage-based cost, per scope.

Scopes: service x sub account, team, and total (each per billing currency). Only usage-based
charges count, so monthly fees and purchases (which land on one day by design) never alarm.

Per series and day the expected cost is the larger of
- the median of the same weekday over the previous four weeks (weekly pattern, trend-following),
- for the last three days and the first day of a month, the highest of those days in each of the
  previous three months (month-end batch runs); such a day is judged once one earlier month is known.
A **spike** is a day above expected by more than ``z`` robust standard deviations (1.4826 x the
median absolute residual of the previous 28 days, floored at 5 % of expected), by at least
``min_impact`` and ``min_pct``. A **leak** is a sustained level shift: the last 7 days' median at
least ``leak_pct`` above the median of the 28 days before them. Series are judged on
their settled cost: resources in their first five weeks are taken out, and unused commitment rows
are left out: a deployment is growth and idle commitment is a utilization matter, not anomalies. Consecutive anomalous days (gaps
of up to two days) form one anomaly; its impact is actual minus expected over its days. Series
need 14 days of history before they are judged (warm-up). Only increases are reported.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field, replace
from datetime import timedelta

import duckdb
import numpy as np
import polars as pl

from finops_core import db
from finops_core.query import CostQuery, compile_where
from finops_core.schema import C

YOUNG_DAYS = 35  # a resource's first five weeks are a deployment ramping up, not an anomaly
SCOPES: dict[str, tuple[str, ...]] = {
    "service": (C.ServiceName, C.SubAccountId),
    "team": (C.x_Team,),
    "total": (),
}


@dataclass(frozen=True)
class Thresholds:
    z: float = 4.0
    min_impact: float = 50.0  # per day, billing currency
    min_pct: float = 0.20
    leak_pct: float = 0.50
    warmup_days: int = 14


@dataclass(frozen=True)
class DetectionSettings:
    """Thresholds per scope type; ``default`` applies where a scope has none."""

    default: Thresholds = field(default_factory=Thresholds)
    per_scope: tuple[tuple[str, Thresholds], ...] = (
        ("team", Thresholds(min_impact=200.0)),
        ("total", Thresholds(min_impact=1000.0, min_pct=0.10, leak_pct=0.25)),
    )

    def for_scope(self, scope: str) -> Thresholds:
        return dict(self.per_scope).get(scope, self.default)


def daily_series(con: duckdb.DuckDBPyConnection, q: CostQuery, scope: str) -> pl.DataFrame:
    """Usage-based cost per day for every series of a scope type, missing days as 0.

    One row per (series key, BillingCurrency, day); ``key`` is a readable label of the series.
    """
    dims = SCOPES[scope]
    view, where, params = compile_where(replace(q, group_by=dims))
    cols = ", ".join((C.x_ChargeDate, C.BillingCurrency, *dims))
    raw = db.frame(
        con,
        f"SELECT {cols}, sum({q.metric}) AS cost FROM {view} WHERE {where} "
        f"AND {C.ChargeFrequency} = 'Usage-Based' AND {C.ChargeCategory} = 'Usage' "
        f"AND {C.CommitmentDiscountStatus} IS DISTINCT FROM 'Unused' GROUP BY ALL",
        params,
    ).rename({C.x_ChargeDate: "day"})
    keys = [C.BillingCurrency, *dims]
    if raw.is_empty():
        return raw.with_columns(pl.lit("").alias("key"))
    spans = raw.group_by(keys).agg(pl.col("day").min().alias("first"))
    days = pl.DataFrame({"day": pl.date_range(q.start, q.end, eager=True)})
    grid = spans.join(days, how="cross").filter(pl.col("day") >= pl.col("first")).drop("first")
    young = _young_lags(con, q, dims)
    full = (
        grid.join(raw, on=[*keys, "day"], how="left")
        .join(young, on=[*keys, "day"], how="left")
        .with_columns(pl.col("cost").fill_null(0.0), *[pl.col(f"y{j}").fill_null(0.0) for j in range(YOUNG_DAYS)])
        .with_columns(pl.col("y0").alias("young_cost"))
    )
    label = pl.concat_str([pl.col(d).cast(pl.String) for d in dims], separator=" / ") if dims else pl.lit("Total")
    return full.with_columns(label.alias("key")).sort([*keys, "day"])


def _young_lags(con: duckdb.DuckDBPyConnection, q: CostQuery, dims: tuple[str, ...]) -> pl.DataFrame:
    """Per series and day t, the cost that resources still young at t (first seen less than five weeks
    before t) had on day t - j, for j = 0..34, as columns y0..y34.

    Subtracting it from the series at lag j gives the cost of resources settled at t, so a
    deployment neither spikes on arrival nor steps up when it stops being young.
    """
    view, where, params = compile_where(replace(q, group_by=()), (C.ResourceId, *dims))
    cols = ", ".join((C.BillingCurrency, *dims))
    per_resource = f"min({C.x_ChargeDate}) OVER (PARTITION BY {C.ResourceId})"
    # resources already there on the first day of data are not deployments
    first_seen = (
        f"CASE WHEN {per_resource} = min({C.x_ChargeDate}) OVER () THEN DATE '1900-01-01' ELSE {per_resource} END"
    )
    long = db.frame(
        con,
        f"SELECT CAST(day + CAST(j AS INTEGER) AS DATE) AS day, {cols}, j, sum(cost) AS young FROM ("
        f"SELECT * FROM ("
        f"SELECT {C.x_ChargeDate} AS day, {cols}, {q.metric} AS cost, {C.x_ChargeDate} - {first_seen} AS age "
        f"FROM {view} WHERE {C.ResourceId} IS NOT NULL AND {C.ChargeCategory} = 'Usage' AND {where}"
        # only rows of young resources meet the 35 lags (not every row of history)
        f") WHERE age < {YOUNG_DAYS}) young, range(0, {YOUNG_DAYS}) AS lags(j) WHERE age < {YOUNG_DAYS} - j "
        "GROUP BY ALL",
        params,
    )
    keys = [C.BillingCurrency, *dims, "day"]
    if long.is_empty():
        key_types = {k: pl.Date if k == "day" else pl.String for k in keys}
        return pl.DataFrame(schema={**key_types, **{f"y{j}": pl.Float64 for j in range(YOUNG_DAYS)}})
    wide = long.pivot(on="j", index=keys, values="young")
    wide = wide.rename({str(j): f"y{j}" for j in range(YOUNG_DAYS) if str(j) in wide.columns})
    return wide.with_columns([pl.lit(0.0).alias(f"y{j}") for j in range(YOUNG_DAYS) if f"y{j}" not in wide.columns])


def _expected(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Expected settled cost per day: the cost of the resources settled on that day (see _young_lags)."""
    lagged = [(pl.col("cost").shift(j).over(keys) - pl.col(f"y{j}")).alias(f"s{j}") for j in range(YOUNG_DAYS)]
    frame = frame.with_columns(lagged).with_columns(pl.col("s0").alias("settled"))
    weekly = pl.concat_list([f"s{k}" for k in (7, 14, 21, 28)]).list.median()
    month_pos = frame.with_columns(
        (pl.col("day").dt.month_end() - pl.col("day")).dt.total_days().alias("to_end"),
        (pl.col("day").dt.year() * 12 + pl.col("day").dt.month()).alias("month_no"),
    )
    edge = (pl.col("to_end") <= 2) | (pl.col("day").dt.day() <= 1)
    # the month-end peak of each month: batch runs land on any of the last days, weekday permitting
    peaks = month_pos.filter(edge).group_by([*keys, "month_no"]).agg(pl.col("settled").max().alias("peak"))
    for lag in (1, 2, 3):
        month_pos = month_pos.join(
            peaks.select(*keys, (pl.col("month_no") + lag).alias("month_no"), pl.col("peak").alias(f"m{lag}")),
            on=[*keys, "month_no"],
            how="left",
        )
    monthly = pl.when(edge).then(pl.max_horizontal("m1", "m2", "m3"))
    return month_pos.with_columns(weekly.alias("_weekly"), monthly.alias("_monthly"), edge.alias("_edge")).with_columns(
        pl.max_horizontal("_weekly", "_monthly").alias("expected"),
        # a month-end day is judged once the same position of an earlier month is known
        (~pl.col("_edge") | pl.col("_monthly").is_not_null()).alias("_judged"),
    )


def _level_medians(frame: pl.DataFrame) -> pl.DataFrame:
    """Median settled cost of the last 7 days (``_recent``) and of the 28 days before them
    (``_before``, when at least 14 are known), from the lag columns s0..s34."""
    recent = frame.select([f"s{j}" for j in range(7)]).to_numpy().astype(float)
    window = frame.select([f"s{j}" for j in range(7, YOUNG_DAYS)]).to_numpy().astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows at the start of a series
        rec = np.nanmedian(recent, axis=1)
        bef = np.where((~np.isnan(window)).sum(axis=1) >= 14, np.nanmedian(window, axis=1), np.nan)
    return frame.with_columns(pl.Series("_recent", rec).fill_nan(None), pl.Series("_before", bef).fill_nan(None))


def _flag(frame: pl.DataFrame, keys: list[str], t: Thresholds) -> pl.DataFrame:
    resid = pl.col("settled") - pl.col("expected")
    mad = resid.abs().shift(1).rolling_median(28, min_samples=7).over(keys)
    sigma = pl.max_horizontal(1.4826 * mad, 0.05 * pl.col("expected"), pl.lit(0.01))
    # medians, so two month-end batch days in a week do not read as a level shift; resources in
    # their first weeks are ramping deployments, not leaks
    settled = pl.col("settled")
    frame = _level_medians(frame)
    recent, before = pl.col("_recent"), pl.col("_before")
    age = pl.int_range(pl.len()).over(keys)
    # month-end batch days vary more (weekday, volume): they need twice the relative jump
    pct = pl.when(pl.col("_edge")).then(max(2 * t.min_pct, 0.4)).otherwise(t.min_pct)
    spike = (resid > t.z * sigma) & (resid >= t.min_impact) & (resid >= pct * pl.col("expected"))
    leak = (
        (recent >= (1 + t.leak_pct) * before)
        & ((recent - before) >= t.min_impact)
        & (settled > before)
        & (before >= 0.5 * t.min_impact)
    )  # a level shift needs a level to shift from
    return frame.with_columns(sigma.alias("sigma"), before.alias("level_before")).with_columns(
        ((age >= t.warmup_days) & pl.col("_judged") & pl.col("expected").is_not_null() & spike.fill_null(False)).alias(
            "spike"
        ),
        ((age >= t.warmup_days) & leak.fill_null(False)).alias("leak"),
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
    out = []
    for scope in scopes:
        series = daily_series(con, q, scope)
        if series.is_empty():
            continue
        keys = [C.BillingCurrency, *SCOPES[scope]]
        flagged = _flag(_expected(series, keys), keys, settings.for_scope(scope))
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
    flagged = _flag(_expected(series, keys), keys, t)
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
    return "spend?" + urlencode(params)


def detect_with_teams(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """``detect`` with default settings, each anomaly attributed to a team (see attribute_teams)."""
    return attribute_teams(con, q, detect(con, q))
