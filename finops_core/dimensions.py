"""Baseline x_ allocation dimensions read from each row's tags.

Grain: one row per distinct Tags value. Tag keys are matched case-insensitively with common
aliases (``Team``, ``owner-team``), and environment values are folded to prod/staging/dev.
Values are otherwise taken as tagged; anything missing is ``Unallocated``.
"""

from __future__ import annotations

import json

import polars as pl

from finops_core.schema import ALLOCATION_NAMES, UNALLOCATED, C

KEY_ALIASES: dict[str, tuple[str, ...]] = {
    C.x_Team: ("team", "owner-team", "owner_team"),
    C.x_Product: ("product",),
    C.x_Environment: ("env", "environment", "stage"),
    C.x_CostCenter: ("cost_center", "costcenter", "cost-center"),
    C.x_Owner: ("owner", "contact"),
}
ENVIRONMENT_VALUES = {
    "prod": "prod",
    "production": "prod",
    "prd": "prod",
    "staging": "staging",
    "stg": "staging",
    "stage": "staging",
    "dev": "dev",
    "development": "dev",
    "test": "dev",
}


def allocation_for_tags(tags: str | None) -> tuple[str, ...]:
    """(x_Team, x_Product, x_Environment, x_CostCenter, x_Owner) for one Tags JSON value."""
    try:
        parsed = json.loads(tags) if tags else {}
    except json.JSONDecodeError:
        parsed = {}
    folded = {str(k).strip().lower(): v for k, v in parsed.items()} if isinstance(parsed, dict) else {}
    out = []
    for column in ALLOCATION_NAMES:
        value = next((folded[k] for k in KEY_ALIASES[column] if folded.get(k) not in (None, "")), None)
        text = str(value).strip() if value is not None else ""
        if column == C.x_Environment:
            text = ENVIRONMENT_VALUES.get(text.lower(), text.lower())
        out.append(text or UNALLOCATED)
    return tuple(out)


def tag_map(distinct_tags: pl.Series) -> pl.DataFrame:
    """One row per distinct Tags value (null as ''), with the x_ allocation columns."""
    keys = distinct_tags.fill_null("").unique().to_list()
    rows = [allocation_for_tags(k) for k in keys]
    data: dict[str, list[str]] = {"tag_key": keys}
    for i, name in enumerate(ALLOCATION_NAMES):
        data[name] = [r[i] for r in rows]
    return pl.DataFrame(data, schema={"tag_key": pl.String, **{n: pl.String for n in ALLOCATION_NAMES}})
