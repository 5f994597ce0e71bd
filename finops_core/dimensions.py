"""Normalized tag values of each distinct Tags value, read through the tag rules.

Grain: one row per distinct Tags value. Keys are matched case-insensitively against the rules'
spellings (``tags.yaml``), values go through the rules' aliases and case folding; a key that is
missing or empty is null. ``missing_tags`` lists the required keys a Tags value lacks, as a
comma-delimited string with commas at both ends (``,team,cost_center,``; ``,`` for none), which
groups and filters far faster than a list: test a key with ``contains(missing_tags, ',team,')``.
The allocation rules (``finops_core.allocation``) turn these into the x_ columns.
"""

from __future__ import annotations

import polars as pl

from finops_core import tagrules
from finops_core.tagrules import CANONICAL


def tag_values(tags: str | None, tag_rules: tagrules.TagRules) -> dict[str, str | None]:
    """{canonical key: normalized value or None} for one Tags JSON value."""
    folded = tagrules.folded_tags(tags)
    out: dict[str, str | None] = {}
    for key in CANONICAL:
        raw = tag_rules.raw(folded, key)
        value = tag_rules.value(key, raw) if raw is not None else ""
        out[key] = value or None
    return out


def tag_map(distinct_tags: pl.Series, tag_rules: tagrules.TagRules, required: tuple[str, ...]) -> pl.DataFrame:
    """One row per distinct Tags value (null as ''): tag_key, tag_<key> per canonical key, missing_tags."""
    keys = distinct_tags.fill_null("").unique().to_list()
    rows = [tag_values(k, tag_rules) for k in keys]
    data: dict[str, list[object]] = {"tag_key": list(keys)}
    for key in CANONICAL:
        data[f"tag_{key}"] = [r[key] for r in rows]
    data["missing_tags"] = ["," + "".join(f"{k}," for k in required if r[k] is None) for r in rows]
    schema: dict[str, pl.DataType] = {"tag_key": pl.String(), **{f"tag_{k}": pl.String() for k in CANONICAL}}
    schema["missing_tags"] = pl.String()
    return pl.DataFrame(data, schema=schema)
