"""Latency of the Spend page's new groupings against a plain Polars read-and-groupby baseline.

On a seeded demo store (built once, reused), over the last full month of data (EffectiveCost, USD):
one dimension from the ``daily`` rollup, two dimensions (team x service category, rollup), a raw tag
key (``tag:<key>``: the Tags JSON of the billing rows), the tag keys themselves (from ``tag_map``),
and the calendar-aligned movers. The baseline reads the Parquet rows with Polars and groups the
same tag key. Printed side by side: finops_core cold (first call on a new connection) and warm
(median of repeats), baseline warm.

    .venv/bin/python bench/bench_spend_grouping.py [--rows 500000] [--store /tmp/bench-spend] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from bench.common import cold_and_warm, ensure_demo
from finops_core import drilldown, periods, store
from finops_core.query import CostQuery
from finops_core.schema import C

END = date(2026, 11, 30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--store", type=Path, default=Path("/tmp/bench-spend"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    ensure_demo(args.store, args.rows, 42, END)
    start, end = periods.period_for("last_month", END)
    q = CostQuery(start, end, filters=((C.BillingCurrency, ("USD",)),))
    con = store.connect(args.store)
    key = drilldown.tag_keys(con, q)[0]
    tag = key.removeprefix("tag:")
    files = store.partition_files(args.store)

    def baseline() -> pl.DataFrame:
        rows = pl.scan_parquet(files).filter(
            pl.col(C.ChargePeriodStart).dt.date().is_between(start, end) & (pl.col(C.BillingCurrency) == "USD")
        )
        value = pl.col(C.Tags).str.json_path_match(f"$.{tag}").fill_null("(not set)")
        return rows.group_by(value.alias(key)).agg(pl.col(C.EffectiveCost).sum()).collect()

    cases = {
        "breakdown ServiceCategory (rollup)": lambda c: drilldown.breakdown(c, q, C.ServiceCategory, 8),
        "breakdown2 x_Team x ServiceCategory": lambda c: drilldown.breakdown2(c, q, C.x_Team, C.ServiceCategory, 8),
        f"breakdown {key} (raw rows)": lambda c: drilldown.breakdown(c, q, key, 8),
        "tag_keys (tag_map)": lambda c: drilldown.tag_keys(c, q),
        "movers ServiceCategory (calendar previous)": lambda c: drilldown.movers(c, q, C.ServiceCategory),
    }
    print(f"{args.rows:,} rows, {periods.label(start, end)}; ms")
    print(f"{'question':48} {'cold':>8} {'warm':>8}")
    for name, fn in cases.items():
        fresh = store.connect(args.store)
        cold, _ = cold_and_warm(lambda f=fn, c=fresh: f(c), 1)
        _, warm = cold_and_warm(lambda f=fn: f(con), args.repeat)
        fresh.close()
        print(f"{name:48} {cold:8.1f} {warm:8.1f}")
    cold, warm = cold_and_warm(baseline, args.repeat)
    print(f"{'baseline: Polars scan + group by ' + key:48} {cold:8.1f} {warm:8.1f}")


if __name__ == "__main__":
    main()
