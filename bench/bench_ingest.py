"""Ingest throughput and peak memory for an AWS CUR file, against DuckDB's floor.

Builds a CUR from the seeded demo (every demo row recast as a CUR line item: legacy CSV names
with ``resourceTags/user:*`` columns, and CUR 2.0 Parquet with snake_case names and a
``resource_tags`` map), replicating the demo's rows to the requested size. Then, each in its own
child process reporting its own peak RSS, side by side:

- floor: DuckDB reads the file and writes it to zstd Parquet, no normalization;
- stage: our ingest of the file (detect, map to FOCUS, check every value, write one Parquet file
  per billing period and account, totals and currency checks) - the part comparable to the floor;
- ingest: the whole ``ingest()`` into an empty store, including the publish's rollups.

Target: stage within 2x of the floor; peak RSS < 2 GB.

    .venv/bin/python bench/bench_ingest.py [--rows 10000000] [--base-rows 500000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path(__file__).resolve().parent / "out" / "ingest"
TAGS = ("team", "env", "product", "owner")


def _demo_parquet(base_rows: int) -> Path:
    """The seeded demo's FOCUS rows in one Parquet file (cached)."""
    import polars as pl

    from finops_core.demo.generator import DemoConfig, DemoTruth, generate

    path = OUT / f"demo-{base_rows}.parquet"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        cfg = DemoConfig(seed=42, end=date(2026, 10, 15), rows=base_rows)
        pl.concat([f for _, _, f in generate(cfg, DemoTruth())]).write_parquet(path)
    return path


