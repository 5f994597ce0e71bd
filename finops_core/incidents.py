"""Incidents: the triage cases that are one event seen at several scopes (a service x sub account
spike and its team's spike over the same days), linked so they are triaged and counted once.

Two cases are linked when they share the billing currency and the team (a case without a team, such
as a total-scope one, is linked to nothing) and their windows [start, end] overlap; an incident is a
connected group of linked cases. Its impact is its largest case's (the team's spike contains the
service's, so adding them would count the money twice).
"""

from __future__ import annotations

import polars as pl


def _find(parent: dict[str, str], x: str) -> str:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def link(cases: pl.DataFrame) -> pl.DataFrame:
    """``cases`` (``triage.cases``) with ``incident`` (the id of the incident's earliest, then largest,
    case) and ``incident_cases`` (how many cases it holds, 1 for a case on its own)."""
    if cases.is_empty():
        return cases.with_columns(
            pl.lit(None, pl.String).alias("incident"), pl.lit(0, pl.UInt32).alias("incident_cases")
        )
    rows = cases.select("id", "team", "currency", "start", "end", "impact").sort(
        "start", "impact", descending=[False, True]
    )
    parent = {r: r for r in rows["id"].to_list()}
    for (_, _), group in rows.filter(pl.col("team") != "").group_by("team", "currency"):
        items = group.sort("start").iter_rows(named=True)
        open_until, open_id = "", ""
        for r in items:  # a sweep over windows sorted by start: overlapping ones chain together
            if open_id and str(r["start"]) <= open_until:
                parent[_find(parent, r["id"])] = _find(parent, open_id)
                open_until = max(open_until, str(r["end"]))
            else:
                open_until, open_id = str(r["end"]), r["id"]
    order = {cid: i for i, cid in enumerate(rows["id"].to_list())}
    root = {cid: _find(parent, cid) for cid in parent}
    first: dict[str, str] = {}
    for cid in sorted(parent, key=order.__getitem__):
        first.setdefault(root[cid], cid)
    ids = pl.DataFrame(
        {"id": list(root), "incident": [first[root[c]] for c in root]}, schema={"id": pl.String, "incident": pl.String}
    )
    ids = ids.with_columns(pl.len().over("incident").cast(pl.UInt32).alias("incident_cases"))
    return cases.join(ids, on="id", how="left")


def incident_summary(linked: pl.DataFrame, closed: tuple[str, ...]) -> dict[str, float | int]:
    """Open incidents (any of its cases open), the impact of the open ones (each incident's largest
    case) and the open cases, for tiles."""
    if linked.is_empty():
        return {"open_incidents": 0, "open_impact": 0.0, "open_cases": 0}
    open_cases = linked.filter(~pl.col("status").is_in(list(closed)))
    per = open_cases.group_by("incident").agg(pl.col("impact").max())
    return {
        "open_incidents": per.height,
        "open_impact": float(per["impact"].sum()) if per.height else 0.0,
        "open_cases": open_cases.height,
    }
