"""The pack's sentences on operations: allocation and showback, anomalies, savings realized and
commitments, each from one figure of a ``pack.Section`` and citing its table."""

from __future__ import annotations

import polars as pl

from finops_core.reports import variance as va
from finops_core.reports.pack import EXPIRY_DAYS, Pack, Section
from finops_core.reports.pack_words import (
    T_ALLOC,
    T_ANOM,
    T_COMMIT,
    T_SAVINGS,
    Sentence,
    day,
    join,
    key_label,
    money,
    pct,
    plural,
)
from finops_core.schema import C


def allocation_sentences(pack: Pack, s: Section) -> list[Sentence]:
    cur, c = s.currency, s.coverage
    out = []
    if c is not None:
        unalloc = c["total"] - c["allocated"]
        out.append(
            Sentence(
                f"{pct(c['coverage'])} of {cur} cost was allocated to a team ({money(c['allocated'], cur)} of "
                f"{money(c['total'], cur)}); {money(unalloc, cur)} stayed unallocated.",
                f"{T_ALLOC} coverage",
            )
        )
        if c["controllable"] and abs(c["controllable_coverage"] - c["coverage"]) >= 0.0005:
            out.append(
                Sentence(
                    f"Of usage charges (controllable spend), {pct(c['controllable_coverage'])} was allocated.",
                    f"{T_ALLOC} coverage",
                )
            )
    rows = s.showback.filter(pl.col(C.x_Team) != "Unallocated").head(3)
    if rows.height == 1 and s.showback.height == 1:
        r = rows.row(0, named=True)
        out.append(
            Sentence(
                f"The showback of team {r[C.x_Team]} is {money(r['total'], cur)}: {money(r['direct'], cur)} direct "
                f"and {money(r['shared'], cur)} shared cost.",
                f"{T_ALLOC} showback",
            )
        )
    elif rows.height:
        named = [
            f"{r[C.x_Team]} {money(r['total'], cur)} ({pct(r['share'])}"
            + (f", of which {money(r['shared'], cur)} shared)" if abs(r["shared"]) >= 0.5 else ")")
            for r in rows.iter_rows(named=True)
        ]
        out.append(Sentence(f"The largest teams by showback are {join(named)}.", f"{T_ALLOC} showback"))
    return out


def anomaly_sentences(pack: Pack, s: Section) -> list[Sentence]:
    cur, a = s.currency, s.anomalies
    until = f" up to {pack.current.end:%d %b}" if pack.current.end < va.month_end(pack.month) else ""
    if a.is_empty():
        return [Sentence(f"No {cur} cost anomaly began in {pack.month:%B %Y}{until}.", T_ANOM)]
    counts = a.group_by("status").len().sort("len", "status", descending=[True, False])
    by_status = join([f"{r['len']} {r['status']}" for r in counts.iter_rows(named=True)])
    # no total of impacts: one rise is detected at each level it shows in (service, team, company)
    levels = " (detections per service and account, team and total: one rise can show at several)"
    out = [
        Sentence(
            f"{plural(a.height, 'cost anomaly', 'cost anomalies')} began in {pack.month:%B %Y}{until}"
            f"{levels if a.height > 1 else ''}; by status: {by_status}.",
            f"{T_ANOM} count",
        )
    ]
    r = a.row(0, named=True)
    owner = f", owner {r['owner']}" if r.get("owner") else ""
    span = f"on {day(r['start'])}" if r["start"] == r["end"] else f"from {day(r['start'])} to {day(r['end'])}"
    out.append(
        Sentence(
            f"The largest is a {r['kind']} on {key_label(r['key'], s.account_names)} {span}, {money(r['impact'], cur)} above expected "
            f"({r['status']}{owner}).",
            f"{T_ANOM} row 1",
        )
    )
    return out


def savings_sentences(pack: Pack, s: Section) -> list[Sentence]:
    cur = s.currency
    if pack.scope.values("product") or pack.scope.values("environment"):
        return [Sentence("Backlog items are kept per team, so this pack shows no savings.", T_SAVINGS)]
    if not s.savings:
        return [
            Sentence(
                f"No implemented item in scope has {cur} savings measured by {pack.current.end:%d %b %Y}.", T_SAVINGS
            )
        ]
    out = []
    m = s.savings.get("month")
    if m:
        out.append(
            Sentence(
                f"{plural(int(m['items']), 'item')} implemented in {pack.month:%B} save {money(m['realized'], cur)} "
                f"a month as measured so far, against {money(m['estimated'], cur)} a month estimated.",
                f"{T_SAVINGS} this month",
            )
        )
    else:
        out.append(
            Sentence(f"No item with {cur} savings was implemented in {pack.month:%B %Y}.", f"{T_SAVINGS} this month")
        )
    t = s.savings.get("to_date")
    if t:
        share = (
            f", {pct(t['realized'] / t['estimated'])} of their {money(t['estimated'], cur)} estimate"
            if t["estimated"]
            else ""
        )
        out.append(
            Sentence(
                f"All {plural(int(t['items']), 'implemented item')} realize {money(t['realized'], cur)} a month, "
                f"measured to {pack.current.end:%d %b %Y}{share}.",
                f"{T_SAVINGS} to date",
            )
        )
    return out


def commitment_sentences(pack: Pack, s: Section) -> list[Sentence]:
    cur, out = s.currency, []
    if s.utilization is not None:
        u = s.utilization
        out.append(
            Sentence(
                f"Commitments were {pct(u['utilization'])} used in {pack.current.label}: "
                f"{money(u['unused'], cur)} of commitment cost went unused.",
                f"{T_COMMIT} utilization",
            )
        )
        if s.low_utilization.height:
            named = [
                f"{r['commitment']} ({pct(r['utilization'] or 0.0)}, {money(r['unused'], cur)} unused)"
                for r in s.low_utilization.head(3).iter_rows(named=True)
            ]
            out.append(Sentence(f"Under 90% used: {join(named)}.", f"{T_COMMIT} under-used"))
    elif pack.scope.is_company and not pack.caller:
        out.append(Sentence(f"No {cur} commitment covered usage in {pack.current.label}.", f"{T_COMMIT} utilization"))
    else:
        out.append(
            Sentence("Utilization is not shown for a scoped pack: a commitment is shared across teams.", T_COMMIT)
        )
    cc = s.coverage_commit
    if cc and cc["eligible"]:
        out.append(
            Sentence(
                f"Commitments covered {pct(cc['coverage'])} of eligible usage ({money(cc['covered'], cur)} of "
                f"{money(cc['eligible'], cur)} at on-demand prices).",
                f"{T_COMMIT} coverage",
            )
        )
    else:
        out.append(Sentence(f"No {cur} usage in scope is eligible for commitments.", f"{T_COMMIT} coverage"))
    end = pack.current.end  # expiries are counted from the last day of the month with data
    if s.expiring.height:
        named = [
            f"{r['commitment']} on {r['term_end']:%d %b %Y} ({money(r['monthly_amount'], cur)} a month)"
            for r in s.expiring.head(3).iter_rows(named=True)
        ]
        more = f" and {s.expiring.height - 3} more" if s.expiring.height > 3 else ""
        out.append(
            Sentence(
                f"{plural(s.expiring.height, 'commitment')} expire within {EXPIRY_DAYS} days of {end:%d %b}: "
                f"{join(named)}{more}.",
                f"{T_COMMIT} expiring",
            )
        )
    else:
        out.append(
            Sentence(f"No commitment expires within {EXPIRY_DAYS} days of {end:%d %b %Y}.", f"{T_COMMIT} expiring")
        )
    return out
