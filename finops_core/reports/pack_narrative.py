"""The pack's words: one list of sentences per topic, each made from one figure of a ``pack.Section``
and citing the table that holds it ("T1 Usage"). No sentence states a cause the figures do not show:
an effect is named for what it measures (docs/variance.md), never for why it happened. This module
holds the variance, budget and forecast topics; ``pack_operations`` the others."""

from __future__ import annotations

import polars as pl

from finops_core.reports import pack_operations as ops
from finops_core.reports import variance as va
from finops_core.reports.pack import Pack, Section
from finops_core.reports.pack_words import (
    EFFECT_WORDS,
    SPLIT_WORDS,
    T_BUDGET,
    T_CONTRIB,
    T_FORECAST,
    T_VARIANCE,
    Sentence,
    budgeted,
    join,
    money,
    pct,
    signed,
)


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
                f"{lead} {join(named)}{tail}.",
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
    return Sentence(f"By {dim}, the largest moves are {join(parts)}.", f"{T_CONTRIB} by {dim}")


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
            f"{budgeted(b.teams)} spent {money(b.actual, cur)} against a budget of "
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
        out.append(Sentence(f"Most over budget: {join(named)}.", f"{T_BUDGET} teams"))
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


def topics(pack: Pack, s: Section) -> list[tuple[str, list[Sentence]]]:
    """(topic heading, sentences) in the pack's order."""
    return [
        ("What changed", variance_sentences(s)),
        ("Budget", budget_sentences(pack, s)),
        ("Forecast", forecast_sentences(pack, s)),
        ("Allocation and showback", ops.allocation_sentences(pack, s)),
        ("Anomalies", ops.anomaly_sentences(pack, s)),
        ("Savings realized", ops.savings_sentences(pack, s)),
        ("Commitments", ops.commitment_sentences(pack, s)),
    ]
