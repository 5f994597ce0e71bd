"""The demo's side files: org mapping, budgets, invoices, commitment inventory, backlog, truths.

Written to ``<store>/demo/``; ``docs/demo-data.md`` documents every column.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from finops_core.demo.catalog import BA_BY_ID, SUB_ACCOUNTS, TEAM_BY_NAME, TEAMS
from finops_core.demo.commitments import plan
from finops_core.demo.events import SAVINGS
from finops_core.demo.generator import DemoConfig, DemoTruth, month_starts
from finops_core.demo.metrics import daily_metrics
from finops_core.demo.planted_truth import anomalies_footprint, anomalies_truth


@dataclass(frozen=True)
class Discrepancy:
    """The one invoice that does not match the billing rows, on purpose."""

    billing_account_id: str
    months_before_end: int  # counted among closed months: 1 = the last closed month
    amount: float  # invoice minus sum(BilledCost)
    reason: str


INVOICE_DISCREPANCY = Discrepancy(
    "01A2B3-C4D5E6-F7A8B9", 3, 1250.00, "Google invoiced a Premium Support fee that its billing export never carried"
)
MONTH = 365.25 / 12


def _write(frame: pl.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.write_csv(tmp)
    os.replace(tmp, path)


def org_mapping() -> pl.DataFrame:
    """One row per sub account: its owning team (blank for shared accounts) and that team's org data."""
    rows = []
    for s in SUB_ACCOUNTS:
        team = TEAM_BY_NAME.get(s.team) if s.team else None
        rows.append(
            {
                "sub_account_id": s.id,
                "sub_account_name": s.name,
                "provider": BA_BY_ID[s.billing_account].provider,
                "billing_account_id": s.billing_account,
                "team": s.team or "",
                "product": team.product if team else "",
                "environment": s.env,
                "cost_center": team.cost_center if team else "",
                "owner": team.owner if team else "",
                "shared": "yes" if s.team is None else "no",
            }
        )
    return pl.DataFrame(rows)


def teams() -> pl.DataFrame:
    return pl.DataFrame(
        [{"team": t.name, "product": t.product, "cost_center": t.cost_center, "owner": t.owner} for t in TEAMS]
    )


def budgets(cfg: DemoConfig, truth: DemoTruth) -> pl.DataFrame:
    """Monthly USD budget per team: last year's plan (actual +/- a planning error), 3 months ahead.
    Actuals are the teams' allocated cost (direct plus their share of shared costs), as charged."""
    months = [f"{m:%Y-%m}" for m in month_starts(cfg)]
    closed = months[-13:-1]
    rows = []
    for t in TEAMS:
        if t.name == "platform":
            continue
        actual = {m: truth.team_month.get((t.name, m, "USD"), 0.0) for m in months}
        bias = 1.0 + ((sum(map(ord, t.name)) % 9) - 4) / 50  # some teams plan tight, some loose
        for m in closed:
            rows.append({"team": t.name, "month": m, "currency": "USD", "amount": round(actual[m] * bias, -2)})
        base = actual[closed[-1]] * bias
        for k, m in enumerate([months[-1]] + _next_months(cfg.end, 2)):
            rows.append({"team": t.name, "month": m, "currency": "USD", "amount": round(base * 1.02 ** (k + 1), -2)})
    return pl.DataFrame(rows)


def _next_months(end: date, n: int) -> list[str]:
    out, d = [], end.replace(day=1)
    for _ in range(n):
        d = (d + timedelta(days=32)).replace(day=1)
        out.append(f"{d:%Y-%m}")
    return out


def invoices(cfg: DemoConfig, truth: DemoTruth) -> pl.DataFrame:
    """Invoice total per billing account and closed month; equals sum(BilledCost) but for one discrepancy."""
    months = [f"{m:%Y-%m}" for m in month_starts(cfg)][:-1]
    odd_month = months[-INVOICE_DISCREPANCY.months_before_end]
    rows = []
    for (ba, month), billed in sorted(truth.billed_month.items()):
        if month not in months:
            continue
        amount = round(billed, 2)
        if ba == INVOICE_DISCREPANCY.billing_account_id and month == odd_month:
            amount = round(amount + INVOICE_DISCREPANCY.amount, 2)
        short = ba.rsplit("/", 1)[-1].replace(":", "-")
        rows.append(
            {
                "billing_account_id": ba,
                "billing_period": month,
                "invoice_id": f"INV-{short}-{month.replace('-', '')}",
                "currency": BA_BY_ID[ba].currency,
                "amount": amount,
            }
        )
    return pl.DataFrame(rows)


def commitment_inventory(cfg: DemoConfig, truth: DemoTruth) -> pl.DataFrame:
    rows = []
    for c, (units, cost) in zip(plan(cfg.n_days), truth.sizes, strict=True):
        start = cfg.start + timedelta(days=c.start)
        rows.append(
            {
                "commitment_id": c.id,
                "name": c.name,
                "provider": c.provider,
                "billing_account_id": c.billing_account,
                "type": c.type,
                "category": c.category,
                "term_months": round(c.term_days / MONTH),
                "start": f"{start}",
                "end": f"{start + timedelta(days=c.term_days)}",
                "payment": c.payment,
                "units_per_day": round(units, 6),
                "amount_per_day": round(cost, 6),
                "monthly_amount": round(cost * MONTH, 2),
                "currency": BA_BY_ID[c.billing_account].currency,
            }
        )
    return pl.DataFrame(rows)


