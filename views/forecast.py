"""Forecast & budgets: the selection's forecast with its track record, budgets vs forecast by team,
the monthly plan export, past forecasts against actuals, and budget editing (finance, admin)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import polars as pl
import streamlit as st

from finops_core import (
    backtest,
    budget_periods,
    budget_status,
    budgets,
    events,
    forecast,
    forecast_snapshots,
    outlook,
    plan_export,
    plausibility,
)
from finops_core.query import CostQuery
from finops_core.schema import METRIC_LABELS, C
from ui import budget_editor, cache, charts, seed, tables
from ui.filters import Selection
from ui.format import day, money

EDITORS = ("admin", "finance")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PLAN_TEAMS = 50


def _history(sel: Selection) -> CostQuery:
    """The whole history of the sidebar's request (filters, metric, scope; the period is ignored)."""
    return replace(sel.query, start=sel.data_start, end=sel.data_end)


def _tiles(fc: outlook.ScopeForecast, month_end: date, budget: float | None, cur: str) -> None:
    start = month_end.replace(day=1)
    total = fc.period_total(start, month_end)
    a, b, c, d = st.columns(4)
    a.metric(f"{start:%B} to date", money(total["actual"], cur), border=True)
    b.metric(
        "Forecast at month end",
        money(total["yhat"], cur),
        border=True,
        help=f"80 %: {money(total['lo80'], cur)} to {money(total['hi80'], cur)}; "
        f"95 %: {money(total['lo95'], cur)} to {money(total['hi95'], cur)}.",
    )
    c.metric(
        "Month budget",
        money(budget, cur) if budget is not None else "–",
        border=True,
        help="The budgets of the teams picked in the sidebar (every one of them budgeted, no other filter). "
        "Unbudgeted spend (e.g. Unallocated) makes a total-vs-budget comparison meaningless.",
    )
    over = None if budget is None else budget_status.overrun_date(fc, start, month_end, budget)
    d.metric(
        "Projected overrun",
        f"{over:%d %b}" if over else ("none" if budget is not None else "–"),
        border=True,
        help="First day on which the month's cumulative cost (actual, then forecast) passes the budget.",
    )


def _fiscal_pick(where: st.delta_generator.DeltaGenerator, key: str) -> int:
    """The fiscal year's first month: $FINOPS_FISCAL_START unless changed here (quarters are fiscal)."""
    default = st.session_state["fiscal_start"]
    return int(
        where.selectbox(
            "Fiscal year starts",
            range(1, 13),
            index=default - 1,
            format_func=lambda m: MONTHS[m - 1],
            key=key,
            help=f"Default {MONTHS[default - 1]} ({budget_periods.ENV}). The fiscal year is named by the calendar "
            "year it ends in (with April: FY2027 is Apr 2026 to Mar 2027, FY2027-Q1 is Apr to Jun 2026).",
        )
    )


def _rollover_note(as_of: date, horizon: str, fy: int, until: date) -> None:
    """Say so when the data ends on a period's last day and the horizon moved on to the next period."""
    rolled = [k for k in ("month", horizon) if outlook.rolls_over(as_of, k, fy) and k != "12m"]
    if not rolled:
        return
    means = "; ".join(
        f"“{outlook.HORIZONS[k]}” means {outlook.horizon_end(as_of, k, fy):%d %B %Y}" for k in dict.fromkeys(rolled)
    )
    st.info(
        f"The data ends on {as_of:%d %B %Y}, the last day of a {rolled[-1].replace('_', ' ')}, so the forecast "
        f"looks at the next one: {means}. The month tiles are for {outlook.horizon_end(as_of, 'month'):%B %Y}. "
        f"Forecast to {until:%d %B %Y}."
    )


