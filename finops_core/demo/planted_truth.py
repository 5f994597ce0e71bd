"""The demo's planted-anomaly truth files: ``anomalies_truth.csv`` and ``anomalies_footprint.csv``
(``docs/demo-data.md`` documents every column)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from finops_core.demo.catalog import BA_BY_ID, SUB_ACCOUNTS
from finops_core.demo.generator import DemoConfig, DemoTruth
from finops_core.demo.planted import ANOMALIES


def anomalies_truth(cfg: DemoConfig, truth: DemoTruth) -> pl.DataFrame:
    """One row per planted anomaly: its scope (service: sub account x service; team; total: every
    resource in one currency), relative size and band (see ``planted.py``) and the exact cost added."""
    rows = []
    for a in ANOMALIES:
        sub = next((s for s in SUB_ACCOUNTS if s.name == a.sub_account), None)
        first = cfg.start + timedelta(days=cfg.n_days - a.start)
        added = sum(v for (aid, _, _), v in truth.planted.added.items() if aid == a.id)
        rows.append(
            {
                "anomaly_id": a.id,
                "kind": a.kind,
                "scope": a.scope,
                "team": a.team or (sub.team or "" if sub else ""),
                "provider": BA_BY_ID[sub.billing_account].provider if sub else "",
                "sub_account_id": sub.id if sub else "",
                "sub_account_name": a.sub_account,
                "service_name": a.service,
                "start": f"{first}",
                "end": f"{min(first + timedelta(days=a.days - 1), cfg.end)}",
                "peak_factor": a.factor,
                "ramp_days": a.ramp,
                "size": round(a.size, 4),
                "band": a.band,
                "impact": round(added, 2),
                "currency": BA_BY_ID[sub.billing_account].currency if sub else a.currency,
            }
        )
    return pl.DataFrame(rows)


def anomalies_footprint(truth: DemoTruth) -> pl.DataFrame:
    """Cost each planted anomaly added per (sub account, service) it touched: a team or total
    anomaly spreads over many; the bench uses it to judge detections at every scope."""
    by_name = {s.name: s for s in SUB_ACCOUNTS}
    rows = [
        {
            "anomaly_id": aid,
            "sub_account_id": by_name[sub].id,
            "sub_account_name": sub,
            "service_name": svc,
            "currency": BA_BY_ID[by_name[sub].billing_account].currency,
            "impact": round(added, 4),
        }
        for (aid, sub, svc), added in sorted(truth.planted.added.items())
    ]
    schema = {"anomaly_id": pl.String, "sub_account_id": pl.String, "sub_account_name": pl.String}
    return pl.DataFrame(rows, schema={**schema, "service_name": pl.String, "currency": pl.String, "impact": pl.Float64})
