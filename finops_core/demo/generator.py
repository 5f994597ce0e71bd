"""Seeded, chunked generator of the demo company's FOCUS billing data.

``generate`` yields one FOCUS frame per (billing month, block) plus one frame of monthly charges
(purchases, tax, support, credits, corrections) per month, so memory stays bounded at any size.
The same (seed, end, rows) always gives the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from finops_core.demo import rows as R
from finops_core.demo.catalog import BA_BY_ID, BILLING_ACCOUNTS
from finops_core.demo.commitments import Commitment, daily_amount, plan
from finops_core.demo.events import SAVINGS
from finops_core.demo.monthly import monthly_records
from finops_core.demo.planted import PlantedTruth, plant, service_scopes
from finops_core.demo.resources import build_resources
from finops_core.demo.usage import ChunkTruth, apply_commitments, apply_events, capacity, price, quantities, unused
from finops_core.schema import C

MONTHS = 24  # full months before the end date's month: two years allow yearly seasonality
ROWS_PER_BLOCK = 770_000  # about what one block yields over the window


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 42
    end: date = field(default_factory=lambda: date.today() - timedelta(days=1))
    rows: int = 1_500_000

    @property
    def start(self) -> date:
        y, m = divmod(self.end.year * 12 + self.end.month - 1 - MONTHS, 12)
        return date(y, m + 1, 1)

    @property
    def n_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def blocks(self) -> int:
        return max(1, math.ceil(self.rows / ROWS_PER_BLOCK))

    @property
    def scale(self) -> float:
        """Share of block 0's resources kept when fewer rows than one block are asked for."""
        return min(1.0, self.rows / ROWS_PER_BLOCK)


@dataclass
class DemoTruth:
    """Ground truth gathered while generating (see ``sidefiles.py`` for how it is written)."""

    events: ChunkTruth = field(default_factory=ChunkTruth)
    planted: PlantedTruth = field(default_factory=PlantedTruth)  # anomalies
    # (team, month, cur) -> cost: each resource's owner while generating; build_demo replaces it
    # with the allocated cost the app shows before writing the budgets
    team_month: dict[tuple[str, str, str], float] = field(default_factory=dict)
    billed_month: dict[tuple[str, str], float] = field(default_factory=dict)  # (billing acct, month) -> billed
    sizes: list[tuple[float, float]] = field(default_factory=list)
    rows: int = 0


def month_starts(cfg: DemoConfig) -> list[date]:
    out, d = [], cfg.start
    while d <= cfg.end:
        out.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return out


def _eligible(res: pl.DataFrame, c: Commitment) -> pl.DataFrame:
    """The resources (of every block) whose usage ``c`` may cover: its billing account, services,
    SKU and region, outside the scopes of planted events (whose truth is priced on demand)."""
    cond = (pl.col("billing_account") == c.billing_account) & pl.col("service").is_in(list(c.services))
    if c.sku is not None:
        cond = cond & (pl.col("sku") == c.sku)
    if c.region is not None:
        cond = cond & (pl.col("region_id") == c.region)
    return res.filter(cond & pl.col("commit_eligible"))


def _size_commitments(blocks: list[pl.DataFrame], commitments: tuple[Commitment, ...]) -> list[tuple[float, float]]:
    res = pl.concat(blocks)
    sizes = []
    for c in commitments:
        at = max(c.start, 0)
        elig = _eligible(res, c).filter((pl.col("start_day") <= at) & (pl.col("end_day") > at))
        if c.sku is not None:
            elig = elig.filter(pl.col("shape") == "steady")
            if c.size > 1:  # an oversized reservation stays under-used: size it on the peak fleet of its term
                elig = _peak_fleet(res, c)
        growth = np.where(elig["shape"].to_numpy() == "elastic", 1.25 ** (at / 365), 1.0)
        elig = elig.with_columns(
            (pl.col("base_qty") * pl.Series(growth)).alias("qty"),
            (pl.col("contracted_price") * (1 - c.discount)).alias("rate"),
        )
        sizes.append(daily_amount(c, elig))
    return sizes


def _peak_fleet(res: pl.DataFrame, c: Commitment) -> pl.DataFrame:
    """The eligible steady resources active on the busiest day of the commitment's term."""
    pool = _eligible(res, c).filter(pl.col("shape") == "steady")
    start, end = pool["start_day"].to_numpy(), pool["end_day"].to_numpy()
    days = np.arange(max(c.start, 0), c.end())
    active = (start[:, None] <= days[None, :]) & (days[None, :] < end[:, None])
    busiest = int(days[int(active.sum(axis=0).argmax())]) if days.size else 0
    return pool.filter((pl.col("start_day") <= busiest) & (pl.col("end_day") > busiest))