def _forecast_section(version: str, sel: Selection, ev: events.Events, bar: st.delta_generator.DeltaGenerator) -> None:
    a, b, c = st.columns([2, 2, 3])
    horizon = a.selectbox("Horizon", list(outlook.HORIZONS), format_func=outlook.HORIZONS.__getitem__, key="fc_h")
    fy = st.session_state["fiscal_start"]
    if horizon in ("fiscal_year", "quarter"):
        fy = _fiscal_pick(b, "fc_fy")
    view = c.radio("View", ("Cumulative month", "Daily"), horizontal=True, key="fc_view")
    q = _history(sel)
    until = max(outlook.horizon_end(sel.data_end, horizon, fy), outlook.horizon_end(sel.data_end, "month"))
    _rollover_note(sel.data_end, horizon, fy, until)
    bar.progress(0.1, text="Fitting the forecast")
    try:
        fc = cache.call(version, outlook.scope_forecast, q, until, ev)
    except forecast.ForecastError as exc:
        st.info(f"No forecast for this selection: {exc}.")
        return
    bar.progress(0.3, text=f"Backtesting ({backtest.ORIGINS} origins x {backtest.HORIZON} days)")
    try:
        bt: backtest.Backtest | backtest.BacktestError = cache.call(version, outlook.backtest_scope, q, ev)
    except backtest.BacktestError as exc:
        bt = exc
    # the bands shown (tiles, chart, totals, the kept snapshot) are the ones the backtest calibrated
    fc = outlook.calibrated(fc, bt.calibration if isinstance(bt, backtest.Backtest) else None)
    forecast_snapshots.save(fc, q, sel.currency, "selection", st.session_state["user"].username, version)
    _flags(plausibility.flags("This selection", fc, bt if isinstance(bt, backtest.Backtest) else None))
    _outlook(fc, sel, view, outlook.horizon_start(sel.data_end, horizon, fy), until, outlook.HORIZONS[horizon])
    st.caption(
        f"Forecast to {day(until)} from data up to {day(sel.data_end)}: Prophet, weekly seasonality (yearly too with enough history), trend "
        "changepoints, holidays and billing-calendar events; bands are 80 % and 95 % intervals widened to what the "
        "backtest's errors needed (see the track record)." + "".join(f" Note: {n}." for n in fc.forecast.notes)
    )
    st.subheader("Track record")
    if isinstance(bt, backtest.Backtest):
        _backtest(bt)
    else:
        st.info(f"No backtest, so the bands are Prophet's own (not calibrated, likely too narrow): {bt}.")


def _outlook(fc: outlook.ScopeForecast, sel: Selection, view: str, start: date, until: date, label: str) -> None:
    """The month tiles, the chart and the horizon's total."""
    cur, month_end = sel.currency, outlook.horizon_end(fc.as_of, "month")
    lines = budget_status.visible_lines(budgets.current(), budgets.periods_containing(month_end)[0], sel.query)
    budget = budget_status.selection_budget(lines, sel.query)
    _tiles(fc, month_end, budget, cur)
    metric = METRIC_LABELS[sel.query.metric]
    if view == "Daily":
        frame = outlook.daily_view(fc)
        st.altair_chart(charts.forecast_band(frame, cur, f"{metric} per day"), width="stretch")
    else:
        frame = outlook.month_outlook(fc, month_end)
        title = f"{metric}, {month_end:%B} cumulative"
        st.altair_chart(charts.forecast_band(frame, cur, title, budget), width="stretch")
    tables.chart_data(frame, "forecast", "fc", cur)
    span = fc.period_total(start, until)
    st.markdown(
        f"**{label} ({day(start)} to {day(until)}): {money(span['yhat'], cur)}**: actual "
        f"{money(span['actual'], cur)} to {day(fc.as_of)}, then forecast (80 %: {money(span['lo80'], cur)} to {money(span['hi80'], cur)}; 95 %: "
        f"{money(span['lo95'], cur)} to {money(span['hi95'], cur)})."
    )


def _backtest(bt: backtest.Backtest) -> None:
    (st.success if bt.beats_naive else st.warning)(bt.summary())
    st.markdown(bt.band_summary())
    tables.show(
        bt.metrics.select(
            "label",
            "total_error",
            "daily_mape",
            "bias",
            "coverage80",
            "coverage95",
            "raw80",
            "raw95",
            "total80",
            "total95",
        ),
        key_columns=("label",),
        key="fc_backtest",
        column_config={
            "label": "Method",
            "total_error": st.column_config.NumberColumn("30-day total error", format="percent"),
            "daily_mape": st.column_config.NumberColumn("Daily MAPE", format="percent"),
            "bias": st.column_config.NumberColumn("Bias", format="percent"),
            "coverage80": st.column_config.NumberColumn("In 80 % band", format="percent"),
            "coverage95": st.column_config.NumberColumn("In 95 % band", format="percent"),
            "raw80": st.column_config.NumberColumn("In Prophet's own 80 %", format="percent"),
            "raw95": st.column_config.NumberColumn("In Prophet's own 95 %", format="percent"),
            "total80": st.column_config.NumberColumn("30-day total in 80 % band", format="percent"),
            "total95": st.column_config.NumberColumn("30-day total in 95 % band", format="percent"),
        },
    )
    st.caption(backtest.DEFINITIONS)


