"""Forecast snapshots in the state database: what the forecast said on a given day, kept so FP&A
can hold it against the actuals later.

One snapshot per (scope, metric, currency, month of the as-of day): the first forecast made in a
month is the month's record and is never overwritten. A snapshot keeps the daily forecast with
its 80 % and 95 % intervals, the data version it was made from, who and when.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from finops_core import state
from finops_core.outlook import ScopeForecast
from finops_core.query import CostQuery

SCHEMA = """
CREATE TABLE IF NOT EXISTS forecast_snapshot (
    id INTEGER PRIMARY KEY AUTOINCREMENT, taken_at TEXT NOT NULL, username TEXT NOT NULL,
    data_version TEXT NOT NULL, scope_key TEXT NOT NULL, label TEXT NOT NULL, metric TEXT NOT NULL,
    currency TEXT NOT NULL, as_of TEXT NOT NULL, month TEXT NOT NULL,
    UNIQUE (scope_key, metric, currency, month)
);
CREATE TABLE IF NOT EXISTS forecast_snapshot_day (
    snapshot_id INTEGER NOT NULL, day TEXT NOT NULL, yhat REAL NOT NULL, lo95 REAL NOT NULL,
    lo80 REAL NOT NULL, hi80 REAL NOT NULL, hi95 REAL NOT NULL, PRIMARY KEY (snapshot_id, day)
);
"""
DAY_COLUMNS = ("yhat", "lo95", "lo80", "hi80", "hi95")


def scope_key(q: CostQuery) -> str:
    """The scope of a forecast request without its dates: filters (currency included) and row scope."""
    return f"{sorted(q.filters)!r}|{q.scope.key()}"


def save(
    fc: ScopeForecast,
    q: CostQuery,
    currency: str,
    label: str,
    username: str,
    data_version: str,
    path: Path | None = None,
) -> int | None:
    """Keep ``fc`` as its month's snapshot; None when that month already has one."""
    taken = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with state.transaction(path, SCHEMA) as con:
        cur = con.execute(
            "INSERT OR IGNORE INTO forecast_snapshot (taken_at, username, data_version, scope_key, label, metric, "
            "currency, as_of, month) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                taken,
                username,
                data_version,
                scope_key(q),
                label,
                q.metric,
                currency,
                fc.as_of.isoformat(),
                f"{fc.as_of:%Y-%m}",
            ),
        )
        if cur.rowcount == 0:
            return None
        snap = int(cur.lastrowid or 0)
        con.executemany(
            "INSERT INTO forecast_snapshot_day VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (snap, r["day"].isoformat(), *(r[c] for c in DAY_COLUMNS))
                for r in fc.forecast.daily.iter_rows(named=True)
            ],
        )
    return snap


def snapshots(q: CostQuery, currency: str, path: Path | None = None) -> pl.DataFrame:
    """Snapshots of ``q``'s scope, metric and currency, newest first: id, as_of, taken_at, username, data_version."""
    with state.transaction(path, SCHEMA) as con:
        rows = con.execute(
            "SELECT id, as_of, taken_at, username, data_version FROM forecast_snapshot "
            "WHERE scope_key = ? AND metric = ? AND currency = ? ORDER BY as_of DESC",
            (scope_key(q), q.metric, currency),
        ).fetchall()
    schema = {
        "id": pl.Int64,
        "as_of": pl.String,
        "taken_at": pl.String,
        "username": pl.String,
        "data_version": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.col("as_of").str.to_date())


def against_actuals(snapshot_id: int, actuals: pl.DataFrame, path: Path | None = None) -> pl.DataFrame:
    """A snapshot's daily forecast beside the actuals (day, cost) known now. One row per forecast day:
    day, yhat, lo95, lo80, hi80, hi95, actual (null where the day has no data yet)."""
    with state.transaction(path, SCHEMA) as con:
        rows = con.execute(
            "SELECT day, yhat, lo95, lo80, hi80, hi95 FROM forecast_snapshot_day WHERE snapshot_id = ? ORDER BY day",
            (snapshot_id,),
        ).fetchall()
    schema = {"day": pl.String, **{c: pl.Float64 for c in DAY_COLUMNS}}
    frame = pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.col("day").str.to_date())
    last = actuals["day"].max()
    known = actuals.select("day", pl.col("cost").alias("actual"))
    out = frame.join(known, on="day", how="left")
    return out.with_columns(
        pl.when(pl.col("day") <= (last if isinstance(last, date) else date.min)).then(pl.col("actual")).otherwise(None)
    )
