"""Precision and recall of anomaly detection on the demo's planted truth, at every scope and size band.

Builds (or reuses) a demo store for ``--seed``/``--end``/``--rows``, runs
``finops_core.anomalies.detect`` over the whole history at every scope (service x sub account, team,
total) and scores what it reports at each scope against the truth at that scope
(``demo/anomalies_truth.csv``, ``demo/anomalies_footprint.csv``):

- **Recall** at a scope: of the anomalies planted at that scope, the share with a detection in
  their own series (the sub account x service, the team, the currency's total) overlapping their
  days (two days of slack before, two after a spike, seven after a leak: the weekly median lags).
  By size band: the same, per band (``finops_core/demo/planted.py``: small = spikes under +50 % and
  leaks under +30 % a week of the scope's daily cost; large = from 2.5x or +75 % a week).
- **Precision** at a scope: the share of detections that overlap a planted anomaly (of any scope)
  whose added cost is **material in the detection's own series**: on its peak day (a leak's top,
  from its ramp) at least 10 % of what that series would have cost on those days without it. So a big service
  anomaly found again in its team's or the total's series counts as true there, a team- or
  total-wide surge found in one of its services counts as true, and anything else is a false alarm.
  A series' share of a planted anomaly is exact for service series (the footprint file); for team
  series it follows each sub account x service's split over teams in those days (shared costs fan out).

    .venv/bin/python bench/bench_anomalies.py [--seed S] [--end YYYY-MM-DD] [--rows N] [--store DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import polars as pl

from finops_core import anomalies, db, store
from finops_core.demo import DemoConfig, build_demo
from finops_core.query import CostQuery
from finops_core.schema import C

MATERIAL = 0.10
DIMS = {scope: [*dims, C.BillingCurrency] for scope, dims in anomalies.SCOPES.items()}


def _usage(con: duckdb.DuckDBPyConnection, group: list[str], where: str = "TRUE") -> pl.DataFrame:
    cols = ", ".join(group)
    return db.frame(
        con,
        f"SELECT {cols}, {C.x_ChargeDate} AS day, sum({C.EffectiveCost}) AS cost FROM daily "
        f"WHERE {C.ChargeFrequency} = 'Usage-Based' AND {C.ChargeCategory} = 'Usage' "
        f"AND {C.CommitmentDiscountStatus} IS DISTINCT FROM 'Unused' AND {where} GROUP BY ALL",
    )


def planted_in_series(con: duckdb.DuckDBPyConnection, truth: pl.DataFrame, foot: pl.DataFrame) -> pl.DataFrame:
    """Per (anomaly, scope, series): the cost it added on its peak day, as a share of what the series
    would have cost on its days without it. One row per (anomaly_id, scope, series dims)."""
    foot = foot.rename({"sub_account_id": C.SubAccountId, "service_name": C.ServiceName, "currency": C.BillingCurrency})
    team_split = _usage(con, [*DIMS["service"], C.x_Team])  # a shared cost once per receiving team
    out = []
    for t in truth.iter_rows(named=True):
        days = (t["end"] - t["start"]).days + 1
        # a leak ramps up to its peak: the average day of it carries this share of the peak day's cost
        ramp = max(int(t["ramp_days"]), 1)
        peak_share = sum(min((i + 1) / ramp, 1.0) for i in range(days)) / days if t["kind"] == "leak" else 1.0
        mine = foot.filter(pl.col("anomaly_id") == t["anomaly_id"]).select(*DIMS["service"], "impact")
        window = team_split.filter(pl.col("day").is_between(t["start"], t["end"]))
        shares = (
            window.group_by(*DIMS["service"], C.x_Team)
            .agg(pl.col("cost").sum())
            .with_columns((pl.col("cost") / pl.col("cost").sum().over(DIMS["service"])).alias("share"))
        )
        per_scope = {
            "service": mine,
            "team": mine.join(shares, on=DIMS["service"])
            .group_by(DIMS["team"])
            .agg((pl.col("impact") * pl.col("share")).sum()),
            "total": mine.group_by(DIMS["total"]).agg(pl.col("impact").sum()),
        }
        for scope, added in per_scope.items():
            # what the series cost on those days without the anomaly: its cost then less what was added
            during = window.group_by(DIMS[scope]).agg(pl.col("cost").sum().alias("during"))
            rel = added.join(during, on=DIMS[scope], how="left").with_columns(
                (pl.col("impact") / peak_share / (pl.col("during") - pl.col("impact"))).alias("relative")
            )
            out.append(rel.with_columns(pl.lit(t["anomaly_id"]).alias("anomaly_id"), pl.lit(scope).alias("scope")))
    return pl.concat(out, how="diagonal_relaxed")


def _windows(truth: pl.DataFrame) -> pl.DataFrame:
    after = pl.when(pl.col("kind") == "leak").then(7).otherwise(2)
    return truth.select(
        "anomaly_id",
        pl.col("scope").alias("planted_scope"),
        "kind",
        "band",
        (pl.col("start") - pl.duration(days=2)).alias("w_start"),
        (pl.col("end") + pl.duration(days=after)).alias("w_end"),
    )


def _match(
    det: pl.DataFrame, truth: pl.DataFrame, planted: pl.DataFrame, scope: str
) -> tuple[set[str], set[str], set[str]]:
    """(ids of true detections, ids of the anomalies planted at ``scope`` that were found, ids of the
    detections explained by a team- or total-wide anomaly)."""
    if not det.height:
        return set(), set(), set()
    dims = DIMS[scope]
    overlap = det.select("id", *dims, "start", "end").join(_windows(truth), how="cross")
    overlap = overlap.filter((pl.col("start") <= pl.col("w_end")) & (pl.col("end") >= pl.col("w_start")))
    material = planted.filter((pl.col("scope") == scope) & (pl.col("relative") >= MATERIAL))
    true = overlap.join(material, on=["anomaly_id", *dims])
    wide = true.filter(pl.col("planted_scope") != "service")
    native = truth.filter(pl.col("scope") == scope)
    own = overlap.join(_native_series(native, scope), on=["anomaly_id", *dims])
    return set(true["id"]), set(own["anomaly_id"]), set(wide["id"])


def score(found: pl.DataFrame, truth: pl.DataFrame, planted: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per scope: detections, true ones, precision, the same without the detections a team- or
    total-wide anomaly explains, planted, found, recall; per scope and band: planted, found, recall)."""
    rows, bands = [], []
    for scope in DIMS:
        det = found.filter(pl.col("scope") == scope) if found.height else pl.DataFrame()
        native = truth.filter(pl.col("scope") == scope)
        true_ids, found_ids, wide_ids = _match(det, truth, planted, scope)
        rest = det.height - len(wide_ids)
        rows.append(
            {
                "scope": scope,
                "detections": det.height,
                "true": len(true_ids),
                "precision": len(true_ids) / det.height if det.height else None,
                "not team/total-wide": rest,
                "precision there": (len(true_ids) - len(wide_ids)) / rest if rest else None,
                "planted": native.height,
                "found": len(found_ids),
                "recall": len(found_ids) / native.height if native.height else None,
            }
        )
        for (band,), part in native.group_by("band"):
            hit = sum(a in found_ids for a in part["anomaly_id"])
            bands.append({"scope": scope, "band": band, "planted": part.height, "found": hit})
        _explain(native, found_ids, det, true_ids, scope)
    by_band = pl.DataFrame(bands)
    total = by_band.group_by("band").agg(pl.lit("all").alias("scope"), pl.col("planted").sum(), pl.col("found").sum())
    by_band = pl.concat([by_band, total.select(by_band.columns)]).with_columns(
        (pl.col("found") / pl.col("planted")).alias("recall")
    )
    return pl.DataFrame(rows), by_band.sort("scope", "band")