def _team_forecasts(
    version: str,
    sel: Selection,
    ev: events.Events,
    lines: pl.DataFrame,
    until: date,
    bar: st.delta_generator.DeltaGenerator,
) -> tuple[dict[str, outlook.ScopeForecast], str]:
    """Each team's and budget line's forecast, and the cache key that names them."""
    q = _history(sel)

    def series() -> dict[str, pl.DataFrame]:
        con = cache.connection()
        teams = outlook.top_values(con, q, C.x_Team, PLAN_TEAMS)  # within the caller's scope
        return outlook.histories(con, q, C.x_Team, teams) | budget_status.line_histories(con, q, lines)

    def fit(data: dict[str, pl.DataFrame]) -> dict[str, outlook.ScopeForecast]:
        def tick(done: int, total: int) -> None:
            bar.progress(
                0.4 + 0.6 * done / max(total, 1), text=f"Forecasting teams and budget lines: {done} of {total}"
            )

        return outlook.forecast_many(data, until, ev, progress=tick)

    key = f"{q!r}|{until}|{ev!r}|{lines.write_csv()}"
    result: dict[str, outlook.ScopeForecast] = cache.forecasts(version, key, series, fit)
    return result, key


def _track_records(
    version: str, fcs: dict[str, outlook.ScopeForecast], ev: events.Events
) -> tuple[dict[str, backtest.Backtest], str]:
    """Each team's backtest beside the baselines, on demand (one fit per origin and team); returns
    them by team (empty when not asked for) and their cache key."""
    teams = {k: f.actuals for k, f in fcs.items() if "/" not in k}
    if not st.toggle(f"Track record of each team ({backtest.ORIGINS * len(teams)} model fits)", key="fc_tr"):
        return {}, "no track records"
    bar = st.progress(0.0, text="Backtesting teams")

    def fit(data: dict[str, pl.DataFrame]) -> dict[str, backtest.Backtest]:
        def tick(done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"Backtesting teams: {done} of {total}")

        return outlook.backtest_many(data, ev, progress=tick)

    key = "track|" + "|".join(f"{k}:{v.height}:{v['cost'].sum()!r}" for k, v in teams.items()) + repr(ev)
    done: dict[str, backtest.Backtest] = cache.forecasts(version, key, lambda: teams, fit)
    table = backtest.track_records(done)
    bar.empty()
    wins = int(table["beats naive"].sum())
    st.markdown(f"This forecast beats seasonal naive on the 30-day total for **{wins} of {table.height}** teams.")
    pct = {
        c: st.column_config.NumberColumn(c[:1].upper() + c[1:], format="percent")
        for c in table.columns
        if c not in ("scope", "beats naive")
    }
    tables.show(table, key_columns=("scope",), headers={"scope": "Team"}, key="fc_tracks", column_config=pct)
    return done, key


def _budget_table(
    version: str, sel: Selection, period: str, fy: int, fcs: dict[str, outlook.ScopeForecast], fc_key: str
) -> None:
    start, end = budget_periods.range_of(period, fy)
    lines = budget_status.visible_lines(budgets.current(), period, sel.query, fy)
    if lines.is_empty():
        st.info(f"No {sel.currency} budgets for {period} ({day(start)} to {day(end)}) in your scope.")
        return
    key = f"budget status|{fc_key}|{lines.write_csv()}|{start}|{end}"
    table = cache.derived(version, key, lambda: budget_status.status(lines, fcs, start, end))
    allq = replace(_history(sel), start=start, end=min(end, sel.data_end))
    total = float(cache.total(version, repr(allq), allq)[allq.metric].sum()) if start <= sel.data_end else 0.0
    if total:
        covered = budget_status.covered_spend(lines, table)
        st.caption(f"{covered / total:.0%} of {period} spend to date ({money(total, sel.currency)}) is under a budget.")
    money_cols = ("budget", "actual to date", "forecast at period end", "forecast low (80 %)", "forecast high (80 %)")
    tables.show(
        table,
        sel.currency,
        key_columns=("budget line",),
        first=("budget", "forecast at period end", "variance"),
        money=(*money_cols, "variance"),
        key="fc_budget_table",
    )
    st.caption(
        f"{period}: {day(start)} to {day(end)}. Quarter and fiscal-year budgets add up the month and quarter "
        "lines inside them (“months budgeted” says how many months a line covers). Each line's 80 % range is "
        f"Prophet's own band for its period total, not calibrated per line (that takes {backtest.ORIGINS} more fits "
        "a line): read it as a floor. The selection's forecast above uses calibrated bands."
    )
    tables.downloads(table, f"budget-status-{period}", "bs")


