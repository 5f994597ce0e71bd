"""The seeded synthetic FOCUS dataset used by the demo, the tests and the benchmarks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finops_core import store
from finops_core.demo.generator import DemoConfig, DemoTruth, generate, month_starts

DEMO_SOURCE = "demo"


def build_demo(root: Path, cfg: DemoConfig, progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Generate the demo into a new store version (replacing all data) and write its side files."""
    from finops_core.demo.sidefiles import write_all

    truth = DemoTruth()
    n_months = len(month_starts(cfg))
    done: set[str] = set()
    key = f"seed={cfg.seed};end={cfg.end};rows={cfg.rows}"
    with store.publish(root, note=f"demo {key}", carry_over=False) as pub:
        for period, part, frame in generate(cfg, truth):
            pub.write(period, part, frame)
            if period not in done:
                done.add(period)
                if progress:
                    progress(len(done) / (n_months + 1), f"billing period {period}")
        pub.add_source(
            {
                "name": DEMO_SOURCE,
                "kind": "demo",
                "sha256": hashlib.sha256(key.encode()).hexdigest(),
                "config": key,
                "rows": truth.rows,
            }
        )
    truth.team_month = allocated_team_months(root)
    side = write_all(root / "demo", cfg, truth)
    if progress:
        progress(1.0, "done")
    return {
        "rows": truth.rows,
        "start": str(cfg.start),
        "end": str(cfg.end),
        "side_files": [str(p) for p in side],
        "data_version": store.current_version(root),
    }


def allocated_team_months(root: Path) -> dict[tuple[str, str, str], float]:
    """EffectiveCost per (team, billing month 'YYYY-MM', currency) as the app shows it: after the
    allocation rules and shared-cost splits, so the demo's budgets plan what teams are charged."""
    from finops_core import db
    from finops_core.schema import C

    con = store.connect(root)
    try:
        rows = db.rows(
            con,
            f"SELECT {C.x_Team}, strftime({C.x_BillingMonth}, '%Y-%m'), {C.BillingCurrency}, sum({C.EffectiveCost}) "
            "FROM daily GROUP BY ALL",
        )
    finally:
        con.close()
    return {(team, month, cur): float(cost) for team, month, cur, cost in rows}


def is_demo(root: Path) -> bool:
    """Whether the current store version holds the demo dataset."""
    if store.current_version(root) is None:
        return False
    return any(s.get("kind") == "demo" for s in store.manifest(root)["sources"])


__all__ = ["DEMO_SOURCE", "DemoConfig", "DemoTruth", "build_demo", "is_demo"]
