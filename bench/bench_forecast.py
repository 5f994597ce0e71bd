"""Forecast speed and accuracy on a demo store.

Prints: the cost of the 80 % + 95 % intervals (point only, our one fit + one sample draw, and
Prophet's usual way: one fit per interval width); the fit time per series (median, p90) and the
wall time for the 50 largest team x service scopes, sequential vs in two worker processes (cold:
including the pool's start; warm: reused); then the backtest of the total and of every team beside
the seasonal-naive and run-rate baselines, with the share of days inside the calibrated 80 % and
95 % bands out of sample (Prophet's own beside them) and pooled over the teams. Goals: 50 forecasts
in under 30 s (issue #7); this forecast beats seasonal naive on the total's 30-day error; the
calibrated bands hold 75-85 % and 90-97 % of days over the team scopes (issue #14).

    .venv/bin/python bench/bench_forecast.py [--store DIR] [--seed 42 --end 2026-11-30] [--scopes 50]
        [--horizon 12m] [--part all|speed|accuracy]

A store that is empty is built first as the demo of --seed/--end (default size).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import polars as pl

from finops_core import backtest, db, events, forecast, outlook, store
from finops_core.demo import DemoConfig, build_demo
from finops_core.query import CostQuery
from finops_core.schema import C


def _scopes(con: duckdb.DuckDBPyConnection, q: CostQuery, n: int) -> dict[str, pl.DataFrame]:
    """Daily actuals of the ``n`` largest (team, service) scopes of the last 90 days."""
    frame = db.frame(
        con,
        f"SELECT {C.x_Team}, {C.ServiceName}, sum({C.EffectiveCost}) AS c FROM daily WHERE {C.BillingCurrency} = 'USD' "
        f"AND {C.x_ChargeDate} > ? GROUP BY ALL ORDER BY c DESC LIMIT ?",
        [q.end - timedelta(days=90), n],
    )
    out = {}
    for team, service, _ in frame.iter_rows():
        scoped = q.with_filter(C.x_Team, (team,)).with_filter(C.ServiceName, (service,))
        out[f"{team} / {service}"] = outlook.daily_actuals(con, scoped)
    return out


def interval_cost(history: pl.DataFrame, horizon: int, ev: events.Events, repeat: int = 5) -> None:
    """Point only vs one fit + one predictive-samples draw (ours) vs one fit per interval width."""
    import pandas as pd
    from prophet import Prophet

    frame = pd.DataFrame({"ds": pd.to_datetime(history["day"].to_list()), "y": history["cost"].to_numpy()})
    first, last = history["day"].min(), history["day"].max()
    holidays = forecast._holidays(ev, first, last + timedelta(days=horizon))

    def prophet_fit(**kw: object) -> None:
        m = Prophet(seasonality_mode="multiplicative", yearly_seasonality=True, holidays=holidays, **kw)
        m.fit(frame)
        m.predict(m.make_future_dataframe(horizon, include_history=False))

    def usual() -> None:
        for width in (0.8, 0.95):
            prophet_fit(interval_width=width)

    timings = {}
    samples = forecast.SAMPLES
    for name, fn in (
        ("point only (no intervals)", lambda: prophet_fit(uncertainty_samples=0)),
        (f"ours: 1 fit + {samples} sample paths -> 80 % and 95 %", lambda: forecast.fit_predict(history, horizon, ev)),
        ("usual: 1 fit + predict per interval width (2 x 1000 samples)", usual),
    ):
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t)
        timings[name] = statistics.median(runs)
    for name, secs in timings.items():
        print(f"  {name:62s} {secs * 1000:7.0f} ms")


def speed(series: dict[str, pl.DataFrame], until: date, ev: events.Events) -> None:
    per = []
    for hist in series.values():
        t = time.perf_counter()
        forecast.fit_predict(hist, (until - hist["day"].max()).days, ev)
        per.append(time.perf_counter() - t)
    per.sort()
    print(
        f"fit + 400 sample paths per series: median {statistics.median(per):.2f} s, p90 {per[int(0.9 * len(per))]:.2f} s"
    )
    for label, workers in (
        ("sequential (1 process)", 1),
        ("parallel, 2 workers, cold", 2),
        ("parallel, 2 workers, warm", 2),
    ):
        t = time.perf_counter()
        done = outlook.forecast_many(series, until, ev, workers=workers)
        print(f"{len(done)} scopes, {label:28s} {time.perf_counter() - t:6.1f} s wall")


def accuracy(con: duckdb.DuckDBPyConnection, q: CostQuery, ev: events.Events) -> None:
    teams = outlook.top_values(con, q, C.x_Team)
    series = {"TOTAL": outlook.daily_actuals(con, q)} | outlook.histories(con, q, C.x_Team, teams)
    t = time.perf_counter()
    done = outlook.backtest_many(series, ev)
    print(
        f"backtests of {len(done)} scopes ({backtest.ORIGINS} origins x {backtest.HORIZON} days, one fit each): {time.perf_counter() - t:.1f} s"
    )
    head = (
        "prophet",
        "naive",
        "runrate",
        "daily",
        "naive d",
        "bias",
        "in80",
        "in95",
        "raw80",
        "raw95",
        "tot80",
        "tot95",
    )
    print(f"{'scope':16s} " + " ".join(f"{h:>7s}" for h in head))
    for name, bt in done.items():
        f = bt.figure
        cells = [f("prophet"), f("seasonal_naive"), f("run_rate"), f("prophet", "daily_mape")]
        cells += [f("seasonal_naive", "daily_mape"), f("prophet", "bias")]
        cells += [f("prophet", c) for c in ("coverage80", "coverage95", "raw80", "raw95", "total80", "total95")]
        print(f"{name:16s} " + " ".join("      –" if c is None else f"{c:7.1%}" for c in cells))
    team_bts = [bt for k, bt in done.items() if k != "TOTAL"]
    wins = sum(bt.beats_naive for bt in team_bts)
    print(f"this forecast beats seasonal naive (30-day total error) for {wins} of {len(team_bts)} teams")
    print(
        "team scopes, every scored day (total) counted once: "
        + ", ".join(f"{label} {_pooled(team_bts, col):.1%}" for label, col in POOLED.items())
    )
    print(done["TOTAL"].summary())


POOLED = {
    "days in calibrated 80 %": "cal80",
    "95 %": "cal95",
    "Prophet's own 80 %": "in80",
    "own 95 %": "in95",
    "30-day totals in calibrated 80 %": "tot80",
    "totals in 95 %": "tot95",
}


def _pooled(bts: list[backtest.Backtest], column: str) -> float:
    """Share of the scored days (over scopes and origins; origins have equal length) inside the band:
    Prophet's own on the same days as the calibrated one."""
    scored = [bt.origins.filter((pl.col("method") == "prophet") & pl.col("cal80").is_not_null()) for bt in bts]
    return float(pl.concat(scored)[column].mean())  # type: ignore[arg-type]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--store", default="/tmp/fc-bench-store")
    p.add_argument("--seed", type=int, default=DemoConfig().seed, help="demo seed, when the store is built")
    p.add_argument("--end", type=date.fromisoformat, default=DemoConfig().end, help="demo end, when built")
    p.add_argument("--scopes", type=int, default=50)
    p.add_argument("--horizon", default="12m", choices=list(outlook.HORIZONS))
    p.add_argument("--part", default="all", choices=("all", "speed", "accuracy"))
    args = p.parse_args()
    root = Path(args.store)
    if store.current_version(root) is None:
        build_demo(root, DemoConfig(seed=args.seed, end=args.end))
    con = store.connect(root)
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    q = CostQuery(first, last, filters=((C.BillingCurrency, ("USD",)),))
    ev = events.load()
    until = outlook.horizon_end(last, args.horizon)
    print(f"store {root}: {first} to {last}; horizon {args.horizon} -> {until} ({(until - last).days} days)")
    forecast.quiet()
    if args.part in ("all", "speed"):
        t = time.perf_counter()
        series = _scopes(con, q, args.scopes)
        print(f"daily actuals of {len(series)} team x service scopes: {time.perf_counter() - t:.2f} s")
        print("cost of the 80 % + 95 % intervals, total series (median of 5):")
        interval_cost(outlook.daily_actuals(con, q), (until - last).days, ev)
        speed(series, until, ev)
    if args.part in ("all", "accuracy"):
        accuracy(con, q, ev)


if __name__ == "__main__":
    main()