def _budget_section(version: str, sel: Selection, ev: events.Events, bar: st.delta_generator.DeltaGenerator) -> None:
    st.subheader("Budgets by team")
    a, b = st.columns([1, 3])
    fy = _fiscal_pick(a, "bud_fy")
    periods = budget_periods.periods_around(sel.data_end, fy)
    labels = dict(
        zip(periods, ("this month", "next month", "this quarter", "next quarter", "this FY", "next FY"), strict=True)
    )
    period = b.radio("Period", periods, format_func=lambda p: f"{p} ({labels[p]})", horizontal=True, key="fc_period")
    horizon_end = max(budget_periods.range_of(p, fy)[1] for p in periods)
    until = max(horizon_end, outlook.horizon_end(sel.data_end, "12m"))
    all_lines = budget_status.scoped_lines(budgets.current(), sel.query)
    keys = all_lines.unique(subset=["team", "product", "sub_account", "currency"], maintain_order=True)
    fcs, fc_key = _team_forecasts(version, sel, ev, keys, until, bar)
    _budget_table(version, sel, period, fy, fcs, fc_key)
    teams = {k: v for k, v in fcs.items() if "/" not in k}
    backtests, bt_key = _track_records(version, fcs, ev)
    _plan(version, sel, teams, all_lines, backtests, f"{fc_key}|{bt_key}|{all_lines.write_csv()}")
    if st.session_state["user"].role in EDITORS:
        budget_editor.render(sel.currency, [periods[4], periods[5]], fy)


def _flags(flagged: pl.DataFrame) -> None:
    """Forecast months that jump beyond what the track record supports, before they go into a plan."""
    if flagged.is_empty():
        return
    st.warning(
        f"**{flagged.height} forecast month(s) jump beyond what the backtest supports**; check them before they go "
        "into a plan:\n\n" + "\n".join(f"- **{r['scope']}** {r['reason']}." for r in flagged.iter_rows(named=True))
    )


def _plan(
    version: str,
    sel: Selection,
    teams: dict[str, outlook.ScopeForecast],
    lines: pl.DataFrame,
    backtests: dict[str, backtest.Backtest],
    key: str,
) -> None:
    """The monthly plan by team; ``key`` names the forecasts, backtests and budget lines it is made of."""
    cals = {k: bt.calibration for k, bt in backtests.items()}
    st.subheader("Monthly forecast by team")

    def frames() -> tuple[pl.DataFrame, pl.DataFrame]:
        first, until = sel.data_end.replace(day=1), outlook.horizon_end(sel.data_end, "12m")
        flagged = plausibility.flags_many(teams, backtests)
        return plan_export.with_flags(plan_export.plan_table(teams, first, until, lines, cals), flagged), flagged

    plan, flagged = cache.derived(version, f"plan|{sel.data_end}|{key}", frames)
    _flags(flagged)
    wide = plan_export.wide(plan)
    bands = "calibrated by each team's backtest" if cals else "Prophet's own (turn on the track record to calibrate)"
    st.caption(
        "Teams as rows, months as columns: actual for past days, forecast for the rest, with totals. The export adds "
        f"each team-month's 80 % and 95 % bands ({bands}), the team's budget for the month and the difference."
    )
    tables.show(wide, sel.currency, key_columns=("Team",), money=tuple(wide.columns[1:]), key="fc_plan")
    tables.downloads(plan, "monthly-forecast-by-team", "plan")


def _snapshots(version: str, sel: Selection) -> None:
    st.subheader("Past forecasts against actuals")
    q = _history(sel)
    snaps = forecast_snapshots.snapshots(q, sel.currency)
    older = snaps.filter(pl.col("as_of") < sel.data_end)
    if older.is_empty():
        st.info(
            "Each month's first forecast of a scope is kept; none older than today's data for this selection yet. "
            "Come back after the next data load to see this forecast against what happened."
        )
        return
    pick = st.selectbox("Forecast made with data up to", older["as_of"].to_list(), key="fc_snap")
    row = older.filter(pl.col("as_of") == pick).row(0, named=True)
    actuals = cache.call(version, outlook.daily_actuals, replace(q, start=pick - timedelta(days=30)))
    frame = forecast_snapshots.against_actuals(int(row["id"]), actuals)
    st.altair_chart(charts.forecast_band(frame, sel.currency, "Cost per day"), width="stretch")
    st.caption(f"Saved {row['taken_at']} by {row['username']} from data version {row['data_version']}.")
    tables.chart_data(frame, f"forecast-{pick}-vs-actual", "snap", sel.currency)


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    st.title("Forecast & budgets")
    try:
        ev = events.load()
    except events.EventsError as exc:
        st.error(str(exc))
        return
    try:
        st.session_state["fiscal_start"] = budget_periods.fiscal_start()
    except ValueError as exc:
        st.error(f"{exc}. Set it in the environment the app runs in; using January meanwhile.")
        st.session_state["fiscal_start"] = 1
    seed.budgets_from_demo()
    bar = st.progress(0.0, text="Loading")
    _forecast_section(version, sel, ev, bar)
    _budget_section(version, sel, ev, bar)
    bar.empty()
    _snapshots(version, sel)


render(st.session_state["selection"])
