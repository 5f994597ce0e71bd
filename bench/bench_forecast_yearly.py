"""When to fit yearly seasonality: Prophet's own rule (more than two years of history) against ours
(two full years at every backtest origin, ``forecast.yearly_min_span()``), side by side per team.

For each store: every team's largest month-over-month change of cost per day in its 12-month
forecast (a one-off step a year ago repeated as seasonality shows up here), and its rolling-origin
backtest under each rule: 30-day total error and the share of days in the calibrated 80 % / 95 %
bands, out of sample. The old rule's backtest decides per origin (as the old code did); ours uses
the live fit's choice at every origin.

    .venv/bin/python bench/bench_forecast_yearly.py [--stores 42:2026-11-30,7:2026-10-15,...] [--rows 300000]
        [--teams 20] [--root /tmp/fc-yearly]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from bench.common import ensure_demo
from finops_core import backtest, db, events, forecast, outlook, plausibility, store
from finops_core.query import CostQuery
from finops_core.schema import C

REFERENCE = "7:2026-10-15,11:2026-06-30,23:2026-03-31,42:2026-11-30,101:2026-08-19"


def _span(history: pl.DataFrame) -> int:
    started = forecast._started(history)
    return (started["day"].max() - started["day"].min()).days  # type: ignore[operator]


def old_rule(history: pl.DataFrame) -> bool:
    return _span(history) >= forecast.PROPHET_YEARLY_SPAN


def new_rule(history: pl.DataFrame) -> bool:
    return forecast.wants_yearly(history)


def _max_move(fc: outlook.ScopeForecast) -> float | None:
    moves = plausibility._changes(plausibility._per_day(fc)).filter(pl.col("ahead"))["change"].drop_nulls()
    return float(moves.abs().max()) if moves.len() else None  # type: ignore[arg-type]


def run_rule(
    history: pl.DataFrame, until: date, ev: events.Events, rule: str
) -> tuple[float | None, backtest.Backtest | None, int]:
    """(max forecast MoM, backtest, flags) of one team under ``rule`` ('old' or 'new')."""
    live = old_rule(history) if rule == "old" else new_rule(history)
    try:
        fc = forecast.fit_predict(history, (until - history["day"].max()).days, ev, yearly=live)  # type: ignore[operator]
    except forecast.ForecastError:
        return None, None, 0
    scope = outlook.ScopeForecast(history, fc)

    def prophet(h: pl.DataFrame, n: int) -> pl.DataFrame:
        return forecast.fit_predict(h, n, ev, yearly=old_rule(h) if rule == "old" else live).daily

    try:
        bt: backtest.Backtest | None = backtest.backtest(history, prophet)
    except (backtest.BacktestError, forecast.ForecastError):
        bt = None
    return _max_move(scope), bt, plausibility.flags("team", scope, bt).height


def _pct(v: float | None) -> str:
    return "     –" if v is None else f"{v:6.1%}"


def bench_store(seed: int, end: date, rows: int, teams: int, root: Path, ev: events.Events) -> list[dict[str, object]]:
    path = root / f"s{seed}-{end}"
    ensure_demo(path, rows, seed, end)
    con = store.connect(path)
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    q = CostQuery(first, last, filters=((C.BillingCurrency, ("USD",)),))
    series = outlook.histories(con, q, C.x_Team, outlook.top_values(con, q, C.x_Team, teams))
    until = outlook.horizon_end(last, "12m")
    print(
        f"\nseed {seed}, {first} to {last} ({(last - first).days} days); yearly from {forecast.yearly_min_span()} days"
    )
    head = "team              span  rule  max MoM  total err  in80    in95    flags"
    print(head)
    out = []
    for team, history in series.items():
        for rule in ("old", "new"):
            move, bt, flags = run_rule(history, until, ev, rule)
            row = {
                "seed": seed,
                "team": team,
                "rule": rule,
                "move": move,
                "err": bt.figure("prophet") if bt else None,
                "in80": bt.figure("prophet", "coverage80") if bt else None,
                "in95": bt.figure("prophet", "coverage95") if bt else None,
                "flags": flags,
            }
            out.append(row)
            print(
                f"{team[:16]:16s} {_span(history):5d}  {rule:4s}  {_pct(move)}   {_pct(row['err'])}    "  # type: ignore[arg-type]
                f"{_pct(row['in80'])}  {_pct(row['in95'])}  {flags}"  # type: ignore[arg-type]
            )
    con.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--stores", default=REFERENCE, help="seed:end pairs, comma separated")
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--teams", type=int, default=20)
    p.add_argument("--root", default="/tmp/fc-yearly")
    args = p.parse_args()
    forecast.quiet()
    ev = events.load()
    rows: list[dict[str, object]] = []
    started = time.perf_counter()
    for pair in args.stores.split(","):
        seed, end = pair.split(":")
        rows += bench_store(int(seed), date.fromisoformat(end), args.rows, args.teams, Path(args.root), ev)
    frame = pl.DataFrame(rows)
    print("\nper store, old rule -> new rule: worst team max MoM; median team total error; mean in80 / in95; flags")
    for seed in frame["seed"].unique(maintain_order=True):
        cells = []
        for rule in ("old", "new"):
            f = frame.filter((pl.col("seed") == seed) & (pl.col("rule") == rule))
            cells.append(
                f"{f['move'].max():.1%} · {statistics.median(f['err'].drop_nulls().to_list()):.1%} · "
                f"{f['in80'].mean():.1%} / {f['in95'].mean():.1%} · {f['flags'].sum()}"
            )
        print(f"seed {seed:>3}: {cells[0]}  ->  {cells[1]}")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