def _resources(cfg: DemoConfig) -> list[pl.DataFrame]:
    # commitments never cover an event's scope, so its truth is the cost of exactly the rows it changed
    event_scopes = {(e.sub_account, e.service) for e in SAVINGS} | service_scopes()
    out = []
    for block in range(cfg.blocks):
        res = build_resources(cfg.seed, block, cfg.n_days, cfg.scale)
        touched = pl.struct("sub_account_name", "service").map_elements(
            lambda s: (s["sub_account_name"], s["service"]) in event_scopes, return_dtype=pl.Boolean
        )
        out.append(res.with_columns((~touched).alias("commit_eligible")))
    return out


def generate(cfg: DemoConfig, truth: DemoTruth) -> Iterator[tuple[str, str, pl.DataFrame]]:
    """Yield (billing period 'YYYY-MM', part name, FOCUS frame) chunks in period order."""
    commitments = plan(cfg.n_days)
    cds = R.commitment_frame(commitments)
    blocks = _resources(cfg)
    truth.sizes = _size_commitments(blocks, commitments)
    weekday0 = cfg.start.weekday()
    for m_idx, m_start in enumerate(month_starts(cfg)):
        m_next = date(m_start.year + (m_start.month == 12), m_start.month % 12 + 1, 1)
        period = R.Period(m_start, m_next, cfg.start, closed=m_next <= cfg.end)
        first = (m_start - cfg.start).days
        last = min((m_next - cfg.start).days, cfg.n_days)
        days = np.arange(first, last, dtype=np.int64)
        month_last = np.array([(cfg.start + timedelta(days=int(d) + 2)).month != m_start.month for d in days])
        label = f"{m_start:%Y-%m}"
        left = capacity(commitments, truth.sizes, days)
        for block, res in enumerate(blocks):
            rng = np.random.default_rng([cfg.seed, m_idx, block])
            fact = quantities(res, days, weekday0, month_last, rng)
            # an implemented optimization changes every resource of its scope, in every block; planted
            # anomalies land after commitment coverage, on the usage no commitment covered
            fact = price(apply_events(fact, res, cfg.n_days, truth.events), res)
            fact = apply_commitments(fact, res, days, commitments, left)
            fact = plant(fact, res, cfg.n_days, truth.planted)
            out = R.usage_rows(fact, res, cds, period)
            if block == len(blocks) - 1:  # what no block's usage took
                idle = unused(commitments, truth.sizes, days, left)
                if idle.height:
                    out = pl.concat([out, _unused_rows(idle, commitments, period)])
            _tally(truth, res, fact, label)
            truth.rows += out.height
            yield label, f"part-{block:05d}", out
        monthly = _monthly_rows(cfg, commitments, truth, period, m_idx, days)
        truth.rows += monthly.height
        yield label, "part-monthly", monthly


def _tally(truth: DemoTruth, res: pl.DataFrame, fact: pl.DataFrame, label: str) -> None:
    per = (
        fact.join(res.select("res_idx", "team", "billing_account", "currency"), on="res_idx")
        .group_by("team", "billing_account", "currency")
        .agg(pl.col("effective").sum(), pl.col("billed").sum())
    )
    for team, ba, cur, eff, billed in per.iter_rows():
        if team is not None:
            key = (team, label, cur)
            truth.team_month[key] = truth.team_month.get(key, 0.0) + eff
        truth.billed_month[(ba, label)] = truth.billed_month.get((ba, label), 0.0) + billed


def _unused_rows(unused: pl.DataFrame, commitments: tuple[Commitment, ...], period: R.Period) -> pl.DataFrame:
    recs = []
    for idx, day, units, eff, rate in unused.iter_rows():
        c = commitments[idx]
        base = R._base(period, c.billing_account, c.sub_account)
        sku = f"{c.type}:{c.name}"
        rec = R.priced(
            base, units, "Hours" if c.category == "Usage" else "USD", rate, 0.0, eff, sku, f"{sku}:{c.payment}"
        )
        rec |= R.commitment_columns(c) | {
            C.ChargeCategory: "Usage",
            C.ChargeFrequency: "Usage-Based",
            C.PricingCategory: "Committed",
            C.CommitmentDiscountStatus: "Unused",
            C.CommitmentDiscountQuantity: units,
            C.ChargePeriodStart: period.day(day),
            C.ChargePeriodEnd: period.day(day + 1),
            C.ChargeDescription: f"Unused commitment: {c.name}",
        }
        recs.append(rec)
    return R.frame(recs)


def _monthly_rows(
    cfg: DemoConfig,
    commitments: tuple[Commitment, ...],
    truth: DemoTruth,
    period: R.Period,
    m_idx: int,
    days: np.ndarray,
) -> pl.DataFrame:
    return R.frame(monthly_records(cfg, commitments, truth, period, m_idx, days))


def currencies() -> tuple[str, ...]:
    return tuple(sorted({b.currency for b in BILLING_ACCOUNTS}))


__all__ = ["BA_BY_ID", "DemoConfig", "DemoTruth", "currencies", "generate", "month_starts"]
