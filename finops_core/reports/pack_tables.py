"""The pack's tables as text cells, shared by the HTML and the PDF so both show the same figures.
Each table names the function its figures come from; the narrative cites the tables by id."""

from __future__ import annotations

from dataclasses import dataclass

from finops_core.reports import variance as va
from finops_core.reports.digest_render import money
from finops_core.reports.pack import CONTRIBUTOR_DIMS, Pack, Section
from finops_core.reports.pack_words import (
    T_ALLOC,
    T_ANOM,
    T_BUDGET,
    T_COMMIT,
    T_CONTRIB,
    T_FORECAST,
    T_SAVINGS,
    T_VARIANCE,
    key_label,
    pct,
    signed,
)
from finops_core.schema import C

NAME_CHARS = 34  # long names are cut so a table fits an A4 page
TOP_ROWS = 15


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    source: str  # the function the figures come from
    header: list[str]
    rows: list[list[str]]
    widths: list[float]  # relative column widths
    aligns: str = ""  # L or R per column; default: the first column text, the rest numbers

    @property
    def alignment(self) -> str:
        return self.aligns or "L" + "R" * (len(self.header) - 1)

    @property
    def caption(self) -> str:
        return f"{self.id} {self.title}"


def cut(value: object, chars: int = NAME_CHARS) -> str:
    text = "(not set)" if value is None else str(value)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _p(value: float | None) -> str:
    return "–" if value is None else pct(value)


def variance_table(s: Section) -> Table:
    v, cur = s.variance, s.currency
    rows = [[f"{v.base.label} total ({v.base.days} days)", money(v.base_total, cur)]]
    rows += [[r["label"], signed(r["amount"], cur)] for r in v.effects().iter_rows(named=True)]
    rows += [["Change (sum of the parts)", signed(v.change, cur)]]
    rows += [[f"{v.current.label} total ({v.current.days} days)", money(v.current_total, cur)]]
    return Table(T_VARIANCE, "Variance decomposition", "variance.month_over_month", ["part", "amount"], rows, [4, 1.4])


def contributor_tables(s: Section) -> list[Table]:
    cur, out = s.currency, []
    for dim in CONTRIBUTOR_DIMS:
        frame = s.contributors[dim]
        if frame.is_empty():
            continue
        col = va.CONTRIBUTOR_DIMS[dim]
        other = ("coverage", "new", "retired", "credits", "other")
        rows = [
            [
                cut(s.account_names.get(str(r[col]), r[col]) if dim == "account" else r[col], 30),
                money(r["base"], cur),
                money(r["current"], cur),
                signed(r["change"], cur),
                signed(r["day_count"], cur),
                signed(r["usage"], cur),
                signed(r["rate"], cur),
                signed(sum(r[k] for k in other), cur),
            ]
            for r in frame.iter_rows(named=True)
        ]
        header = [dim, "previous", "this month", "change", "day count", "usage", "rate", "other parts"]
        out.append(
            Table(f"{T_CONTRIB}", f"Top contributors by {dim}", "variance.contributors", header, rows, [3, *[1.2] * 7])
        )
    return out


def budget_tables(s: Section) -> list[Table]:
    b, cur = s.budget, s.currency
    if b is None:
        return []
    rows = [
        [
            cut(r["team"]),
            money(r["budget"], cur),
            money(r["actual"], cur),
            signed(r["variance"], cur),
            signed(r["change"] or 0.0, cur),
        ]
        for r in b.teams.iter_rows(named=True)
    ]
    rows.append(
        [
            "All budgeted teams",
            money(b.budget, cur),
            money(b.actual, cur),
            signed(b.variance, cur),
            signed(b.mom.change, cur),
        ]
    )
    teams = Table(
        T_BUDGET,
        "Budget vs actual per team",
        "budget_variance.vs_budget",
        ["team", "budget", "actual", "variance", "change vs previous month"],
        rows,
        [3, 1.3, 1.3, 1.3, 1.6],
    )
    parts = [[r["label"], signed(r["amount"], cur)] for r in b.effects().iter_rows(named=True)]
    parts.append(["Actual - budget (sum of the parts)", signed(b.variance, cur)])
    gap = Table(
        T_BUDGET, "Why actual differs from budget", "BudgetVariance.effects", ["part", "amount"], parts, [4, 1.4]
    )
    return [teams, gap]


def forecast_table(s: Section) -> Table | None:
    f, cur = s.forecast, s.currency
    if f is None:
        return None
    actual = s.variance.current_total
    row = [f"{f.as_of:%d %b %Y}", money(f.expected, cur), money(f.lo80, cur), money(f.hi80, cur), money(actual, cur)]
    row.append(pct((actual - f.expected) / f.expected, True) if f.expected else "–")
    header = ["forecast as of", "expected", "80% low", "80% high", "actual", "actual vs expected"]
    return Table(
        T_FORECAST, "Forecast of the month", "outlook.scope_forecast", header, [row], [1.6, 1.3, 1.3, 1.3, 1.3, 1.4]
    )


