"""The x_ allocation dimensions of each row, read from its tags through the tag rules.

Grain: one row per distinct Tags value. Keys are matched case-insensitively against the rules'
spellings (``data/rules/tags.yaml``), values go through the rules' aliases and case folding;
anything missing is ``Unallocated``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import polars as pl

from finops_core import tagrules
from finops_core.schema import ALLOCATION_NAMES, UNALLOCATED, C

COLUMN_KEYS: dict[str, str] = {
    C.x_Team: "team",
    C.x_Product: "product",
    C.x_Environment: "environment",
    C.x_CostCenter: "cost_center",
    C.x_Owner: "owner",
}


@lru_cache(maxsize=4)
def rules(path: Path = tagrules.DEFAULT_RULES) -> tagrules.TagRules:
    return tagrules.load(path)


def allocation_for_tags(tags: str | None, tag_rules: tagrules.TagRules | None = None) -> tuple[str, ...]:
    """(x_Team, x_Product, x_Environment, x_CostCenter, x_Owner) for one Tags JSON value."""
    r = tag_rules or rules()
    folded = tagrules.folded_tags(tags)
    out = []
    for column in ALLOCATION_NAMES:
        key = COLUMN_KEYS[column]
        raw = r.raw(folded, key)
        value = r.value(key, raw) if raw is not None else ""
        out.append(value or UNALLOCATED)
    return tuple(out)


def tag_map(distinct_tags: pl.Series) -> pl.DataFrame:
    """One row per distinct Tags value (null as ''), with the x_ allocation columns."""
    keys = distinct_tags.fill_null("").unique().to_list()
    r = rules()
    rows = [allocation_for_tags(k, r) for k in keys]
    data: dict[str, list[str]] = {"tag_key": keys}
    for i, name in enumerate(ALLOCATION_NAMES):
        data[name] = [row[i] for row in rows]
    return pl.DataFrame(data, schema={"tag_key": pl.String, **{n: pl.String for n in ALLOCATION_NAMES}})