def _cur_select(base: Path, rows: int, legacy: bool, spread: bool) -> str:
    """SQL recasting the demo rows (replicated to ``rows``) as CUR line items.

    By default the file is what AWS delivers: one payer account's one billing period (the demo's
    days are folded into September 2026). With ``spread`` it keeps the demo's 13 months and its
    billing accounts, so ingest must split it into one file per (period, account).
    """
    n = f"(SELECT count(*) FROM read_parquet('{base}'))"
    lt = (
        "CASE ChargeCategory WHEN 'Purchase' THEN 'Fee' WHEN 'Tax' THEN 'Tax' WHEN 'Credit' THEN 'Credit' "
        "ELSE (CASE WHEN CommitmentDiscountStatus = 'Used' AND CommitmentDiscountCategory = 'Spend' "
        "THEN 'SavingsPlanCoveredUsage' WHEN CommitmentDiscountStatus = 'Used' THEN 'DiscountedUsage' "
        "ELSE 'Usage' END) END"
    )
    iso = "'%Y-%m-%dT%H:%M:%S.000Z'"
    fold = "TIMESTAMPTZ '2026-09-01' + to_days(CAST(date_diff('day', TIMESTAMPTZ '2020-01-01', {c}) % 30 AS INTEGER))"
    start = "ChargePeriodStart" if spread else fold.format(c="ChargePeriodStart")
    end = "ChargePeriodEnd" if spread else f"{start} + INTERVAL 1 DAY"
    bp_start = "BillingPeriodStart" if spread else "TIMESTAMPTZ '2026-09-01'"
    bp_end = "BillingPeriodEnd" if spread else "TIMESTAMPTZ '2026-10-01'"
    payer = "lpad(CAST(hash(BillingAccountId) % 1000000000000 AS VARCHAR), 12, '0')" if spread else "'111122223333'"
    cols: dict[str, tuple[str, str]] = {  # legacy name -> (CUR 2.0 name, expression)
        "identity/LineItemId": ("identity_line_item_id", "md5(CAST(k AS VARCHAR) || '-' || CAST(i AS VARCHAR))"),
        "bill/BillType": ("bill_bill_type", "'Anniversary'"),
        "bill/InvoicingEntity": ("bill_invoicing_entity", "'Amazon Web Services, Inc.'"),
        "bill/PayerAccountId": ("bill_payer_account_id", payer),
        "bill/BillingPeriodStartDate": ("bill_billing_period_start_date", f"strftime({bp_start}, {iso})"),
        "bill/BillingPeriodEndDate": ("bill_billing_period_end_date", f"strftime({bp_end}, {iso})"),
        "bill/InvoiceId": ("bill_invoice_id", "InvoiceId"),
        "lineItem/UsageAccountId": (
            "line_item_usage_account_id",
            "lpad(CAST(hash(SubAccountId) % 1000000000000 AS VARCHAR), 12, '0')",
        ),
        "lineItem/LineItemType": ("line_item_line_item_type", lt),
        "lineItem/UsageStartDate": ("line_item_usage_start_date", f"strftime({start}, {iso})"),
        "lineItem/UsageEndDate": ("line_item_usage_end_date", f"strftime({end}, {iso})"),
        "lineItem/ProductCode": ("line_item_product_code", "replace(ServiceName, ' ', '')"),
        "lineItem/UsageType": ("line_item_usage_type", "SkuMeter"),
        "lineItem/Operation": ("line_item_operation", "'RunInstances'"),
        "lineItem/AvailabilityZone": ("line_item_availability_zone", "AvailabilityZone"),
        "lineItem/ResourceId": (
            "line_item_resource_id",
            "ResourceId || CASE WHEN k > 0 THEN '-' || CAST(k AS VARCHAR) ELSE '' END",
        ),
        "lineItem/UsageAmount": ("line_item_usage_amount", "coalesce(PricingQuantity, 1)"),
        "lineItem/CurrencyCode": ("line_item_currency_code", "BillingCurrency" if spread else "'USD'"),
        "lineItem/UnblendedRate": (
            "line_item_unblended_rate",
            "CASE WHEN NOT isnan(ContractedUnitPrice) THEN ContractedUnitPrice END",
        ),
        "lineItem/UnblendedCost": (
            "line_item_unblended_cost",
            "CASE WHEN CommitmentDiscountStatus = 'Used' AND CommitmentDiscountCategory = 'Usage' THEN 0 ELSE BilledCost END",
        ),
        "lineItem/LineItemDescription": ("line_item_line_item_description", "ChargeDescription"),
        "lineItem/LegalEntity": ("line_item_legal_entity", "'Amazon Web Services, Inc.'"),
        "product/ProductName": ("product_product_name", "ServiceName"),
        "product/location": ("product_location", "RegionName"),
        "product/productFamily": ("product_product_family", "ResourceType"),
        "product/regionCode": ("product_region_code", "RegionId"),
        "product/sku": ("product_sku", "SkuId"),
        "pricing/RateCode": ("pricing_rate_code", "SkuPriceId"),
        "pricing/publicOnDemandCost": ("pricing_public_on_demand_cost", "ListCost"),
        "pricing/publicOnDemandRate": (
            "pricing_public_on_demand_rate",
            "CASE WHEN NOT isnan(ListUnitPrice) THEN ListUnitPrice END",
        ),
        "pricing/term": ("pricing_term", "CASE WHEN PricingCategory = 'Dynamic' THEN 'Spot' ELSE 'OnDemand' END"),
        "pricing/unit": ("pricing_unit", "PricingUnit"),
        "reservation/EffectiveCost": (
            "reservation_effective_cost",
            "CASE WHEN CommitmentDiscountCategory = 'Usage' THEN EffectiveCost END",
        ),
        "reservation/ReservationARN": (
            "reservation_reservation_a_r_n",
            "CASE WHEN CommitmentDiscountCategory = 'Usage' THEN CommitmentDiscountId END",
        ),
        "savingsPlan/SavingsPlanARN": (
            "savings_plan_savings_plan_a_r_n",
            "CASE WHEN CommitmentDiscountCategory = 'Spend' THEN CommitmentDiscountId END",
        ),
        "savingsPlan/SavingsPlanEffectiveCost": (
            "savings_plan_savings_plan_effective_cost",
            "CASE WHEN CommitmentDiscountCategory = 'Spend' THEN EffectiveCost END",
        ),
    }
    if not legacy:  # Data Exports Parquet types its dates as timestamps
        cols = {k: (c, e.replace(f", {iso})", ")").replace("strftime(", "(")) for k, (c, e) in cols.items()}
    exprs = [f'{e} AS "{legacy_name if legacy else cur2}"' for legacy_name, (cur2, e) in cols.items()]
    if legacy:
        exprs += [f"json_extract_string(Tags, '$.{t}') AS \"resourceTags/user:{t}\"" for t in TAGS]
    else:
        pairs = ", ".join(f"'user_{t}': json_extract_string(Tags, '$.{t}')" for t in TAGS)
        exprs.append(
            f"map_from_entries(list_filter(map_entries(MAP {{{pairs}}}), lambda e: e.value IS NOT NULL)) AS resource_tags"
        )
    return (
        f"SELECT {', '.join(exprs)} FROM (SELECT row_number() OVER () AS i, * FROM read_parquet('{base}')), "
        f"range(CAST(ceil({rows} / {n}) AS BIGINT)) t(k) LIMIT {rows}"
    )


