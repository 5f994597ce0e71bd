"""Judging tags against a tag policy: a key's value read through the tag rules, the (rule, key)
pairs a resource's tags break with the exemption that covers each, and the policy as tables."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from finops_core import tagrules
from finops_core.policy.rules import Policy, Scope


def tag_value(policy: Policy, folded: dict[str, Any], key: str) -> str | None:
    """``key``'s value in ``folded`` tags (lower-case keys): through tags.yaml for canonical keys."""
    if key in tagrules.CANONICAL:
        raw = policy.tags.raw(folded, key)
        value = policy.tags.value(key, raw) if raw is not None else ""
    else:
        found = folded.get(key)
        value = "" if found is None else str(found).strip()
    return value or None


def violations(policy: Policy, folded: dict[str, Any], facts: dict[str, str | None], on: date) -> list[dict[str, str]]:
    """Every (rule, key) the tags break, exempt ones included with the exemption's reason.
    One dict per violation: rule, key, problem, value, exempt ('' or the reason)."""
    out = []
    for rule in policy.rules:
        if not rule.scope.matches(facts):
            continue
        for key in rule.keys:
            value = tag_value(policy, folded, key)
            if value is None:
                if key not in rule.require:
                    continue
                problem = "missing"
            elif key in rule.values and not rule.values[key].accepts(value):
                problem = f"not allowed (expected {rule.values[key].describe()})"
            else:
                continue
            ex = policy.exempt(rule.id, key, facts, on)
            out.append(
                {
                    "rule": rule.id,
                    "key": key,
                    "problem": problem,
                    "value": value or "",
                    "exempt": ex.reason if ex else "",
                }
            )
    return out


def describe(policy: Policy, today: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The policy as two tables: one row per rule (id, scope, require, values, description) and one
    per exemption (rule, keys, scope, expires, in_force on ``today``, reason)."""

    def scope(s: Scope) -> str:
        return "; ".join(f"{name}: {', '.join(p)}" for name, p in s.conditions) or "everything"

    rules_frame = pl.DataFrame(
        [
            {
                "rule": r.id,
                "scope": scope(r.scope),
                "require": ", ".join(r.require),
                "values": "; ".join(f"{k}: {a.describe()}" for k, a in r.values.items()),
                "description": r.description,
            }
            for r in policy.rules
        ],
        schema={k: pl.String for k in ("rule", "scope", "require", "values", "description")},
        orient="row",
    )
    exemptions = pl.DataFrame(
        [
            {
                "rule": e.rule,
                "keys": ", ".join(e.keys) or "all",
                "scope": scope(e.scope),
                "expires": e.expires,
                "in_force": today <= e.expires,
                "reason": e.reason,
            }
            for e in policy.exemptions
        ],
        schema={
            "rule": pl.String,
            "keys": pl.String,
            "scope": pl.String,
            "expires": pl.Date,
            "in_force": pl.Boolean,
            "reason": pl.String,
        },
        orient="row",
    )
    return rules_frame, exemptions
