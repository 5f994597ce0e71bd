"""A new state database starts with the demo's budgets and backlog (whose dates match the demo data), once."""

from __future__ import annotations

from finops_core import backlog, budgets
from ui import cache


def budgets_from_demo() -> None:
    path = cache.store_root() / "demo" / "budgets.csv"
    if path.exists() and budgets.versions().is_empty():
        budgets.save(budgets.load(path), "demo", str(path))


def backlog_from_demo() -> None:
    path = cache.store_root() / "demo" / "backlog.csv"
    if path.exists() and backlog.items().is_empty():
        backlog.import_csv(path.read_text(), "demo", source=str(path))