def build_inputs(rows: int, base_rows: int, spread: bool) -> tuple[Path, Path]:
    import duckdb

    base = _demo_parquet(base_rows)
    tag = f"{rows}{'-spread' if spread else ''}"
    csv_path, pq_path = OUT / f"cur-legacy-{tag}.csv", OUT / f"cur2-{tag}.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    if not csv_path.exists():
        con.execute(f"COPY ({_cur_select(base, rows, True, spread)}) TO '{csv_path}' (FORMAT csv, HEADER)")
    if not pq_path.exists():
        con.execute(
            f"COPY ({_cur_select(base, rows, False, spread)}) TO '{pq_path}' (FORMAT parquet, COMPRESSION zstd)"
        )
    con.close()
    return csv_path, pq_path


def _child(mode: str, path: Path, work: Path) -> dict[str, Any]:
    import duckdb

    from finops_core.ingest import ingest, plan
    from finops_core.ingest.pipeline import stage

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()  # after the imports: the floor does not pay for ours
    out_rows: int
    if mode == "floor":
        con = duckdb.connect()
        reader = f"read_parquet('{path}')" if path.suffix == ".parquet" else f"read_csv('{path}')"
        out_rows = con.execute(
            f"COPY (SELECT * FROM {reader}) TO '{work / 'floor.parquet'}' (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()[0]  # type: ignore[index]
        con.close()
    elif mode == "stage":
        staged = stage(plan([path])[0], work / "staging", work / "tmp")
        out_rows = staged.rows
    else:
        out_rows = ingest([path], work / "store").inputs[0].rows
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(work, ignore_errors=True)
    return {"mode": mode, "seconds": seconds, "rows": out_rows, "peak_rss_mb": rss_mb}


def run(mode: str, path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--base-rows", type=int, default=500_000)
    p.add_argument("--modes", default="floor,stage,ingest")
    p.add_argument("--spread", action="store_true", help="13 billing periods x the demo's accounts in one file")
    p.add_argument("--keep", action="store_true", help="keep the generated CUR files in bench/out/ingest")
    p.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        mode, path = args.child
        print(json.dumps(_child(mode, Path(path), OUT / f"work-{mode}")))
        return
    t0 = time.perf_counter()
    csv_path, pq_path = build_inputs(args.rows, args.base_rows, args.spread)
    print(
        f"inputs built in {time.perf_counter() - t0:.0f} s: {csv_path.name} {csv_path.stat().st_size / 1e9:.2f} GB, "
        f"{pq_path.name} {pq_path.stat().st_size / 1e9:.2f} GB"
    )
    print(f"{'file':32s} {'mode':7s} {'rows':>11s} {'seconds':>8s} {'rows/s':>10s} {'x floor':>8s} {'peak RSS':>9s}")
    for path in (csv_path, pq_path):
        floor = None
        for mode in args.modes.split(","):
            r = run(mode, path)
            floor = r["seconds"] if mode == "floor" else floor
            ratio = f"{r['seconds'] / floor:.2f}" if floor else "-"
            print(
                f"{path.name:32s} {mode:7s} {r['rows']:11,d} {r['seconds']:8.1f} {r['rows'] / r['seconds']:10,.0f} "
                f"{ratio:>8s} {r['peak_rss_mb']:7.0f} MB",
                flush=True,
            )
    if not args.keep:
        csv_path.unlink()
        pq_path.unlink()


if __name__ == "__main__":
    main()
