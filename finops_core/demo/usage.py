"""Usage rows of one (billing month, block) chunk: quantities, prices and commitment coverage.

Grain of the returned fact frame: one row per (resource, day) plus, for block 0, one Unused row
per (commitment, day). Strings are attached later by ``rows.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from finops_core.demo.commitments import Commitment, cover
from finops_core.demo.events import SAVINGS, multiplier

WEEKEND = {"elastic": (0.72, 0.68), "batch": (0.5, 0.45)}
GROWTH = {"elastic": 1.25, "batch": 1.2, "storage": 1.0, "steady": 1.0}


@dataclass
class ChunkTruth:
    """What the generator knows that the billing rows do not say outright."""

    event_delta: dict[str, float] = field(default_factory=dict)  # event id -> cost added (+) / removed (-)
    event_days: dict[str, set[int]] = field(default_factory=dict)
    event_daily: dict[str, dict[int, float]] = field(default_factory=dict)  # event id -> day -> cost delta


def quantities(
    res: pl.DataFrame, days: np.ndarray, weekday0: int, month_last: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """Daily quantity of every active resource on every day in ``days`` (before events)."""
    start = res["start_day"].to_numpy()
    end = res["end_day"].to_numpy()
    active = (start[:, None] <= days[None, :]) & (days[None, :] < end[:, None])
    ri, di = np.nonzero(active)
    day = days[di]
    shape = res["shape"].to_numpy()[ri]
    base = res["base_qty"].to_numpy()[ri]
    years = day / 365.0
    weekday = (weekday0 + day) % 7
    noise = rng.lognormal(0.0, 0.07, len(ri))
    qty = base.astype(np.float64).copy()
    for name, (sat, sun) in WEEKEND.items():
        sel = shape == name
        week = np.where(weekday[sel] == 5, sat, np.where(weekday[sel] == 6, sun, 1.0))
        qty[sel] = base[sel] * GROWTH[name] ** years[sel] * week * noise[sel]
    batch = shape == "batch"
    qty[batch] *= np.where(month_last[di[batch]], 2.6, 1.0)  # month-end batch runs
    storage = shape == "storage"
    qty[storage] = base[storage] * (1.0 + 0.35 * years[storage]) * (1.0 + (noise[storage] - 1.0) * 0.1)
    return pl.DataFrame({"res_idx": res["res_idx"].to_numpy()[ri], "day": day.astype(np.int32), "qty": qty})


def apply_events(fact: pl.DataFrame, res: pl.DataFrame, n_days: int, truth: ChunkTruth) -> pl.DataFrame:
    """Multiply quantities for implemented savings; record each event's exact cost delta."""
    attrs = res.select("res_idx", "sub_account_name", "service", "contracted_price")
    joined = fact.join(attrs, on="res_idx", how="left")
    qty = joined["qty"].to_numpy().copy()
    day = joined["day"].to_numpy()
    price = joined["contracted_price"].to_numpy()
    sub = joined["sub_account_name"].to_numpy()
    svc = joined["service"].to_numpy()
    for ev in SAVINGS:
        sel = np.nonzero((sub == ev.sub_account) & (svc == ev.service))[0]
        if len(sel) == 0:
            continue
        mult = multiplier(ev, day[sel], n_days)
        hit = mult != 1.0
        if not hit.any():
            continue
        before = qty[sel]
        after = before * mult
        truth.event_delta[ev.id] = truth.event_delta.get(ev.id, 0.0) + float(((after - before) * price[sel]).sum())
        truth.event_days.setdefault(ev.id, set()).update(int(d) for d in np.unique(day[sel][hit]))
        per_day = truth.event_daily.setdefault(ev.id, {})
        for d, delta in zip(day[sel][hit].tolist(), ((after - before) * price[sel])[hit].tolist(), strict=True):
            per_day[d] = per_day.get(d, 0.0) + delta
        qty[sel] = after
    return fact.with_columns(pl.Series("qty", qty))


def price(fact: pl.DataFrame, res: pl.DataFrame) -> pl.DataFrame:
    """Costs at on-demand (negotiated) rates; commitment coverage comes after."""
    prices = res.select("res_idx", "list_price", "contracted_price")
    out = fact.join(prices, on="res_idx", how="left")
    contracted = pl.col("qty") * pl.col("contracted_price")
    return out.with_columns(
        (pl.col("qty") * pl.col("list_price")).alias("list_cost"),
        contracted.alias("contracted_cost"),
        contracted.alias("billed"),
        contracted.alias("effective"),
        pl.lit("Standard").alias("pricing_category"),
        pl.lit(-1, dtype=pl.Int32).alias("cd_idx"),
        pl.lit(None, dtype=pl.Float64).alias("cd_qty"),
        pl.lit(None, dtype=pl.String).alias("cd_status"),
    )


