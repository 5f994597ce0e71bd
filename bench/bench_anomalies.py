"""Precision and recall of anomaly detection on the demo's planted ground truth, per anomaly type.

Builds (or reuses) a demo store, runs ``finops_core.anomalies.detect`` over the whole history and
matches service x sub-account detections to ``demo/anomalies_truth.csv``: a detection matches a
planted anomaly when the scope is the same and the date ranges overlap (two days of slack). A
planted anomaly counts once however many detections match it. Also prints the detection time.
Goal (issue): recall >= 0.9 at precision >= 0.8 for anomalies >= 20 % of the scope's daily cost.

    .venv/bin/python bench/bench_anomalies.py [--store DIR] [--rows N]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from finops_core import anomalies, db, store
from finops_core.demo import DemoConfig, build_demo
from finops_core.query import CostQuery
from finops_core.schema import C


def evaluate(root: Path) -> pl.DataFrame:
    con = store.connect(root)
    first, last = db.rows(con, f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    started = time.perf_counter()
    found = anomalies.detect(con, CostQuery(first, last))
    print(
        f"detection over {(last - first).days + 1} days, all scopes: {time.perf_counter() - started:.2f} s; "
        f"{found.height} anomalies ({found.group_by('scope').len().sort('scope').rows()})"
    )
    truth = pl.read_csv(
        root / "demo" / "anomalies_truth.csv", schema_overrides={"sub_account_id": pl.String}, try_parse_dates=True
    )
    det = found.filter(pl.col("scope") == "service")
    slack = timedelta(days=2)
    matched_truth, matched_det = set(), set()
    for t in truth.iter_rows(named=True):
        hits = det.filter(
            (pl.col(C.SubAccountId) == t["sub_account_id"])
            & (pl.col(C.ServiceName) == t["service_name"])
            & (pl.col("start") <= t["end"] + slack)
            & (pl.col("end") >= t["start"] - slack)
        )
        if hits.height:
            matched_truth.add(t["anomaly_id"])
            matched_det.update(hits["id"].to_list())
    rows = []
    for kind in ("spike", "leak"):
        planted = truth.filter(pl.col("kind") == kind)
        detected = det.filter(pl.col("kind") == kind)
        tp_truth = sum(1 for a in planted["anomaly_id"] if a in matched_truth)
        tp_det = sum(1 for i in detected["id"] if i in matched_det)
        rows.append(
            {
                "type": kind,
                "planted": planted.height,
                "found": tp_truth,
                "detections": detected.height,
                "true detections": tp_det,
                "recall": tp_truth / max(planted.height, 1),
                "precision": tp_det / max(detected.height, 1),
            }
        )
    tp = len(matched_truth)
    rows.append(
        {
            "type": "all",
            "planted": truth.height,
            "found": tp,
            "detections": det.height,
            "true detections": len(matched_det),
            "recall": tp / truth.height,
            "precision": len(matched_det) / max(det.height, 1),
        }
    )
    missed = truth.filter(~pl.col("anomaly_id").is_in(list(matched_truth)))
    if missed.height:
        print("missed:", missed.select("anomaly_id", "kind", "sub_account_name", "service_name", "start").rows())
    false = det.filter(~pl.col("id").is_in(list(matched_det)))
    if false.height:
        print("false alarms (service scope):")
        print(false.select("key", "start", "end", "kind", "impact", "peak_ratio").head(20))
    return pl.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="/tmp/finops-bench/anomaly-demo")
    parser.add_argument("--rows", type=int, default=1_500_000)
    args = parser.parse_args()
    root = Path(args.store)
    if store.current_version(root) is None:
        build_demo(root, DemoConfig(seed=42, end=date(2026, 10, 31), rows=args.rows))
    with pl.Config(tbl_rows=30, tbl_width_chars=160):
        print(evaluate(root))


if __name__ == "__main__":
    main()