def allocation_tables(s: Section) -> list[Table]:
    cur, out, c = s.currency, [], s.coverage
    if c is not None:
        row = [
            money(c["total"], cur),
            money(c["allocated"], cur),
            money(c["total"] - c["allocated"], cur),
            _p(c["coverage"]),
            _p(c["controllable_coverage"]),
        ]
        header = ["total", "allocated", "unallocated", "coverage", "usage coverage"]
        out.append(Table(T_ALLOC, "Allocation coverage", "governance.coverage", header, [row], [1.3] * 5))
    sb = s.showback
    if sb.height:
        rows = [
            [cut(r[C.x_Team]), money(r["direct"], cur), money(r["shared"], cur), money(r["total"], cur), _p(r["share"])]
            for r in sb.iter_rows(named=True)
        ]
        rows.append(
            [
                "All teams",
                money(float(sb["direct"].sum()), cur),
                money(float(sb["shared"].sum()), cur),
                money(float(sb["total"].sum()), cur),
                "100.0%",
            ]
        )
        header = ["team", "direct", "shared", "total", "share"]
        out.append(
            Table(T_ALLOC, "Showback per team", "governance.showback_by_team", header, rows, [3, 1.3, 1.3, 1.3, 1])
        )
    return out


def anomaly_table(s: Section) -> Table | None:
    a, cur = s.anomalies, s.currency
    if a.is_empty():
        return None
    rows = [
        [
            cut(key_label(r["key"], s.account_names), 30),
            r["kind"],
            f"{r['start']:%d %b}",
            f"{r['end']:%d %b}",
            money(r["impact"], cur),
            r["status"],
            cut(r.get("owner") or "–", 24),
        ]
        for r in a.head(TOP_ROWS).iter_rows(named=True)
    ]
    if a.height > TOP_ROWS:
        rest = a.slice(TOP_ROWS)
        rows.append([f"{rest.height} more", "", "", "", money(float(rest["impact"].sum()), cur), "", ""])
    header = ["scope", "kind", "start", "end", "above expected", "status", "owner"]
    return Table(
        T_ANOM,
        "Anomalies that began in the month",
        "anomalies.detect_with_teams, triage.cases",
        header,
        rows,
        [3, 0.8, 0.9, 0.9, 1.3, 1.1, 2.2],
        "LLRRRLL",
    )


def savings_table(s: Section) -> Table | None:
    cur = s.currency
    if not s.savings:
        return None
    names = {"month": "Implemented this month", "to_date": "All implemented to date"}
    rows = [
        [names[k], str(int(v["items"])), money(v["estimated"], cur), money(v["realized"], cur)]
        for k, v in s.savings.items()
    ]
    header = ["items", "count", "estimated / month", "realized / month"]
    return Table(
        T_SAVINGS,
        "Savings realized",
        "savings_items.realized_for_items, savings_items.totals",
        header,
        rows,
        [3, 0.8, 1.5, 1.5],
    )


def commitment_tables(pack: Pack, s: Section) -> list[Table]:
    cur, out = s.currency, []
    scoped = not (pack.scope.is_company and not pack.caller)
    u, cc = s.utilization, s.coverage_commit
    row = [
        money(u["used"], cur) if u else "–",
        money(u["unused"], cur) if u else "–",
        _p(u["utilization"]) if u else ("not shown" if scoped else "–"),
        _p(cc["coverage"]) if cc else "–",
        money(cc["eligible"], cur) if cc else "–",
    ]
    header = ["used", "unused", "utilization", "coverage", "eligible (on-demand)"]
    source = "commitments.commitment_utilization, commitments.commitment_coverage"
    out.append(Table(T_COMMIT, "Commitment utilization and coverage", source, header, [row], [1.3] * 5))
    if s.low_utilization.height:
        rows = [
            [cut(r["commitment"]), _p(r["utilization"]), money(r["unused"], cur)]
            for r in s.low_utilization.iter_rows(named=True)
        ]
        out.append(
            Table(
                T_COMMIT,
                "Commitments under 90% used",
                "commitments.commitment_utilization",
                ["commitment", "utilization", "unused"],
                rows,
                [4, 1.2, 1.3],
            )
        )
    if s.expiring.height:
        rows = [
            [
                cut(r["commitment"]),
                f"{r['term_end']:%d %b %Y}",
                str(r["days_to_expiry"]),
                money(r["monthly_amount"], cur),
                _p(r["utilization"]),
            ]
            for r in s.expiring.iter_rows(named=True)
        ]
        header = ["commitment", "term end", "days left", "per month", "30-day utilization"]
        out.append(
            Table(
                T_COMMIT,
                "Commitments expiring within 90 days",
                "commitments.expirations",
                header,
                rows,
                [3.4, 1.3, 0.9, 1.2, 1.4],
            )
        )
    return out


def tables(pack: Pack, s: Section) -> list[Table]:
    """Every table of the section, in id order."""
    out = [variance_table(s), *contributor_tables(s), *budget_tables(s)]
    out += [t for t in (forecast_table(s),) if t]
    out += allocation_tables(s)
    out += [t for t in (anomaly_table(s), savings_table(s)) if t]
    return out + commitment_tables(pack, s)
