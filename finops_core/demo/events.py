"""Planted events in the demo: implemented optimizations (anomalies are in ``planted.py``).

Each event multiplies the usage quantity of the resources of one (sub account, service) scope
over a day range. The generator records the exact cost each event added or removed, so the
ground-truth files hold figures computed from the very rows written, not estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Event:
    id: str
    kind: str  # saving
    sub_account: str  # SubAccountName
    service: str
    start: int  # days before the end date (the first affected day is end - start)
    days: int  # duration; for leaks the ramp length is ``ramp``
    factor: float  # peak multiplier (anomalies) or lasting multiplier (savings)
    ramp: int = 0
    title: str = ""
    category: str = ""
    estimate_bias: float = 1.0  # the backlog's estimate = truth x bias


SAVINGS: tuple[Event, ...] = (
    Event(
        "OPT-001",
        "saving",
        "payments-staging",
        "Amazon Elastic Block Store",
        150,
        10_000,
        0.0,
        title="Delete unattached EBS volumes in payments-staging",
        category="idle/orphaned",
        estimate_bias=1.15,
    ),
    Event(
        "OPT-002",
        "saving",
        "web-prod",
        "AWS Lambda",
        120,
        10_000,
        0.55,
        title="Right-size Lambda memory for storefront functions",
        category="rightsizing",
        estimate_bias=0.85,
    ),
    Event(
        "OPT-003",
        "saving",
        "data-lake-prod",
        "Amazon Simple Storage Service",
        100,
        10_000,
        0.6,
        title="Lifecycle data-lake objects to archive after 90 days",
        category="storage lifecycle",
        estimate_bias=1.3,
    ),
    Event(
        "OPT-004",
        "saving",
        "payments-prod",
        "Amazon CloudWatch",
        80,
        10_000,
        0.5,
        title="Cut debug logging in payments services",
        category="other",
        estimate_bias=1.0,
    ),
    Event(
        "OPT-005",
        "saving",
        "checkout-dev",
        "Amazon Elastic Compute Cloud",
        60,
        10_000,
        10 / 24,
        title="Stop checkout-dev instances outside working hours",
        category="idle/orphaned",
        estimate_bias=0.9,
    ),
)


def multiplier(event: Event, day: np.ndarray, n_days: int) -> np.ndarray:
    """Quantity multiplier of one event for each day offset in ``day`` (1.0 outside the event)."""
    first = n_days - event.start
    rel = day - first
    inside = (rel >= 0) & (rel < event.days)
    if event.kind == "spike" or event.kind == "saving":
        return np.where(inside, event.factor, 1.0)
    ramp = np.clip((rel + 1) / max(event.ramp, 1), 0.0, 1.0)
    return np.where(inside, 1.0 + (event.factor - 1.0) * ramp, 1.0)