def capacity(plan: tuple[Commitment, ...], sizes: list[tuple[float, float]], days: np.ndarray) -> np.ndarray:
    """Units each commitment buys on each day of ``days`` (0 outside its term): what
    ``apply_commitments`` draws down, block after block, and the month's Unused rows are made of."""
    out = np.zeros((len(plan), days.size))
    for idx, c in enumerate(plan):
        out[idx, (days >= c.start) & (days < c.end())] = sizes[idx][0]
    return out


def apply_commitments(
    fact: pl.DataFrame, res: pl.DataFrame, days: np.ndarray, plan: tuple[Commitment, ...], left: np.ndarray
) -> pl.DataFrame:
    """Cover the eligible usage of one block by each commitment, drawing down ``left`` (units per
    commitment and day of ``days``, from ``capacity``) in place."""
    attrs = res.select("res_idx", "billing_account", "service", "sku", "region_id", "commit_eligible")
    work = fact.join(attrs, on="res_idx", how="left").with_row_index("_row")
    billed = work["billed"].to_numpy().copy()
    effective = work["effective"].to_numpy().copy()
    cd_idx = work["cd_idx"].to_numpy().copy()
    cd_qty = work["cd_qty"].to_numpy().copy()
    first = int(days[0])
    # Reservations and CUDs apply before savings plans, as the providers apply them.
    for idx in sorted(range(len(plan)), key=lambda i: plan[i].category != "Usage"):
        c = plan[idx]
        cond = (
            (pl.col("billing_account") == c.billing_account)
            & pl.col("service").is_in(list(c.services))
            & pl.col("commit_eligible")
            & (pl.col("day") >= c.start)
            & (pl.col("day") < c.end())
        )
        if c.sku is not None:
            cond = cond & (pl.col("sku") == c.sku)
        if c.region is not None:
            cond = cond & (pl.col("region_id") == c.region)
        cand = work.filter(cond).with_columns(
            (pl.col("contracted_price") * (1 - c.discount) * pl.col("qty")).alias("cost")
        )
        cand = cand.filter(pl.Series(cd_idx[cand["_row"].to_numpy()] < 0))
        mask = cover(cand.select("day", "res_idx", "qty", "cost"), left[idx], first, c.category)
        rows = cand["_row"].to_numpy()[mask]
        cost = cand["cost"].to_numpy()[mask]
        billed[rows] = 0.0
        effective[rows] = cost
        cd_idx[rows] = idx
        cd_qty[rows] = cand["qty"].to_numpy()[mask] if c.category == "Usage" else cost
        np.subtract.at(left[idx], cand["day"].to_numpy()[mask] - first, cd_qty[rows])
    return work.drop("billing_account", "service", "sku", "region_id", "commit_eligible", "_row").with_columns(
        pl.Series("billed", billed),
        pl.Series("effective", effective),
        pl.Series("cd_idx", cd_idx, dtype=pl.Int32),
        pl.Series("cd_qty", cd_qty, dtype=pl.Float64, nan_to_null=True),  # numpy held the nulls as NaN
        pl.when(pl.Series(cd_idx) >= 0).then(pl.lit("Used")).otherwise(None).alias("cd_status"),
        pl.when(pl.Series(cd_idx) >= 0)
        .then(pl.lit("Committed"))
        .otherwise(pl.col("pricing_category"))
        .alias("pricing_category"),
    )


def unused(
    plan: tuple[Commitment, ...], sizes: list[tuple[float, float]], days: np.ndarray, left: np.ndarray
) -> pl.DataFrame:
    """One Unused row per commitment and day with capacity left after every block was covered."""
    rows: list[dict[str, object]] = []
    for idx in range(len(plan)):
        units_per_day, cost_per_day = sizes[idx]
        unit_rate = cost_per_day / units_per_day if units_per_day else 0.0
        for i in np.nonzero(left[idx] > 1e-9)[0].tolist():
            units = float(left[idx, i])
            rows.append(
                {
                    "cd_idx": idx,
                    "day": int(days[i]),
                    "units": units,
                    "effective": units * unit_rate,
                    "unit_rate": unit_rate,
                }
            )
    schema = {
        "cd_idx": pl.Int32,
        "day": pl.Int32,
        "units": pl.Float64,
        "effective": pl.Float64,
        "unit_rate": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)
