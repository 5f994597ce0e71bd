"""The operating KPIs of the scorecard (freshness, reconciliation, anomaly response, optimization,
forecast, budgets, digest) and ``scorecard``, which puts every KPI together for one scope and currency.

Figures read from the state database (triage, backlog, forecast snapshots, budgets, deliveries)
change without a new data version, so they are read on every call; figures from the bill go
through ``call`` (the page passes its cache). Month windows: triage timestamps are wall-clock, so
anomaly response uses the six months ending with today's; the other KPIs use data months.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import duckdb
import polars as pl

from finops_core import backlog, budget_status, budgets, drilldown, forecast_snapshots, outlook, savings_items, triage
from finops_core.query import CostQuery
from finops_core.reports import delivery
from finops_core.reports.kpi_targets import Targets
from finops_core.reports.kpis import (
    MONTHS,
    Call,
    Kpi,
    Trend,
    Window,
    add_months,
    bill_figures,
    bill_kpis,
    direct,
    make,
    month_end,
    month_label,
)
from finops_core.trust import quality


def _months_to(last: date) -> tuple[date, ...]:
    first = last.replace(day=1)
    return tuple(add_months(first, i - MONTHS + 1) for i in range(MONTHS))


def _trend(months: tuple[date, ...], values: dict[str, float | None]) -> Trend:
    return tuple((f"{m:%Y-%m}", values.get(f"{m:%Y-%m}")) for m in months)


def account_days(con: duckdb.DuckDBPyConnection, q: CostQuery) -> pl.DataFrame:
    """``quality.account_days`` of ``q``'s scope (a query-taking form, for the page's cache)."""
    return quality.account_days(con, q.scope)


def freshness_kpi(w: Window, days: pl.DataFrame, now: datetime, targets: Targets) -> Kpi:
    """Hours since the end of the newest complete day of the stalest billing account in scope: the
    age the Data quality page's freshness check judges (in days there; 48 h = 2 days)."""
    if days.is_empty():
        return make("data_freshness", targets, None, "now", (), "./quality", "no billing account in scope")
    stalest = days.sort("last_day").row(0, named=True)
    end = datetime.combine(stalest["last_day"] + timedelta(days=1), datetime.min.time(), UTC)
    hours = (now - end).total_seconds() / 3600
    note = (
        f"{stalest['provider']} {stalest['account_name'] or stalest['account']} complete through {stalest['last_day']}"
    )
    return make("data_freshness", targets, hours, "now", (), "./quality", note=note + "; no history is kept")


def reconciliation_kpi(w: Window, table: pl.DataFrame | None, invoices_given: bool, targets: Targets) -> Kpi:
    """sum |variance| / sum |invoice| of the latest closed month with invoices in this currency (the
    figure the trust line quotes), with the same per month."""
    kind, link = "reconciliation_variance", "./quality"
    if not w.scope.is_all:
        return make(kind, targets, None, "", (), link, "invoices cover whole billing accounts: not for a scoped view")
    if table is None or not invoices_given:
        return make(kind, targets, None, "", (), link, "no invoices uploaded (Data quality page)")
    closed = table.filter(
        pl.col("invoice").is_not_null() & (pl.col("status") != "month still open") & (pl.col("currency") == w.currency)
    )
    if closed.is_empty():
        return make(kind, targets, None, "", (), link, f"no closed month with a {w.currency} invoice")
    per = closed.group_by("billing_period").agg(
        (pl.col("variance").abs().sum() / pl.col("invoice").abs().sum()).alias("pct")
    )
    values = dict(per.iter_rows())
    latest = str(per["billing_period"].max())
    months = _months_to(date.fromisoformat(latest + "-01"))
    period = month_label(date.fromisoformat(latest + "-01"))
    return make(kind, targets, values[latest], period, _trend(months, values), link)


def anomaly_kpis(w: Window, times: pl.DataFrame, today: date, targets: Targets) -> list[Kpi]:
    """MTTA and MTTR over the cases detected in the last six months (wall clock) of the caller's
    teams, each team-month mean weighted by its cases (``triage.response_times``)."""
    months = _months_to(today)
    if not w.scope.is_all:
        times = times.filter(pl.col("team").is_in(list(w.scope.teams or ())))
    times = times.filter(pl.col("month") >= f"{months[0]:%Y-%m}")
    out = []
    period = f"{month_label(months[0])} to {month_label(months[-1])}"
    for kind, col, n in (("anomaly_mtta", "mtta_hours", "acknowledged"), ("anomaly_mttr", "mttr_hours", "resolved")):
        done = times.filter(pl.col(col).is_not_null())
        weighted = done.with_columns((pl.col(col) * pl.col(n)).alias("w"))
        per = weighted.group_by("month").agg((pl.col("w").sum() / pl.col(n).sum()).alias("v"))
        total = float(weighted["w"].sum()) / float(weighted[n].sum()) if done.height else None
        why = "no anomaly case in scope " + ("acknowledged" if n == "acknowledged" else "resolved") + " yet"
        out.append(make(kind, targets, total, period, _trend(months, dict(per.iter_rows())), "./anomalies", why))
    return out


