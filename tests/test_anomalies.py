"""Anomaly detection on constructed series with known answers, and on the demo's planted truth."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from finops_core import anomalies, store
from finops_core.query import CostQuery
from finops_core.schema import ALLOCATION_NAMES, C, conform

START = date(2025, 1, 1)  # a Wednesday


def _con(
    costs: dict[str, list[float]], new_resource: tuple[str, int, float] | None = None, start: date = START
) -> duckdb.DuckDBPyConnection:
    """A store-shaped connection over daily usage series, one resource per (service, day) row."""
    rows = []
    for service, values in costs.items():
        for i, v in enumerate(values):
            rows.append({C.ServiceName: service, C.ResourceId: f"{service}-r1", "d": start + timedelta(days=i), "v": v})
    if new_resource:
        service, first, value = new_resource
        n = len(costs[service])
        rows += [
            {C.ServiceName: service, C.ResourceId: f"{service}-new", "d": start + timedelta(days=i), "v": value}
            for i in range(first, n)
        ]
    frame = pl.DataFrame(rows).with_columns(
        pl.col("d").cast(pl.Datetime("us", "UTC")).alias(C.ChargePeriodStart),
        pl.col("v").alias(C.EffectiveCost),
    )
    focus = conform(frame).with_columns(
        pl.lit("Usage").alias(C.ChargeCategory),
        pl.lit("Usage-Based").alias(C.ChargeFrequency),
        pl.lit("USD").alias(C.BillingCurrency),
        pl.lit("acct-1").alias(C.SubAccountId),
    )
    enriched = focus.with_columns(
        pl.col(C.ChargePeriodStart).dt.date().alias(C.x_ChargeDate),
        *[pl.lit("team-a").alias(n) for n in ALLOCATION_NAMES],
    )
    con = duckdb.connect()
    con.register("f", enriched)
    for view in ("costs", "daily", "resource_daily"):
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM f")
    return con


def _weekly(n: int, level: float = 1000.0, noise: float = 0.02, seed: int = 1, start: date = START) -> np.ndarray:
    rng = np.random.default_rng(seed)
    days = np.arange(n)
    weekday = (start.weekday() + days) % 7
    pattern = np.where(weekday == 0, 1.35, np.where(weekday >= 5, 0.6, 1.0))  # big Mondays, quiet weekends
    return level * pattern * rng.lognormal(0, noise, n)


def _month_end_batch(values: np.ndarray, start: date) -> np.ndarray:
    """Month-end batch runs as the demo has them: the last two calendar days of a month 2.6x."""
    days = [start + timedelta(days=i) for i in range(len(values))]
    last_two = np.array([(d + timedelta(days=2)).month != d.month for d in days])
    return values * np.where(last_two, 2.6, 1.0)


def _run(con: duckdb.DuckDBPyConnection, n: int, start: date = START) -> pl.DataFrame:
    found = anomalies.detect(con, CostQuery(start, start + timedelta(days=n - 1)), scopes=("service",))
    return found if not found.is_empty() else pl.DataFrame({"start": [], "kind": []})


def test_weekly_pattern_alone_raises_nothing() -> None:
    n = 140
    assert _run(_con({"svc": list(_weekly(n))}), n).height == 0


def test_a_spike_is_found_on_its_day_with_its_impact() -> None:
    n = 120
    values = _weekly(n)
    values[100] *= 4  # a Thursday
    found = _run(_con({"svc": list(values)}), n)
    assert found.height == 1
    row = found.row(0, named=True)
    assert row["kind"] == "spike" and row["start"] == START + timedelta(days=100) == row["end"]
    assert row["impact"] == pytest.approx(values[100] * 3 / 4, rel=0.1)


def test_a_monday_peak_is_normal_but_a_doubled_monday_is_not() -> None:
    n = 120
    values = _weekly(n)
    mondays = [i for i in range(n) if (START.weekday() + i) % 7 == 0]
    values[mondays[-2]] *= 2.0
    found = _run(_con({"svc": list(values)}), n)
    assert found["start"].to_list() == [START + timedelta(days=mondays[-2])]


def test_a_slow_leak_is_a_leak() -> None:
    n = 150
    values = _weekly(n)
    ramp = np.clip((np.arange(n) - 100) / 14, 0, 1)  # from day 100, up to 3x over two weeks
    values = values * (1 + 2 * ramp)
    found = _run(_con({"svc": list(values)}), n)
    assert found.height == 1
    row = found.row(0, named=True)
    assert row["kind"] == "leak"
    assert START + timedelta(days=100) <= row["start"] <= START + timedelta(days=112)
    # flagged until the new level is four weeks old: then it is the level (the case stays open in triage)
    assert row["end"] >= START + timedelta(days=114)


def test_a_new_deployment_is_growth_not_an_anomaly() -> None:
    n = 160
    con = _con({"svc": list(_weekly(n))}, new_resource=("svc", 90, 600.0))
    assert _run(con, n).height == 0


def test_warm_up_is_at_most_14_days() -> None:
    n = 40
    values = _weekly(n)
    values[16] *= 5
    found = _run(_con({"svc": list(values)}), n)
    assert found["start"].to_list() == [START + timedelta(days=16)]


def test_month_end_after_a_weekend_month_end_is_no_spike() -> None:
    # August 2025 ends on a weekend, so its batch days ran at weekend volume; September's run on a
    # Monday and Tuesday, at twice that: normal for a weekday month-end, not a spike
    start = date(2025, 8, 1)
    n = (date(2025, 10, 15) - start).days + 1
    values = _month_end_batch(_weekly(n, start=start), start)
    assert _run(_con({"batch": list(values)}, start=start), n, start).height == 0


def test_a_year_of_month_ends_on_every_weekday_raises_nothing() -> None:
    start = date(2024, 3, 1)  # March 2024 ends on a weekend, as do June, August and November
    n = (date(2025, 6, 30) - start).days + 1
    for seed in (1, 2, 3):
        values = _month_end_batch(_weekly(n, noise=0.05, seed=seed, start=start), start)
        assert _run(_con({"batch": list(values)}, start=start), n, start).height == 0


def test_a_20_percent_spike_is_found_on_a_month_end_and_on_a_plain_day() -> None:
    start = date(2024, 3, 1)
    n = (date(2025, 6, 30) - start).days + 1
    values = _month_end_batch(_weekly(n, start=start), start)
    plain, month_end = (date(2025, 3, 12) - start).days, (date(2025, 4, 29) - start).days  # a Wednesday, a Tuesday
    values[plain] *= 1.2
    values[month_end] *= 1.2
    found = _run(_con({"batch": list(values)}, start=start), n, start)
    assert sorted(found["start"].to_list()) == [start + timedelta(days=plain), start + timedelta(days=month_end)]


def test_a_leak_of_15_percent_a_week_is_a_leak() -> None:
    n = 200
    day = np.arange(n)
    grow = np.where(day < 162, np.clip((day - 120) / 7 * 0.15, 0, None), 0.0)  # +15 % a week for six weeks
    for seed in (1, 2, 3):
        found = _run(_con({"svc": list(_weekly(n, noise=0.04, seed=seed) * (1 + grow))}), n)
        leaks = found.filter(pl.col("kind") == "leak")
        assert leaks.height >= 1
        assert leaks["start"].min() <= START + timedelta(days=145)
        assert leaks["end"].max() >= START + timedelta(days=158)
        # nothing before the leak began nor long after it was fixed (days in its ramp may also be spikes)
        assert found["start"].min() >= START + timedelta(days=120)
        assert found["end"].max() <= START + timedelta(days=170)


def test_demo_truth_is_found(demo_store: Path) -> None:
    con = store.connect(demo_store)
    first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchall()[0]
    # the test demo is small (about 8 % of the default), so its anomalies are worth a few dollars a day
    settings = anomalies.DetectionSettings(default=anomalies.Thresholds(min_impact=5.0))
    found = anomalies.detect(con, CostQuery(first, last), settings, scopes=("service",))
    truth = pl.read_csv(
        demo_store / "demo" / "anomalies_truth.csv",
        schema_overrides={"sub_account_id": pl.String},
        try_parse_dates=True,
    ).filter((pl.col("scope") == "service") & (pl.col("band") == "large"))
    assert truth.height >= 10
    hit = 0
    for t in truth.iter_rows(named=True):
        hits = found.filter(
            (pl.col(C.SubAccountId) == t["sub_account_id"])
            & (pl.col(C.ServiceName) == t["service_name"])
            & (pl.col("start") <= t["end"] + timedelta(days=2))
            & (pl.col("end") >= t["start"])
        )
        hit += hits.height > 0
    assert hit / truth.height >= 0.9


def test_drill_link_opens_the_spend_page_filtered_on_the_anomaly() -> None:
    from urllib.parse import parse_qs, urlsplit

    row = {
        "scope": "service",
        "start": date(2026, 9, 10),
        "end": date(2026, 9, 12),
        C.BillingCurrency: "USD",
        C.ServiceName: "Amazon S3",
        C.SubAccountId: "123",
    }
    link = anomalies.drill_link(row)
    assert link.startswith("./spend?")  # the Spend page (Overview is the default page)
    params = parse_qs(urlsplit(link).query)
    assert params["from"] == ["2026-09-03"] and params["to"] == ["2026-09-12"]
    assert params["service"] == ["Amazon S3"] and params["sub"] == ["123"] and params["cur"] == ["USD"]
