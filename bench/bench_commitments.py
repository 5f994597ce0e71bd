"""The Commitments page's first-load calls (and the Overview's expirations) through the rows and
through the commitment x day table built at publish, beside a raw DuckDB scan of the same Parquet.

The calls are those views/commitments.py makes for the default selection (month to date, the
largest currency, every row: an admin), in page order, each once (ui/cache.py answers repeats):
tiles, trends, expirations, coverage by service, sizing for the first provider. Per call and path
(``live``: ``stored=False``, the queries over the rows; ``table``: the stored table; ``raw``: one
DuckDB SQL over ``read_parquet`` of the version's files answering the same question without
allocation): cold = the first call on a new ``store.connect()`` (a new DuckDB connection) in a new
process (the OS page cache cannot be dropped); warm = the median of the next ``--repeat`` calls.
With ``--build``: the time to build the table alone (into a copy of the version's rollups).

    .venv/bin/python bench/bench_commitments.py --store DIR [--repeat 5] [--build]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb

from bench.common import cold_and_warm
from finops_core import commitment_days, db, rollups, store
from finops_core import commitments as cm
from finops_core.query import CostQuery
from finops_core.schema import C

PATHS = ("live", "table", "raw")
Call = Callable[[duckdb.DuckDBPyConnection, bool], object]


def _selection(con: duckdb.DuckDBPyConnection) -> tuple[CostQuery, str]:
    end = db.rows(con, f"SELECT max({C.x_ChargeDate}) FROM daily")[0][0]
    currency = db.rows(
        con, f"SELECT {C.BillingCurrency} FROM daily GROUP BY 1 ORDER BY sum({C.EffectiveCost}) DESC LIMIT 1"
    )[0][0]
    return CostQuery(end.replace(day=1), end, filters=((C.BillingCurrency, (currency,)),)), currency


def _ts(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def calls(con: duckdb.DuckDBPyConnection, root: Path) -> list[tuple[str, Call, str, list[object]]]:
    """(name, call(con, stored), raw SQL with ``{rows}`` for the Parquet, its params), in page order."""
    q, cur = _selection(con)
    year = replace(q, start=q.end - timedelta(days=364), grain="month")
    inv = root / "demo" / "commitments.csv"
    inventory = str(inv) if inv.exists() else None
    provider = cm.commitment_utilization(con, q)[C.ProviderName].unique().sort()[0]
    pq = q.with_filter(C.ProviderName, (provider,))
    sizing = replace(q, start=q.end - timedelta(days=29)).with_filter(C.ProviderName, (provider,))
    overview = replace(q, start=q.end - timedelta(days=29))
    services = cm.eligible_services(con, q)
    marks = ", ".join("?" for _ in services)
    period = f"{C.ChargePeriodStart} >= ? AND {C.ChargePeriodStart} < ? AND {C.BillingCurrency} = ?"

    def span(a: date, b: date) -> list[object]:
        return [_ts(a), _ts(b + timedelta(days=1)), cur]

    eligible = f"{C.ChargeCategory} = 'Usage' AND {C.ServiceName} IN ({marks}) AND {C.PricingCategory} IN ('Standard', 'Committed')"
    cover = (
        f"sum({C.ContractedCost}) FILTER (WHERE {C.CommitmentDiscountStatus} = 'Used'), "
        f"sum({C.ContractedCost}) FILTER (WHERE coalesce({C.CommitmentDiscountStatus}, '') <> 'Unused')"
    )
    util = (
        f"sum({C.EffectiveCost}) FILTER (WHERE {C.CommitmentDiscountStatus} = 'Used'), "
        f"sum({C.EffectiveCost}) FILTER (WHERE {C.CommitmentDiscountStatus} = 'Unused')"
    )
    commit_usage = f"{C.ChargeCategory} = 'Usage' AND {C.CommitmentDiscountId} IS NOT NULL"
    month = f"date_trunc('month', CAST({C.ChargePeriodStart} AS DATE))"
    return [
        (
            "utilization (tiles, sizing)",
            lambda c, s: cm.commitment_utilization(c, q, stored=s),
            f"SELECT {C.CommitmentDiscountId}, {util} FROM {{rows}} WHERE {period} AND {commit_usage} GROUP BY 1",
            span(q.start, q.end),
        ),
        (
            "coverage",
            lambda c, s: cm.commitment_coverage(c, q, stored=s),
            f"SELECT {cover} FROM {{rows}} WHERE {period} AND {eligible}",
            [*span(q.start, q.end), *services],
        ),
        (
            "effective savings rate",
            lambda c, s: cm.effective_savings_rate(c, q, stored=s),
            f"SELECT sum({C.ListCost}), sum({C.ContractedCost}), sum({C.EffectiveCost}) FROM {{rows}} "
            f"WHERE {period} AND {C.ChargeCategory} = 'Usage' AND (({C.ServiceName} IN ({marks}) "
            f"AND {C.PricingCategory} IN ('Standard', 'Committed')) OR {C.CommitmentDiscountStatus} = 'Unused')",
            [*span(q.start, q.end), *services],
        ),
        (
            "utilization by type, 12 months",
            lambda c, s: cm.utilization_by_type(c, year, stored=s),
            f"SELECT {month}, {C.ProviderName}, {C.CommitmentDiscountType}, {util} FROM {{rows}} "
            f"WHERE {period} AND {commit_usage} GROUP BY ALL",
            span(year.start, year.end),
        ),
        (
            "coverage trend, 12 months",
            lambda c, s: cm.coverage_trend(c, year, stored=s),
            f"SELECT {month}, {cover} FROM {{rows}} WHERE {period} AND {eligible} GROUP BY 1",
            [*span(year.start, year.end), *services],
        ),
        (
            "expirations",
            lambda c, s: cm.expirations_from_file(c, q, inventory, stored=s),
            f"SELECT {C.CommitmentDiscountId}, min({C.ChargePeriodStart}), max({C.ChargePeriodEnd}) FILTER "
            f"(WHERE {C.ChargeFrequency} = 'One-Time'), {util} FROM {{rows}} WHERE {C.CommitmentDiscountId} "
            f"IS NOT NULL AND {C.ChargePeriodStart} < ? AND {C.BillingCurrency} = ? GROUP BY 1",
            [_ts(q.end + timedelta(days=1)), cur],
        ),
        (
            "coverage by service",
            lambda c, s: cm.commitment_coverage(c, q, C.ServiceName, stored=s),
            f"SELECT {C.ServiceName}, {cover} FROM {{rows}} WHERE {period} AND {eligible} GROUP BY 1",
            [*span(q.start, q.end), *services],
        ),
        (
            "eligible services (sizing)",
            lambda c, s: cm.eligible_services(c, pq, stored=s),
            f"SELECT DISTINCT {C.ServiceName} FROM {{rows}} WHERE {C.CommitmentDiscountStatus} IN ('Used', 'Unused')",
            [],
        ),
        (
            "coverage by service, provider (sizing)",
            lambda c, s: cm.commitment_coverage(c, pq, C.ServiceName, stored=s),
            f"SELECT {C.ServiceName}, {cover} FROM {{rows}} WHERE {period} AND {eligible} "
            f"AND {C.ProviderName} = ? GROUP BY 1",
            [*span(q.start, q.end), *services, provider],
        ),
        (
            "purchase sizing",
            lambda c, s: cm.purchase_sizing(c, sizing, stored=s),
            f"SELECT CAST({C.ChargePeriodStart} AS DATE), sum({C.ContractedCost}) FROM {{rows}} WHERE {period} "
            f"AND {eligible} AND {C.PricingCategory} = 'Standard' AND {C.ProviderName} = ? GROUP BY 1",
            [*span(sizing.start, sizing.end), *services, provider],
        ),
        (
            "Overview: expirations, 30 days",
            lambda c, s: cm.expirations_from_file(c, overview, inventory, stored=s),
            f"SELECT {C.CommitmentDiscountId}, min({C.ChargePeriodStart}), max({C.ChargePeriodEnd}) FILTER "
            f"(WHERE {C.ChargeFrequency} = 'One-Time'), {util} FROM {{rows}} WHERE {C.CommitmentDiscountId} "
            f"IS NOT NULL AND {C.ChargePeriodStart} < ? AND {C.BillingCurrency} = ? GROUP BY 1",
            [_ts(q.end + timedelta(days=1)), cur],
        ),
    ]


def child(root: Path, path: str, index: int, repeat: int) -> dict[str, float]:
    """One call on one path in this (new) process: cold, then the warm median."""
    setup = store.connect(root)
    _, call, sql, params = calls(setup, root)[index]
    setup.close()
    if path == "raw":
        rows = rollups.parquet_source(store.partition_files(root))
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        fn: Callable[[], object] = lambda: db.rows(con, sql.format(rows=rows), params)  # noqa: E731
        cold, warm = cold_and_warm(fn, repeat)
    else:
        con = store.connect(root)
        if path == "table":
            assert commitment_days.available(con), f"{root}: no commitment table (run rebuild)"
        cold, warm = cold_and_warm(lambda: call(con, path == "table"), repeat)
    return {"cold": cold, "warm": warm}


def build_time(root: Path) -> float:
    """Seconds to build the table alone, into a copy of the current version's rollups."""
    vdir = store.version_dir(root)
    with tempfile.TemporaryDirectory(dir=vdir.parent.parent) as tmp:
        db_path = Path(tmp) / "rollups.duckdb"
        shutil.copy(vdir / "rollups.duckdb", db_path)
        con = duckdb.connect(str(db_path))
        for name in (commitment_days.TABLE, commitment_days.SERVICES):
            con.execute(f"DROP TABLE IF EXISTS {name}")
        con.close()
        started = time.perf_counter()
        commitment_days.build(db_path, store.partition_files(root))
        return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("PATH", "INDEX"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.store, args.child[0], int(args.child[1]), args.repeat)))
        return
    con = store.connect(args.store)
    rows = sum(int(i["rows"]) for i in store.manifest(args.store)["partitions"].values())
    table_rows = db.rows(con, f"SELECT count(*) FROM r.{commitment_days.TABLE}")[0][0]
    names = [c[0] for c in calls(con, args.store)]
    con.close()
    results: dict[tuple[str, str], dict[str, float]] = {}
    for i, _ in enumerate(names):
        for path in PATHS:
            cmd = [sys.executable, __file__, "--store", str(args.store), "--repeat", str(args.repeat)]
            out = subprocess.run([*cmd, "--child", path, str(i)], check=True, capture_output=True, text=True)
            results[(names[i], path)] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{rows:,} rows; commitment_daily {table_rows:,} rows; ms, cold / warm median of {args.repeat}")
    header = (
        f"{'call':42s}" + "".join(f"{p + ' cold':>12s}{p + ' warm':>12s}" for p in PATHS) + f"{'live/table cold':>17s}"
    )
    print(header)
    totals: dict[str, list[float]] = {p: [0.0, 0.0] for p in PATHS}
    for name in names:
        line = f"{name:42s}"
        for p in PATHS:
            r = results[(name, p)]
            line += f"{r['cold']:12.0f}{r['warm']:12.1f}"
            if not name.startswith("Overview"):
                totals[p][0] += r["cold"]
                totals[p][1] += r["warm"]
        ratio = results[(name, "live")]["cold"] / max(results[(name, "table")]["cold"], 1e-9)
        print(line + f"{ratio:16.1f}x")
    line = f"{'Commitments page first load (sum)':42s}"
    for p in PATHS:
        line += f"{totals[p][0]:12.0f}{totals[p][1]:12.1f}"
    print(line + f"{totals['live'][0] / max(totals['table'][0], 1e-9):16.1f}x")
    if args.build:
        print(f"table build alone: {build_time(args.store):.1f} s")


if __name__ == "__main__":
    main()