def item_table(call: Call, w: Window, state_path: Path | None = None) -> pl.DataFrame:
    """The Savings page's item table: the scope's backlog items with their realized savings."""
    whole = CostQuery(w.data_start, w.data_end, scope=w.scope)
    ids = call(savings_items.sub_account_ids, whole)
    items = backlog.items(state_path, scope=w.scope, sub_account_ids=ids)
    if items.is_empty():
        return items
    return savings_items.item_table(items, call(savings_items.realized_from_csv, whole, savings_items.items_csv(items)))


def savings_kpis(w: Window, table: pl.DataFrame, targets: Targets) -> list[Kpi]:
    """Items implemented in the review month (by implementation date) and realized / estimated
    monthly savings of every implemented item in this currency (the Savings page's tiles)."""
    review = month_label(w.review)
    if table.is_empty():
        none = "no backlog item in scope"
        return [
            make("optimization_throughput", targets, None, review, (), "./savings", none),
            make("savings_realization", targets, None, "", (), "./savings", none),
        ]
    done = table.filter(pl.col("status").is_in(savings_items.DONE) & pl.col("implemented_on").is_not_null())
    per = done.group_by(pl.col("implemented_on").cast(pl.String).str.slice(0, 7).alias("m")).agg(
        pl.col("item_id").n_unique().cast(pl.Float64)
    )
    counts = dict(per.iter_rows())
    trend = tuple((f"{m:%Y-%m}", float(counts.get(f"{m:%Y-%m}", 0.0))) for m in w.months)
    out = [make("optimization_throughput", targets, trend[-1][1], review, trend, "./savings")]
    tot = savings_items.totals(table).filter(pl.col("currency") == w.currency)
    value = cast(float | None, tot["realization"][0]) if tot.height else None
    by_month = savings_items.totals(table, ("month",)).filter(pl.col("currency") == w.currency)
    rtrend = _trend(w.months, dict(by_month.select("month", "realization").iter_rows()))
    why = f"no implemented item with a {w.currency} estimate in scope"
    out.append(make("savings_realization", targets, value, "implemented items, all time", rtrend, "./savings", why))
    return out


def _month_error(
    snaps: pl.DataFrame, actuals: pl.DataFrame, first: date, path: Path | None
) -> tuple[float, str] | None:
    """(|forecast - actual| / actual, which forecast) over month ``first``'s forecast days that now
    have actuals, for the earliest stored forecast that covers the month; None without one."""
    for row in snaps.sort("as_of").iter_rows(named=True):
        frame = forecast_snapshots.against_actuals(int(row["id"]), actuals, path)
        days = frame.filter(pl.col("day").is_between(first, month_end(first)) & pl.col("actual").is_not_null())
        actual = float(days["actual"].sum())
        if days.height and actual:
            err = (float(days["yhat"].sum()) - actual) / actual
            return abs(err), f"forecast made with data to {row['as_of']}: {err:+.1%} over {days.height} day(s)"
    return None


def forecast_kpi(call: Call, w: Window, targets: Targets, path: Path | None = None) -> Kpi:
    """Last month's forecast against its actual: the Forecast page's stored forecasts of the
    caller's whole scope in this currency (``forecast_snapshots``), none invented."""
    hist = w.query(w.data_start, w.data_end)
    snaps = forecast_snapshots.snapshots(hist, w.currency, path)
    review = month_label(w.review)
    why = f"no stored forecast covers {review} (the Forecast page keeps each month's first forecast)"
    if snaps.is_empty():
        return make("forecast_error", targets, None, review, (), w.link("forecast"), why)
    actuals = call(outlook.daily_actuals, hist)
    found = {f"{m:%Y-%m}": _month_error(snaps, actuals, m, path) for m in w.months}
    trend = tuple((m, e[0] if e else None) for m, e in found.items())
    last = found[f"{w.review:%Y-%m}"]
    return make("forecast_error", targets, last[0] if last else None, review, trend, w.link("forecast"), why,
                note=last[1] if last else "")  # fmt: skip


