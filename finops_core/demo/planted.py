"""Anomalies planted in the demo: spikes and slow leaks at service, team and total scope.

Every anomaly is sized relative to its scope's own daily cost, so it means the same on every
store: a spike of factor 1.2 adds 20 % of that day's usage cost of its scope (one sub account x
service, one team's resources, or every resource billed in one currency); a leak ramps linearly up
to ``factor`` over ``ramp`` days (``(factor - 1) / ramp x 7`` per week) and stays there until it
ends. Planting runs after commitment coverage on the rows no commitment covers, scaled up so the
added cost is the stated share of the whole scope's cost (covered rows keep their figures, so the
commitment truths are untouched). The generator records the exact cost added per (anomaly, sub
account, service), from the very rows written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Anomaly:
    id: str
    kind: str  # spike | leak
    scope: str  # service | team | total
    start: int  # days before the end date (the first affected day is end - start)
    days: int
    factor: float  # peak multiplier of the scope's daily cost
    ramp: int = 0  # leaks: days to reach ``factor``
    sub_account: str = ""  # service scope: SubAccountName
    service: str = ""  # service scope
    team: str = ""  # team scope: the team owning the resources
    currency: str = "USD"  # total scope: the billing currency whose every resource moves

    @property
    def size(self) -> float:
        """Relative size: a spike's extra share of daily cost; a leak's growth per week."""
        return self.factor - 1.0 if self.kind == "spike" else (self.factor - 1.0) * 7 / max(self.ramp, 1)

    @property
    def band(self) -> str:
        """small: spikes under +50 %, leaks under +30 %/week; large: spikes from 2.5x, leaks from
        +75 %/week; medium between."""
        small, large = (0.5, 1.5) if self.kind == "spike" else (0.3, 0.75)
        return "small" if self.size < small else "large" if self.size >= large else "medium"


def _svc(i: str, kind: str, sub: str, service: str, start: int, days: int, factor: float, ramp: int = 0) -> Anomaly:
    return Anomaly(i, kind, "service", start, days, factor, ramp, sub_account=sub, service=service)


ANOMALIES: tuple[Anomaly, ...] = (
    _svc("ANOM-01", "spike", "payments-prod", "AWS Lambda", 200, 2, 6.0),
    _svc("ANOM-02", "spike", "checkout-prod", "Amazon CloudFront", 150, 1, 5.0),
    _svc("ANOM-03", "leak", "data-lake-prod", "Amazon CloudWatch", 120, 35, 4.0, ramp=21),
    _svc("ANOM-04", "spike", "ml-training", "Amazon Bedrock", 60, 3, 8.0),
    _svc("ANOM-05", "leak", "acme-analytics-prod", "BigQuery", 45, 45, 3.0, ramp=14),
    _svc("ANOM-06", "spike", "mobile-backend-prod", "Bandwidth", 30, 2, 7.0),
    _svc("ANOM-07", "spike", "network-hub", "Amazon VPC NAT Gateway", 20, 1, 5.0),
    _svc("ANOM-08", "leak", "identity-prod", "Amazon DynamoDB", 75, 20, 2.5, ramp=10),
    _svc("ANOM-09", "spike", "acme-web-edge", "Networking", 10, 1, 6.0),
    _svc("ANOM-10", "spike", "ACME_PROD", "Snowflake Virtual Warehouses", 130, 2, 4.0),
    _svc("ANOM-11", "spike", "ml-openai", "Azure OpenAI", 170, 2, 5.0),
    _svc("ANOM-12", "leak", "search-prod", "Amazon CloudWatch", 230, 30, 3.5, ramp=18),
    _svc("ANOM-13", "spike", "acme-analytics-prod", "Cloud Storage", 95, 1, 1.2),
    _svc("ANOM-14", "spike", "acme-gke-shared", "Kubernetes Engine", 140, 1, 1.25),
    _svc("ANOM-15", "spike", "azure-shared-services", "Azure Monitor", 185, 2, 1.5),
    _svc("ANOM-16", "spike", "web-prod", "Amazon CloudFront", 215, 1, 1.3),
    _svc("ANOM-17", "spike", "data-lake-prod", "AWS Glue", 160, 1, 2.0),
    _svc("ANOM-18", "leak", "ml-training", "Amazon SageMaker", 110, 42, 1.9, ramp=42),
    _svc("ANOM-19", "leak", "search-prod", "Amazon Bedrock", 100, 35, 2.0, ramp=35),
    _svc("ANOM-20", "leak", "mobile-backend-prod", "Azure SQL Database", 270, 28, 2.0, ramp=28),
    _svc("ANOM-21", "leak", "catalog-prod", "Amazon Simple Queue Service", 330, 28, 3.0, ramp=28),
    Anomaly("ANOM-22", "spike", "team", 255, 1, 1.2, team="checkout"),
    Anomaly("ANOM-23", "spike", "team", 290, 2, 1.35, team="search"),
    Anomaly("ANOM-24", "spike", "team", 310, 1, 1.6, team="mobile"),
    Anomaly("ANOM-25", "spike", "team", 235, 1, 1.25, team="data-platform"),
    Anomaly("ANOM-26", "leak", "team", 440, 42, 1.9, ramp=42, team="identity"),
    Anomaly("ANOM-27", "spike", "total", 345, 1, 1.2),
    Anomaly("ANOM-28", "spike", "total", 380, 1, 1.4),
    Anomaly("ANOM-29", "leak", "total", 520, 42, 1.9, ramp=42),
)


def service_scopes() -> set[tuple[str, str]]:
    """(SubAccountName, ServiceName) of the service-scope anomalies: kept out of commitment coverage."""
    return {(a.sub_account, a.service) for a in ANOMALIES if a.scope == "service"}


@dataclass
class PlantedTruth:
    """Cost each anomaly added, per (anomaly id, SubAccountName, ServiceName), from the rows written."""

    added: dict[tuple[str, str, str], float] = field(default_factory=dict)
    days: dict[str, set[int]] = field(default_factory=dict)


def multiplier(a: Anomaly, day: np.ndarray, n_days: int) -> np.ndarray:
    """The scope's cost multiplier on each day offset in ``day`` (1.0 outside the anomaly)."""
    rel = day - (n_days - a.start)
    inside = (rel >= 0) & (rel < a.days)
    if a.kind == "spike":
        return np.where(inside, a.factor, 1.0)
    ramp = np.clip((rel + 1) / max(a.ramp, 1), 0.0, 1.0)
    return np.where(inside, 1.0 + (a.factor - 1.0) * ramp, 1.0)


