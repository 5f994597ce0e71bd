"""The pack's words: one list of sentences per topic, each made from one figure of a ``pack.Section``
and citing the table that holds it ("T1 Usage"). No sentence states a cause the figures do not show:
an effect is named for what it measures (docs/variance.md), never for why it happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from finops_core.reports import variance as va
from finops_core.reports.digest_render import money
from finops_core.reports.pack import CONTRIBUTOR_DIMS, EXPIRY_DAYS, Pack, Section
from finops_core.schema import C

# table ids, shared by the narrative's citations and the rendered tables
T_VARIANCE, T_CONTRIB, T_BUDGET, T_FORECAST, T_ALLOC, T_ANOM, T_SAVINGS, T_COMMIT = (f"T{i}" for i in range(1, 9))
EFFECT_WORDS = {
    "day_count": "the day count",
    "usage": "usage (quantity at list price)",
    "mix": "mix",
    "rate": "rate",
    "coverage": "commitment coverage",
    "new": "new resources and services",
    "retired": "retired resources and services",
    "credits": "credits and refunds",
    "other": "other charges (purchases, tax)",
}
SPLIT_WORDS = {"usage": "usage", "rate": "rate", "day_count": "day count", "new": "new", "retired": "retired"}
SPLIT_WORDS |= {"coverage": "coverage", "credits": "credits", "other": "other charges"}


@dataclass(frozen=True)
class Sentence:
    text: str
    cite: str  # "T1 Usage": the table and row that hold the figure


def signed(value: float, currency: str) -> str:
    """``+$1,234`` / ``-$1,234``; an amount that rounds to zero is ``$0`` (never ``-$0``)."""
    if abs(value) < 0.5:
        return money(0.0, currency)
    return ("+" if value > 0 else "") + money(value, currency)


def pct(value: float, signed_: bool = False) -> str:
    return f"{value * 100:+.1f}%" if signed_ else f"{value * 100:.1f}%"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _day(d: date) -> str:
    return f"{d.day} {d:%b}"


def _budgeted(teams: pl.DataFrame) -> str:
    if teams.height == 1:
        return f"The budgeted team, {teams['team'][0]},"
    return f"The {teams.height} budgeted teams"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def variance_sentences(s: Section) -> list[Sentence]:
    v, cur = s.variance, s.currency
    out = []
    move = "rose" if v.change >= 0.5 else "fell" if v.change <= -0.5 else "was unchanged"
    rel = f" ({pct(v.change / v.base_total, True)})" if v.base_total and abs(v.change) >= 0.5 else ""
    amount = f" by {money(abs(v.change), cur)}" if abs(v.change) >= 0.5 else ""
    out.append(
        Sentence(
            f"{cur} cost {move}{amount}{rel}, from {money(v.base_total, cur)} in {v.base.label} "
            f"to {money(v.current_total, cur)} in {v.current.label}.",
            f"{T_VARIANCE} totals",
        )
    )
    effects = {r["effect"]: r["amount"] for r in v.effects().iter_rows(named=True)}
    if v.base.days != v.current.days:
        out.append(
            Sentence(
                f"{v.current.label} has {v.current.days} days with data against {v.base.days} in {v.base.label}; "
                f"the day count accounts for {signed(effects['day_count'], cur)}.",
                f"{T_VARIANCE} Day count",
            )
        )
    # parts worth a mention: 2 % of what the day count leaves, or 0.1 % of the base month
    floor = max(0.5, 0.02 * abs(v.change - effects["day_count"]), 0.001 * abs(v.base_total))
    big = sorted(((k, a) for k, a in effects.items() if k != "day_count" and abs(a) >= floor), key=lambda x: -abs(x[1]))
    if big:
        named = [f"{EFFECT_WORDS[k]} {signed(a, cur)}" for k, a in big[:3]]
        rest = v.change - effects["day_count"] - sum(a for _, a in big[:3])
        tail = f"; the other parts add {signed(rest, cur)}" if abs(rest) >= 0.5 else ""
        lead = "The largest part of the change is" if len(named) == 1 else "The largest parts of the change are"
        out.append(
            Sentence(
                f"{lead} {_join(named)}{tail}.",
                f"{T_VARIANCE} " + ", ".join(dict(va.EFFECTS)[k].split(" (")[0] for k, _ in big[:3]),
            )
        )
    for dim in ("service", "team"):
        sentence = _contributor_sentence(s.contributors[dim], dim, cur)
        if sentence:
            out.append(sentence)
    return out


def _contributor_sentence(frame: pl.DataFrame, dim: str, cur: str) -> Sentence | None:
    col = va.CONTRIBUTOR_DIMS[dim]
    moved = frame.filter(pl.col("change").abs() >= 0.5).head(3)
    if moved.height == 0 or (dim == "team" and frame.height < 2):
        return None
    parts = []
    for r in moved.iter_rows(named=True):
        split = {k: r[k] for k in SPLIT_WORDS}
        key, amount = max(split.items(), key=lambda x: abs(x[1]))
        part = f"{SPLIT_WORDS[key]} {signed(amount, cur)}"
        parts.append(f"{r[col] if r[col] is not None else '(not set)'} {signed(r['change'], cur)} (of which {part})")
    return Sentence(f"By {dim}, the largest moves are {_join(parts)}.", f"{T_CONTRIB} by {dim}")


def budget_sentences(pack: Pack, s: Section) -> list[Sentence]:
    cur, b = s.currency, s.budget
    if b is None:
        if pack.scope.values("product") or pack.scope.values("environment"):
            return [Sentence("Budgets are set per team, so this product or environment pack has none.", T_BUDGET)]
        return [Sentence(f"No team budget in {cur} covers {pack.month:%B %Y} in this scope.", T_BUDGET)]
    side = "over" if b.variance >= 0 else "under"
    rel = f" ({pct(abs(b.variance) / b.budget)})" if b.budget else ""
    prorated = (
        f", prorated to the {b.mom.current.days} days with data" if b.mom.current.end < va.month_end(pack.month) else ""
    )
    out = [
        Sentence(
            f"{_budgeted(b.teams)} spent {money(b.actual, cur)} against a budget of "
            f"{money(b.budget, cur)}{prorated}: {money(abs(b.variance), cur)}{rel} {side} budget.",
            f"{T_BUDGET} totals",
        )
    ]
    gap = b.mom.base_total - b.budget
    days = float(b.mom.effects().filter(pl.col("effect") == "day_count")["amount"].sum())
    of_days = f" (the day count alone {signed(days, cur)})" if b.mom.base.days != b.mom.current.days else ""
    out.append(
        Sentence(
            f"Of that, {signed(gap, cur)} was already there in {b.mom.base.label} (its actual against this "
            f"month's budget) and {signed(b.mom.change, cur)} is the change since{of_days}.",
            f"{T_BUDGET} gap",
        )
    )
    over = b.teams.filter(pl.col("variance") >= 0.5).head(2)
    if over.height:
        named = [
            f"{r['team']} by {money(r['variance'], cur)}"
            + (f" ({pct(r['variance'] / r['budget'])} of its budget)" if r["budget"] else "")
            for r in over.iter_rows(named=True)
        ]
        out.append(Sentence(f"Most over budget: {_join(named)}.", f"{T_BUDGET} teams"))
    return out


def forecast_sentences(pack: Pack, s: Section) -> list[Sentence]:
    cur, f, v = s.currency, s.forecast, s.variance
    if f is None:
        return [Sentence(f"{s.forecast_note[0].upper()}{s.forecast_note[1:]}.", T_FORECAST)]
    band = f"80% band {money(f.lo80, cur)} to {money(f.hi80, cur)}"
    if v.current.end == va.month_end(pack.month):
        off = v.current_total - f.expected
        inside = "inside" if f.lo80 <= v.current_total <= f.hi80 else "outside"
        text = (
            f"On {f.as_of:%d %b %Y} the forecast for {pack.month:%B} was {money(f.expected, cur)} ({band}); "
            f"the month came in at {money(v.current_total, cur)}, {money(abs(off), cur)} "
            f"{'above' if off >= 0 else 'below'} it ({pct(off / f.expected, True) if f.expected else '-'}), "
            f"{inside} the band."
        )
    else:
        text = (
            f"From the data to {f.as_of:%d %b %Y}, the forecast for the whole of {pack.month:%B} is "
            f"{money(f.expected, cur)} ({band}), of which {money(v.current_total, cur)} is spent."
        )
    out = [Sentence(text, f"{T_FORECAST} forecast")]
    b = s.budget
    full = v.current.end == va.month_end(pack.month)  # an open month's budget is prorated, the forecast is not
    if b is not None and full and abs(b.actual - v.current_total) < 0.5:  # the budgets cover the whole scope
        gap = f.expected - b.budget
        out.append(
            Sentence(
                f"The forecast was {money(abs(gap), cur)} {'above' if gap >= 0 else 'below'} the budget of "
                f"{money(b.budget, cur)}.",
                f"{T_FORECAST} / {T_BUDGET}",
            )
        )
    return out


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
        out.append(Sentence(f"The largest teams by showback are {_join(named)}.", f"{T_ALLOC} showback"))
    return out


def anomaly_sentences(pack: Pack, s: Section) -> list[Sentence]:
    cur, a = s.currency, s.anomalies
    until = f" up to {pack.current.end:%d %b}" if pack.current.end < va.month_end(pack.month) else ""
    if a.is_empty():
        return [Sentence(f"No {cur} cost anomaly began in {pack.month:%B %Y}{until}.", T_ANOM)]
    counts = a.group_by("status").len().sort("len", "status", descending=[True, False])
    by_status = _join([f"{r['len']} {r['status']}" for r in counts.iter_rows(named=True)])
    impact = float(a["impact"].sum())
    out = [
        Sentence(
            f"{_plural(a.height, 'cost anomaly', 'cost anomalies')} began in {pack.month:%B %Y}{until}, "
            f"{money(impact, cur)} above expected{' in all' if a.height > 1 else ''}; by status: {by_status}.",
            f"{T_ANOM} count",
        )
    ]
    r = a.row(0, named=True)
    owner = f", owner {r['owner']}" if r.get("owner") else ""
    span = f"on {_day(r['start'])}" if r["start"] == r["end"] else f"from {_day(r['start'])} to {_day(r['end'])}"
    out.append(
        Sentence(
            f"The largest is a {r['kind']} on {r['key']} {span}, {money(r['impact'], cur)} above expected "
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
                f"{_plural(int(m['items']), 'item')} implemented in {pack.month:%B} save {money(m['realized'], cur)} "
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
                f"All {_plural(int(t['items']), 'implemented item')} realize {money(t['realized'], cur)} a month, "
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
            out.append(Sentence(f"Under 90% used: {_join(named)}.", f"{T_COMMIT} under-used"))
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
                f"{_plural(s.expiring.height, 'commitment')} expire within {EXPIRY_DAYS} days of {end:%d %b}: "
                f"{_join(named)}{more}.",
                f"{T_COMMIT} expiring",
            )
        )
    else:
        out.append(
            Sentence(f"No commitment expires within {EXPIRY_DAYS} days of {end:%d %b %Y}.", f"{T_COMMIT} expiring")
        )
    return out


def topics(pack: Pack, s: Section) -> list[tuple[str, list[Sentence]]]:
    """(topic heading, sentences) in the pack's order."""
    return [
        ("What changed", variance_sentences(s)),
        ("Budget", budget_sentences(pack, s)),
        ("Forecast", forecast_sentences(pack, s)),
        ("Allocation and showback", allocation_sentences(pack, s)),
        ("Anomalies", anomaly_sentences(pack, s)),
        ("Savings realized", savings_sentences(pack, s)),
        ("Commitments", commitment_sentences(pack, s)),
    ]


__all__ = ["CONTRIBUTOR_DIMS", "Sentence", "topics"]