def budget_covered(con: duckdb.DuckDBPyConnection, q: CostQuery, lines_csv: str) -> tuple[float, float]:
    """(spend under a budget, all spend) of ``q``'s month: the outermost visible lines' actuals (the
    daily histories the Forecast page forecasts from) and the month's total."""
    lines = budgets.parse_csv(lines_csv) if lines_csv else pl.DataFrame(schema=budgets.SCHEMA)
    lines = budget_status.visible_lines(lines, f"{q.start:%Y-%m}", q)
    total = float(drilldown.total(con, q)[q.metric].sum())
    if lines.is_empty():
        return 0.0, total
    histories = budget_status.line_histories(con, q, lines)
    labels = [budget_status.line_label(r) for r in budget_status.outermost(lines).iter_rows(named=True)]
    covered = sum(
        float(histories[k].filter(pl.col("day").is_between(q.start, q.end))["cost"].sum())
        for k in labels
        if k in histories
    )
    return covered, total


def lines_text(lines: pl.DataFrame) -> str:
    """Budget lines as the CSV text ``budget_covered`` takes (hashable for the page's cache); the
    columns a budget file has, whatever a caller added (e.g. months budgeted)."""
    return lines.select(budgets.COLUMNS).write_csv() if lines.height else ""


def budget_kpi(call: Call, w: Window, targets: Targets, lines: pl.DataFrame) -> Kpi:
    review = month_label(w.review)
    text = lines_text(lines)
    values: dict[str, float | None] = {}
    for m in w.months:
        covered, total = call(budget_covered, w.month_query(m), text)
        values[f"{m:%Y-%m}"] = covered / total if total and lines.height else None
    trend = _trend(w.months, values)
    why = f"no {w.currency} monthly budget lines in scope" if lines.is_empty() else f"no spend in {review}"
    return make("budget_coverage", targets, trend[-1][1], review, trend, w.link("forecast"), why)


def digest_labels(w: Window) -> list[str]:
    """The digest scopes (delivery log labels) that are the caller's: the company, or their teams."""
    return ["the company"] if w.scope.is_all else [f"team {t}" for t in w.scope.teams or ()]


def digest_kpi(w: Window, weeks: pl.DataFrame, targets: Targets) -> Kpi:
    """Share of digest weeks (ending in the six data months to the data end) whose first successful
    delivery came on time (``delivery.on_time``, the Weekly digest page's figure)."""
    months = _months_to(w.data_end)
    mine = weeks.filter(pl.col("scope").is_in(digest_labels(w)) & (pl.col("week_end") >= f"{months[0]:%Y-%m}"))
    period = f"weeks ending {month_label(months[0])} to {month_label(months[-1])}"
    if mine.is_empty():
        return make("digest_on_time", targets, None, period, (), "./digest", "no digest of this scope delivered yet")
    per = mine.group_by(pl.col("week_end").str.slice(0, 7)).agg(pl.col("on_time").mean())
    value = float(cast(float, mine["on_time"].mean()))
    return make("digest_on_time", targets, value, period, _trend(months, dict(per.iter_rows())), "./digest")


def scorecard(
    con: duckdb.DuckDBPyConnection,
    w: Window,
    targets: Targets,
    keys: tuple[str, ...],
    *,
    now: datetime | None = None,
    reconciliation: pl.DataFrame | None = None,
    invoices_given: bool = False,
    call: Call | None = None,
    state_path: Path | None = None,
) -> list[Kpi]:
    """Every KPI for ``w`` (scope and currency), in the order of ``kpi_targets.DEFINITIONS``.

    ``reconciliation``: the Data quality page's reconciliation table (callers who see all data);
    ``call``: how bill functions are run (default: directly on ``con``)."""
    call = call or direct(con)
    now = now or datetime.now(UTC)
    out = bill_kpis(w, call(bill_figures, w.trend_query, keys), keys, targets)
    out.append(reconciliation_kpi(w, reconciliation, invoices_given, targets))
    out.append(freshness_kpi(w, call(account_days, w.trend_query), now, targets))
    out += anomaly_kpis(w, triage.response_times(state_path), now.date(), targets)
    out += savings_kpis(w, item_table(call, w, state_path), targets)
    out.append(forecast_kpi(call, w, targets, state_path))
    out.append(budget_kpi(call, w, targets, budgets.current(state_path)))
    out.append(digest_kpi(w, delivery.on_time(state_path), targets))
    order = {k: i for i, k in enumerate(targets.as_dict())}
    return sorted(out, key=lambda k: order[k.kind])