def _in_scope(a: Anomaly, attrs: pl.DataFrame) -> np.ndarray:
    if a.scope == "service":
        mask = (attrs["sub_account_name"] == a.sub_account) & (attrs["service"] == a.service)
    elif a.scope == "team":
        mask = attrs["team"] == a.team
    else:
        mask = attrs["currency"] == a.currency
    return mask.fill_null(False).to_numpy()


def plant(fact: pl.DataFrame, res: pl.DataFrame, n_days: int, truth: PlantedTruth) -> pl.DataFrame:
    """Scale the uncovered usage of each anomaly's scope so each day gains (multiplier - 1) x the
    scope's usage cost that day; record the cost added."""
    attrs = fact.select("res_idx").join(
        res.select("res_idx", "sub_account_name", "service", "team", "currency"), on="res_idx", how="left"
    )
    day = fact["day"].to_numpy()
    cols = ("qty", "list_cost", "contracted_cost", "billed", "effective")
    values = {c: fact[c].to_numpy().astype(np.float64).copy() for c in cols}
    free = fact["cd_idx"].to_numpy() < 0
    first = int(day.min()) if len(day) else 0
    for a in ANOMALIES:
        sel = _in_scope(a, attrs)
        mult = multiplier(a, day, n_days)
        hit = sel & (mult != 1.0)
        if not hit.any():
            continue
        # per day: the whole scope's cost and the part no commitment covers (the part that can grow)
        scope_cost = np.bincount(day[hit] - first, weights=values["effective"][hit])
        free_cost = np.bincount(day[hit & free] - first, weights=values["effective"][hit & free])
        free_cost = np.pad(free_cost, (0, len(scope_cost) - len(free_cost)))
        grow = hit & free
        rel = day[grow] - first
        scale = 1.0 + (mult[grow] - 1.0) * scope_cost[rel] / np.maximum(free_cost[rel], 1e-12)
        before = values["effective"][grow].copy()
        for c in cols:
            values[c][grow] *= scale
        _record(truth, a.id, attrs.filter(pl.Series(grow)), values["effective"][grow] - before, day[grow])
    return fact.with_columns([pl.Series(c, values[c]) for c in cols])


def _record(truth: PlantedTruth, aid: str, attrs: pl.DataFrame, delta: np.ndarray, day: np.ndarray) -> None:
    per = (
        attrs.select("sub_account_name", "service")
        .with_columns(pl.Series("delta", delta))
        .group_by("sub_account_name", "service")
        .agg(pl.col("delta").sum())
    )
    for sub, svc, added in per.iter_rows():
        key = (aid, sub, svc)
        truth.added[key] = truth.added.get(key, 0.0) + float(added)
    truth.days.setdefault(aid, set()).update(int(d) for d in np.unique(day))