def _day(cfg: DemoConfig, days_before_end: int) -> date:
    return cfg.start + timedelta(days=cfg.n_days - days_before_end)


def savings_truth(cfg: DemoConfig, truth: DemoTruth) -> pl.DataFrame:
    """True monthly saving of each implemented optimization, as docs/savings.md defines it: the
    cost it removed per day over the 28 days after a 7-day settling week x 365.25/12, exactly, from
    the rows written against the same rows without the change. The change applies to every
    resource of its scope on every day it is billed, so resources deployed after the change count
    and a resource retired for another reason stops counting on its last day. Later months save
    more or less as usage grows."""
    rows = []
    for ev in SAVINGS:
        first = cfg.n_days - ev.start
        daily = truth.events.event_daily.get(ev.id, {})
        window = [daily.get(d, 0.0) for d in range(first + 7, min(first + 35, cfg.n_days))]
        monthly = -sum(window) / max(len(window), 1) * MONTH
        rows.append(
            {
                "item_id": ev.id,
                "implemented_on": f"{_day(cfg, ev.start)}",
                "sub_account_name": ev.sub_account,
                "service_name": ev.service,
                "true_monthly_saving": round(monthly, 2),
                "currency": _currency(ev.sub_account),
            }
        )
    return pl.DataFrame(rows)


def _currency(sub_account_name: str) -> str:
    sub = next(s for s in SUB_ACCOUNTS if s.name == sub_account_name)
    return BA_BY_ID[sub.billing_account].currency


def backlog(cfg: DemoConfig, truth: DemoTruth) -> pl.DataFrame:
    saved = {r["item_id"]: r["true_monthly_saving"] for r in savings_truth(cfg, truth).iter_rows(named=True)}
    rows = []
    for ev in SAVINGS:
        sub = next(s for s in SUB_ACCOUNTS if s.name == ev.sub_account)
        rows.append(
            {
                "item_id": ev.id,
                "title": ev.title,
                "category": ev.category,
                "team": sub.team or "",
                "sub_account_name": ev.sub_account,
                "service_name": ev.service,
                "owner": TEAM_BY_NAME[sub.team].owner if sub.team else "",
                "estimated_monthly_saving": round(saved[ev.id] * ev.estimate_bias, -1),
                "currency": _currency(ev.sub_account),
                "status": "Implemented",
                "implemented_on": f"{_day(cfg, ev.start)}",
                "effort": "S",
                "risk": "Low",
            }
        )
    proposed = (
        (
            "OPT-101",
            "Buy a 1-year Savings Plan for search-prod compute",
            "commitment",
            "search",
            "search-prod",
            "Amazon Elastic Compute Cloud",
            4200.0,
            "Proposed",
        ),
        (
            "OPT-102",
            "Move ml-training checkpoints to S3 Intelligent-Tiering",
            "storage lifecycle",
            "ml",
            "ml-training",
            "Amazon Simple Storage Service",
            900.0,
            "Approved",
        ),
        (
            "OPT-103",
            "Consolidate NAT gateways in network-hub",
            "data transfer",
            "platform",
            "network-hub",
            "Amazon VPC NAT Gateway",
            1500.0,
            "In progress",
        ),
        (
            "OPT-104",
            "Right-size over-provisioned Azure SQL vCores",
            "rightsizing",
            "mobile",
            "mobile-backend-prod",
            "Azure SQL Database",
            2100.0,
            "Proposed",
        ),
        (
            "OPT-105",
            "Delete idle sandbox instances",
            "idle/orphaned",
            "platform",
            "sandbox",
            "Amazon Elastic Compute Cloud",
            600.0,
            "Rejected",
        ),
    )
    for item_id, title, cat, team, sub_name, svc, est, status in proposed:
        rows.append(
            {
                "item_id": item_id,
                "title": title,
                "category": cat,
                "team": team,
                "sub_account_name": sub_name,
                "service_name": svc,
                "owner": TEAM_BY_NAME[team].owner,
                "estimated_monthly_saving": est,
                "currency": _currency(sub_name),
                "status": status,
                "implemented_on": "",
                "effort": "M",
                "risk": "Medium",
            }
        )
    return pl.DataFrame(rows)


def write_all(folder: Path, cfg: DemoConfig, truth: DemoTruth) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "org_mapping.csv": org_mapping(),
        "teams.csv": teams(),
        "budgets.csv": budgets(cfg, truth),
        "invoices.csv": invoices(cfg, truth),
        "commitments.csv": commitment_inventory(cfg, truth),
        "backlog.csv": backlog(cfg, truth),
        "savings_truth.csv": savings_truth(cfg, truth),
        "anomalies_truth.csv": anomalies_truth(cfg, truth),
        "anomalies_footprint.csv": anomalies_footprint(truth),
        "metrics.csv": daily_metrics(cfg, truth),
    }
    for name, frame in files.items():
        _write(frame, folder / name)
    return [folder / n for n in files]