def _explain(native: pl.DataFrame, found_ids: set[str], det: pl.DataFrame, true_ids: set[str], scope: str) -> None:
    missed = native.filter(~pl.col("anomaly_id").is_in(list(found_ids)))
    if missed.height:
        print(f"missed at {scope} scope:", missed.select("anomaly_id", "kind", "band", "start").rows())
    false = det.filter(~pl.col("id").is_in(list(true_ids))) if det.height else det
    if false.height:
        print(f"false alarms at {scope} scope:")
        print(false.select("key", "start", "end", "kind", "impact", "peak_ratio"))


def _native_series(native: pl.DataFrame, scope: str) -> pl.DataFrame:
    """The series each anomaly planted at ``scope`` was planted in."""
    names = {"service": {"sub_account_id": C.SubAccountId, "service_name": C.ServiceName}, "team": {"team": C.x_Team}}
    cols = {**names.get(scope, {}), "currency": C.BillingCurrency}
    return native.select("anomaly_id", *[pl.col(a).alias(b) for a, b in cols.items()])


def evaluate(root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    con = store.connect(root)
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    started, cpu = time.perf_counter(), time.process_time()
    found = anomalies.detect(con, CostQuery(first, last))
    print(
        f"detection over {(last - first).days + 1} days, all scopes: {time.perf_counter() - started:.2f} s "
        f"({time.process_time() - cpu:.2f} s CPU, all threads); "
        f"{found.height} anomalies ({found.group_by('scope').len().sort('scope').rows()})"
    )
    folder = root / "demo"
    truth = pl.read_csv(
        folder / "anomalies_truth.csv", schema_overrides={"sub_account_id": pl.String}, try_parse_dates=True
    ).filter(pl.col("impact") > 0)  # a small store may lack an anomaly's resources
    foot = pl.read_csv(folder / "anomalies_footprint.csv", schema_overrides={"sub_account_id": pl.String})
    return score(found, truth, planted_in_series(con, truth, foot))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 10, 31))
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--store", help="default: /tmp/finops-bench/anomalies-s<seed>-<end>")
    args = parser.parse_args()
    root = Path(args.store or f"/tmp/finops-bench/anomalies-s{args.seed}-{args.end}")
    if store.current_version(root) is None:
        build_demo(root, DemoConfig(seed=args.seed, end=args.end, rows=args.rows))
    with pl.Config(tbl_rows=40, tbl_width_chars=160, fmt_str_lengths=60):
        per_scope, by_band = evaluate(root)
        print(per_scope)
        print(by_band)


if __name__ == "__main__":
    main()
