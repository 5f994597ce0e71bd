"""The export sync's state for the data-quality checks and the trust line: when each source last
synced, and whether its last run failed (``sync/history.py``). Stale is older than the freshness
rule's 48 hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from finops_core.sync import history
from finops_core.trust.quality import FRESH_WARNING_DAYS, Check, _check

STALE = timedelta(days=FRESH_WARNING_DAYS)


def _age(stamp: str | None, now: datetime) -> timedelta | None:
    return now - datetime.strptime(stamp, history.STAMP) if stamp else None


def _problems(latest: pl.DataFrame, now: datetime) -> list[str]:
    out = []
    for r in latest.iter_rows(named=True):
        age = _age(r["last_success"], now)
        if r["status"] in ("failed", "interrupted"):
            out.append(
                f"{r['source']}: last sync {r['status']} at {r['started']} ({(r['error'] or '').splitlines()[0][:160]})"
            )
        elif age is None or age > STALE:
            out.append(f"{r['source']}: no successful sync for {age.days if age else 'ever'} day(s)")
    return out


def sync_check(now: datetime, path: Path | None = None) -> Check | None:
    """Sources whose last sync failed or that have not synced in 48 h; None when nothing syncs."""
    latest = history.latest(path)
    if latest.is_empty():
        return None
    problems = _problems(latest, now)
    oldest = min(s for s in latest["last_success"].to_list() if s)
    detail = "; ".join(problems) or f"{latest.height} source(s) synced, the least recent at {oldest}"
    return _check(
        "sync",
        "Export sync ran and succeeded",
        "warning",
        len(problems),
        detail,
        fix="see the sync history on the Ingest page; a refused file is named there with its row and field",
        samples=latest,
    )


def sync_part(now: datetime, path: Path | None = None) -> tuple[str, str] | None:
    """The trust line's part: 'exports synced 3 h ago', or which sync failed; None when nothing syncs."""
    latest = history.latest(path)
    if latest.is_empty():
        return None
    problems = _problems(latest, now)
    if problems:
        return f"export sync: {problems[0].split(' (')[0]}" + (
            f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        ), "warning"
    ages = [a for a in (_age(s, now) for s in latest["last_success"].to_list()) if a is not None]
    hours = max(ages).total_seconds() / 3600
    return f"exports synced {hours:.0f} h ago", "ok"


def sync_key(path: Path | None = None) -> str:
    """Changes whenever a sync run starts or ends (a cache key)."""
    runs = history.runs(path, limit=1)
    return "" if runs.is_empty() else f"{runs['id'][0]}:{runs['status'][0]}"
