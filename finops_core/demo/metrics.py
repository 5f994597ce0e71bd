"""The demo's business metrics (``demo/metrics.csv``): daily volumes per product, one team and the company.

Volumes grow smoothly (about 25 % a year, like the elastic usage) with a weekly rhythm and a little
noise, scaled so each product's cost per unit starts at a plausible figure: the product's allocated
USD cost over the first three months divided by its nominal unit cost. Insights' AI launch (at 55 %
of the window, ``resources.LAUNCH_SERVICES``) adds cost but no queries, so its cost per query
worsens after the launch; the other products' unit costs stay roughly level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from finops_core.demo.catalog import TEAMS
from finops_core.demo.generator import DemoConfig, DemoTruth, month_starts

GROWTH = 0.25  # a year
NOISE = 0.03


@dataclass(frozen=True)
class DemoMetric:
    metric: str
    product: str
    team: str  # '' = every team of the product (or the company when product is '' too)
    unit_cost: float  # nominal USD per unit at the start of the window
    weekend: float  # volume on Saturdays and Sundays relative to weekdays


METRICS = (
    DemoMetric("transactions", "Payments", "", 0.004, 0.85),
    DemoMetric("orders", "Storefront", "", 0.35, 1.15),
    DemoMetric("queries", "Insights", "", 0.02, 0.6),
    DemoMetric("sessions", "Mobile App", "", 0.003, 1.2),
    DemoMetric("searches", "Storefront", "search", 0.0015, 1.1),
    DemoMetric("active_customers", "", "", 2.5, 1.0),
)


def _base_cost(cfg: DemoConfig, truth: DemoTruth, m: DemoMetric) -> float:
    """Mean daily allocated USD cost of the metric's teams over the window's first three months."""
    first = [f"{d:%Y-%m}" for d in month_starts(cfg)[:3]]
    teams = {t.name for t in TEAMS if (not m.product or t.product == m.product) and (not m.team or t.name == m.team)}
    if not m.product and not m.team:
        teams = {team for team, _, _ in truth.team_month}
    cost = sum(
        v for (team, month, cur), v in truth.team_month.items() if team in teams and month in first and cur == "USD"
    )
    days = (month_starts(cfg)[3] - month_starts(cfg)[0]).days
    return cost / days


def daily_metrics(cfg: DemoConfig, truth: DemoTruth) -> pl.DataFrame:
    """One row per (date, metric): date, metric, value, team, product."""
    rng = np.random.default_rng(cfg.seed + 19)
    days = [cfg.start + timedelta(days=i) for i in range(cfg.n_days)]
    rate = math.log(1 + GROWTH) / 365.25
    rows = []
    for m in METRICS:
        base = _base_cost(cfg, truth, m) / m.unit_cost
        noise = rng.lognormal(0.0, NOISE, len(days))
        for i, day in enumerate(days):
            week = m.weekend if day.weekday() >= 5 else 1.0
            value = round(base * math.exp(rate * i) * week * noise[i])
            rows.append({"date": day, "metric": m.metric, "value": float(value), "team": m.team, "product": m.product})
    return pl.DataFrame(rows)
