"""Forecasts, backtests and snapshots: known answers on synthetic series, reconciliation on the demo."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from finops_core import backtest, calibration, drilldown, events, forecast, forecast_snapshots, outlook
from finops_core.query import CostQuery, QueryError, Scope
from finops_core.schema import C
from tests.conftest import DEMO_END

START = date(2025, 1, 1)


def _series(values: np.ndarray, start: date = START) -> pl.DataFrame:
    return pl.DataFrame({"day": [start + timedelta(days=i) for i in range(len(values))], "cost": values.astype(float)})


def _weekly_trend(n: int, seed: int = 1) -> pl.DataFrame:
    """Weekends at 70 %, a trend whose slope changes every 50 days (which is what makes Prophet's
    trend uncertain ahead), 3 % noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level = 1000 + np.cumsum(np.repeat(rng.normal(2, 3, n // 50 + 1), 50)[:n])
    week = np.where(t % 7 >= 5, 0.7, 1.0)
    return _series(level * week * rng.lognormal(0, 0.03, n))


WEEK = np.array([100.0, 120, 130, 125, 110, 60, 50])


def test_seasonal_naive_is_exact_on_a_weekly_periodic_series() -> None:
    series = _series(np.tile(WEEK, 44))
    bt = backtest.backtest(series, None)
    assert bt.figure("seasonal_naive") == 0.0
    assert bt.figure("seasonal_naive", "daily_mape") == 0.0
    assert bt.figure("seasonal_naive", "bias") == 0.0
    assert bt.origins["origin"].n_unique() == backtest.ORIGINS


def test_baselines_carry_month_start_fees_instead_of_repeating_or_averaging_them() -> None:
    """A weekly pattern plus a fee on each 1st: both baselines are exact at every origin; before, the
    naive forecast repeated the fee on that weekday every week and the run rate averaged it in."""
    days = [START + timedelta(days=i) for i in range(44 * 7)]
    fee = np.array([900.0 if d.day == 1 else 0.0 for d in days])
    bt = backtest.backtest(_series(np.tile(WEEK, 44) + fee), None)
    assert bt.figure("seasonal_naive") == pytest.approx(0.0, abs=1e-12)
    flat = backtest.backtest(_series(200.0 + fee), None)
    assert flat.figure("run_rate") == pytest.approx(0.0, abs=1e-12)
    # an origin on the 2nd: the month-to-date average would be (1100 + 200) / 2 without the fix
    history = _series(200.0 + fee[:33])
    assert history["day"][-1].day == 2
    assert backtest.run_rate(history, 5)["yhat"].to_list() == [200.0] * 5


def test_run_rate_error_on_a_linear_series_matches_the_formula() -> None:
    """No month-start effect in a line: the run rate is the mean of the month's days after the 1st,
    and each 1st ahead gets the last 1st's excess over the previous month's mean."""
    a, b, n, h = 500.0, 3.0, 320, backtest.HORIZON
    series = _series(a + b * np.arange(n))
    bt = backtest.backtest(series, None)

    def mean_after_first(lo: int, hi: int) -> float:  # mean of a + b*t over days lo..hi except 1sts
        t = [i for i in range(lo, hi + 1) if (START + timedelta(days=i)).day != 1]
        return a + b * float(np.mean(t))

    errors = []
    for k in range(backtest.ORIGINS):
        cut = n - h - k * backtest.STEP  # history = days 0..cut-1
        last = START + timedelta(days=cut - 1)
        month = last.replace(day=1) if last.day > 1 else (last - timedelta(days=1)).replace(day=1)
        level = mean_after_first((month - START).days, cut - 1)
        first = (last.replace(day=1) - START).days  # the last observed 1st
        prev = ((START + timedelta(days=first - 1)).replace(day=1) - START).days
        excess = a + b * first - mean_after_first(prev, first - 1)
        firsts = sum((START + timedelta(days=cut + j)).day == 1 for j in range(h))
        actual = h * a + b * (h * cut + h * (h - 1) / 2)
        errors.append(abs(h * level + firsts * excess - actual) / actual)
    assert bt.figure("run_rate") == pytest.approx(np.mean(errors), rel=1e-12)
    assert bt.figure("run_rate", "bias") < 0  # a flat run rate under-forecasts growth


def test_backtest_refuses_a_short_series() -> None:
    with pytest.raises(backtest.BacktestError, match="at least"):
        backtest.backtest(_series(np.ones(60)), None)


def test_intervals_nest_and_widen_with_horizon() -> None:
    fc = forecast.fit_predict(_weekly_trend(400), 120)
    d = fc.daily
    assert d.height == 120 and d["day"][0] == START + timedelta(days=400)
    assert (d["lo95"] <= d["lo80"]).all() and (d["lo80"] <= d["hi80"]).all() and (d["hi80"] <= d["hi95"]).all()
    width = (d["hi95"] - d["lo95"]).to_numpy()
    assert width[-14:].mean() > 2 * width[:14].mean()
    assert any("yearly seasonality off" in n for n in fc.notes)
    again = forecast.fit_predict(_weekly_trend(400), 120)
    assert again.daily.equals(d)  # seeded: the same series gives the same forecast


def test_period_total_interval_comes_from_summed_paths() -> None:
    fc = forecast.fit_predict(_weekly_trend(200), 30)
    total = fc.total(fc.daily["day"][0], fc.daily["day"][-1])
    assert total["yhat"] == pytest.approx(fc.daily["yhat"].sum())
    assert total["lo95"] < total["lo80"] < total["yhat"] < total["hi80"] < total["hi95"]
    # summed paths are tighter than summed daily bounds (noise averages out over a month)
    assert total["hi95"] - total["lo95"] < (fc.daily["hi95"] - fc.daily["lo95"]).sum()


def test_a_launch_in_the_events_file_is_a_step(tmp_path: Path) -> None:
    values = np.where(np.arange(300) >= 200, 2000.0, 1000.0) * np.random.default_rng(3).lognormal(0, 0.02, 300)
    series = _series(values)
    path = tmp_path / "events.yaml"
    path.write_text(
        f"holiday_country: null\nlaunches:\n  - name: new-product\n    date: {START + timedelta(days=200)}\n"
    )
    fc = forecast.fit_predict(series, 14, events.load(path))
    assert fc.daily["yhat"].mean() == pytest.approx(2000, rel=0.05)


def test_too_short_and_all_zero_series() -> None:
    with pytest.raises(forecast.ForecastError, match="at least"):
        forecast.fit_predict(_series(np.ones(10)), 5)
    flat = forecast.fit_predict(_series(np.zeros(60)), 5)
    assert flat.daily["yhat"].to_list() == [0.0] * 5 and flat.notes


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("holiday_country: XX\n", "events.yaml:1: holiday_country"),
        ("launches:\n  - name: a\n    date: 2026-13-01\n", "events.yaml:3: launches[0].date"),
        ("launches:\n  - name: a\n    when: 2026-01-01\n", "events.yaml:3: launches[0].when"),
        ("billing_calendar: [payday]\n", "events.yaml:1: billing_calendar"),
        ("surprise: 1\n", "events.yaml:1: surprise"),
    ],
)
def test_events_file_errors_name_the_line_and_field(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "events.yaml"
    path.write_text(text)
    with pytest.raises(events.EventsError) as err:
        events.load(path)
    assert str(err.value).startswith(f"{path}".replace("events.yaml", "") + where)


def test_shipped_events_file_loads() -> None:
    ev = events.load()
    assert ev.holiday_country == "US" and set(ev.billing_calendar) == {"month_start", "month_end"}
    days = {d for n, d, _, _ in ev.one_day_effects(date(2026, 1, 1), date(2026, 12, 31)) if n == "public_holiday"}
    assert date(2026, 12, 25) in days and date(2026, 11, 26) in days


def test_horizons() -> None:
    d = date(2026, 11, 14)
    assert outlook.horizon_end(d, "month") == date(2026, 11, 30)
    assert outlook.horizon_end(d, "quarter") == date(2026, 12, 31)
    assert outlook.horizon_end(d, "fiscal_year") == date(2026, 12, 31)
    assert outlook.horizon_end(d, "fiscal_year", fiscal_start_month=4) == date(2027, 3, 31)
    assert outlook.horizon_end(date(2027, 2, 1), "fiscal_year", fiscal_start_month=4) == date(2027, 3, 31)
    assert outlook.horizon_end(d, "12m") == date(2027, 10, 31)
    with pytest.raises(QueryError):
        outlook.horizon_end(d, "decade")
    assert outlook.horizon_start(d, "month") == date(2026, 11, 1)
    assert outlook.horizon_start(d, "quarter") == date(2026, 10, 1)
    assert outlook.horizon_start(d, "fiscal_year", fiscal_start_month=4) == date(2026, 4, 1)
    assert outlook.horizon_start(d, "12m") == date(2026, 11, 1)


def test_a_horizon_is_never_zero_days_long() -> None:
    """Data through a period's last day: the horizon is the next period's end (the 1st of every month
    for a demo built "yesterday"); it used to be the as-of day itself, which the forecast refused."""
    assert outlook.horizon_end(date(2026, 11, 30), "month") == date(2026, 12, 31)
    assert outlook.horizon_start(date(2026, 11, 30), "month") == date(2026, 12, 1)
    assert outlook.horizon_end(date(2026, 12, 31), "month") == date(2027, 1, 31)
    assert outlook.horizon_end(date(2026, 12, 31), "quarter") == date(2027, 3, 31)
    assert outlook.horizon_end(date(2026, 12, 31), "fiscal_year") == date(2027, 12, 31)
    assert outlook.horizon_end(date(2027, 3, 31), "fiscal_year", fiscal_start_month=4) == date(2028, 3, 31)
    assert outlook.horizon_end(date(2026, 2, 28), "12m") == date(2027, 1, 31)
    assert outlook.rolls_over(date(2026, 11, 30), "month") and not outlook.rolls_over(date(2026, 11, 29), "month")
    assert not outlook.rolls_over(date(2026, 11, 30), "quarter") and not outlook.rolls_over(date(2026, 11, 30), "12m")
    for day in (date(2026, 1, 31), date(2026, 2, 28), date(2026, 6, 30), date(2026, 12, 31)):
        for kind in outlook.HORIZONS:
            assert 1 <= (outlook.horizon_end(day, kind) - day).days <= outlook.MAX_DAYS


def _demo_query(**filters: str) -> CostQuery:
    flt = ((C.BillingCurrency, ("USD",)),) + tuple((k, (v,)) for k, v in filters.items())
    return CostQuery(date(2024, 1, 1), DEMO_END, filters=flt)


def test_forecast_history_reconciles_with_drilldown_total(con) -> None:  # type: ignore[no-untyped-def]
    for q in (_demo_query(), _demo_query(x_Team="payments"), replace(_demo_query(), metric=C.BilledCost)):
        actuals = outlook.daily_actuals(con, q)
        assert actuals["day"].min() == q.start and actuals["day"].max() == q.end
        assert actuals["cost"].sum() == pytest.approx(float(drilldown.total(con, q)[q.metric].sum()), abs=1e-6)
    with pytest.raises(QueryError, match="currency"):
        outlook.daily_actuals(con, CostQuery(date(2026, 1, 1), DEMO_END))


def test_viewer_scope_applies_to_forecast_actuals(con) -> None:  # type: ignore[no-untyped-def]
    scoped = outlook.daily_actuals(con, replace(_demo_query(), scope=Scope(teams=("payments",))))
    filtered = outlook.daily_actuals(con, _demo_query(x_Team="payments"))
    everything = outlook.daily_actuals(con, _demo_query())
    assert scoped.equals(filtered)
    assert scoped["cost"].sum() < 0.5 * everything["cost"].sum()


def test_prophet_beats_seasonal_naive_on_demo_total(con) -> None:  # type: ignore[no-untyped-def]
    bt = outlook.backtest_scope(con, _demo_query(), events.load())
    assert bt.beats_naive, bt.metrics
    assert "this forecast's 30-day error was" in bt.summary()
    assert "80 % band" in bt.band_summary() and bt.calibration is not None


def test_calibrated_bands_hold_their_share_of_days_over_the_demo_teams(con) -> None:  # type: ignore[no-untyped-def]
    """Out of sample (each origin calibrated on earlier ones only), pooled over every team: near 80 %
    and 95 % of days (here 82 % and 91 %). Prophet's own bands hold 86 % and 93 % of these days and
    its 30-day totals (independent days) 42 % and 51 %; the former calibration (a plain quantile of
    the earlier origins' days) held 76 % and 86 %: each of them fails here."""
    q = _demo_query()
    series = outlook.histories(con, q, C.x_Team, outlook.top_values(con, q, C.x_Team))
    done = outlook.backtest_many(series, events.load())
    days = pl.concat([bt.origins.filter(pl.col("method") == "prophet") for bt in done.values()])
    assert days["cal80"].count() >= len(series) * (backtest.ORIGINS - backtest.CAL_MIN)
    assert 0.75 <= days["cal80"].mean() <= 0.85  # type: ignore[operator]
    assert 0.88 <= days["cal95"].mean() <= 0.97  # type: ignore[operator]
    assert 0.6 <= days["tot80"].mean() <= 0.95  # type: ignore[operator]
    assert 0.75 <= days["tot95"].mean() <= 1.0  # type: ignore[operator]


def test_calibration_moves_bands_and_sample_paths_together() -> None:
    fc = forecast.fit_predict(_weekly_trend(200), 30)
    cal = calibration.Calibration(k80=2.0, k95=2.5, days=90)
    wide = calibration.calibrated(fc, cal)
    d, w = fc.daily, wide.daily
    assert w["yhat"].equals(d["yhat"])
    assert np.allclose(w["hi80"] - w["yhat"], 2.0 * (d["hi80"] - d["yhat"]))
    assert np.allclose(w["yhat"] - w["lo95"], 2.5 * (d["yhat"] - d["lo95"]))
    assert (w["hi95"] >= w["hi80"]).all() and (w["lo95"] <= w["lo80"]).all()
    for key, q in forecast.QUANTILES.items():  # the paths' own quantiles are the new bounds
        spread = (w["hi95"] - w["lo95"]).to_numpy()
        assert np.allclose(np.percentile(wide.samples, q, axis=1), w[key].to_numpy(), atol=0.02 * spread.mean())
    a, b = d["day"][0], d["day"][-1]
    assert wide.total(a, b)["hi80"] - wide.total(a, b)["lo80"] > 1.5 * (fc.total(a, b)["hi80"] - fc.total(a, b)["lo80"])


def test_correlated_paths_keep_each_day_and_widen_the_total() -> None:
    """Re-pairing the paths across days leaves every day's distribution exactly as it was, and the
    total's spread grows to what a correlation rho between days implies."""
    fc = forecast.fit_predict(_weekly_trend(200), 30)
    plain = calibration.calibrated(fc, calibration.Calibration(k80=1.0, k95=1.0, days=90))
    tied = calibration.calibrated(fc, calibration.Calibration(k80=1.0, k95=1.0, days=90, rho=0.8))
    assert np.array_equal(np.sort(plain.samples, axis=1), np.sort(tied.samples, axis=1))
    assert tied.daily.equals(plain.daily)
    a, b = fc.daily["day"][0], fc.daily["day"][-1]
    sd = tied.samples.sum(axis=0).std()
    var_a, var_b = calibration._total_spread(tied.daily)
    assert sd == pytest.approx(np.sqrt(var_a + 0.8 * var_b), rel=0.15)
    assert tied.total(a, b)["hi80"] - tied.total(a, b)["lo80"] > 2 * (
        plain.total(a, b)["hi80"] - plain.total(a, b)["lo80"]
    )


def test_path_correlation_matches_the_totals_errors() -> None:
    """Daily sd 1 over 30 days: independent days give the total an sd of sqrt(30); a total error of
    sqrt(30 + rho * 870) at every origin is matched by exactly that rho, and none is needed below."""
    day = pl.DataFrame(
        {"yhat": np.zeros(30), "lo80": np.full(30, -calibration.Z80), "hi80": np.full(30, calibration.Z80)}
    )
    for rho in (0.25, 0.6):
        miss = np.sqrt(30 + rho * 870)
        got = calibration.path_correlation([(day, np.full(30, miss / 30)), (day, np.full(30, -miss / 30))])
        assert got == pytest.approx(rho, abs=1e-6)
        # room for a new origin: errors of miss / 1.2 must be 1 / 1.2 sd, i.e. the same rho
        small = miss / 1.2
        got = calibration.path_correlation([(day, np.full(30, small / 30)), (day, np.full(30, -small / 30))], 1.2)
        assert got == pytest.approx(rho, abs=1e-6)
    assert calibration.path_correlation([(day, np.full(30, 0.1))]) == 0.0
    assert calibration.path_correlation([(day, np.full(30, 100.0))]) == 1.0


def test_a_few_origins_calibrate_for_the_next_origins_level_shift() -> None:
    """Each origin's misses are one level shift (sd 1 band unit) plus small daily noise. Learned from
    three origins, the bands must hold about 80 % of a *new* origin's days; the plain 80th percentile
    of the three origins' days (the former calibration) holds clearly fewer: it takes the typical
    shift seen for the largest to come."""
    rng = np.random.default_rng(3)
    band = pl.DataFrame(
        {
            "yhat": np.zeros(30),
            "lo80": -np.ones(30),
            "hi80": np.ones(30),
            "lo95": np.full(30, -1.5),
            "hi95": np.full(30, 1.5),
        }
    )

    def origin() -> np.ndarray:
        return rng.standard_normal() + 0.3 * rng.standard_normal(30)

    learned, plain = [], []
    for _ in range(200):
        seen = [(band, origin()) for _ in range(3)]
        cal = calibration.Calibration.from_origins(seen)
        assert cal is not None and cal.days == 90
        k_plain = np.percentile(np.abs(np.concatenate([a for _, a in seen])), 80)
        new = origin()
        learned.append(np.mean(np.abs(new) <= cal.k80))
        plain.append(np.mean(np.abs(new) <= k_plain))
    assert 0.76 <= np.mean(learned) <= 0.86
    assert np.mean(plain) < np.mean(learned) - 0.03
    assert calibration.Calibration.from_origins([(band.head(5), np.zeros(5))]) is None  # under a week


def test_predictive_spread_shrinks_to_one_with_more_origins() -> None:
    """Student t's 80 % quantile over the normal's: 1.638 / 1.2816 at 3 degrees of freedom."""
    assert calibration.predictive_spread(3) == pytest.approx(1.638 / calibration.Z80, rel=0.02)
    assert calibration.predictive_spread(3) > calibration.predictive_spread(8) > calibration.predictive_spread(200)
    assert calibration.predictive_spread(200) == pytest.approx(1.0, abs=0.02)


def test_calibration_is_learned_from_earlier_origins_only() -> None:
    """A series whose level jumps every month by a few %: Prophet's own bands miss most days; the
    calibrated ones, scored on later origins than they were learned from, hold far more."""
    rng = np.random.default_rng(5)
    n = 330
    level = 1000 * np.repeat(rng.lognormal(0, 0.04, n // 30 + 1), 30)[:n]
    series = _series(level * np.where(np.arange(n) % 7 >= 5, 0.7, 1.0) * rng.lognormal(0, 0.01, n))
    bt = backtest.backtest(series, lambda h, k: forecast.fit_predict(h, k).daily)
    scored = bt.origins.filter(pl.col("method") == "prophet")
    assert scored["cal80"].head(backtest.CAL_MIN).is_null().all()  # nothing earlier to learn from
    assert scored["cal80"].tail(1).is_not_null().all()
    assert bt.calibration is not None and bt.calibration.k80 > 1.5
    assert bt.figure("prophet", "coverage80") > bt.figure("prophet", "raw80") + 0.1  # type: ignore[operator]
    assert bt.calibration.rho > 0.3  # monthly level shifts: a path's days move together
    assert bt.figure("prophet", "total80") is not None


def test_month_outlook_and_plan_agree_with_period_total(con) -> None:  # type: ignore[no-untyped-def]
    q = _demo_query(x_Team="search")
    month_end = outlook.horizon_end(DEMO_END, "month")
    fc = outlook.scope_forecast(con, q, outlook.horizon_end(DEMO_END, "quarter"), events.load())
    cum = outlook.month_outlook(fc, month_end)
    total = fc.period_total(DEMO_END.replace(day=1), month_end)
    assert cum["yhat"][-1] == pytest.approx(total["yhat"])
    assert cum.filter(pl.col("day") == DEMO_END)["actual"][0] == pytest.approx(total["actual"])
    plan = outlook.monthly_plan({"search": fc}, date(2026, 9, 1), outlook.horizon_end(DEMO_END, "quarter"))
    assert plan.columns == [C.x_Team, "2026-09", "2026-10", "2026-11", "2026-12"]
    sept = outlook.daily_actuals(con, replace(q, start=date(2026, 9, 1), end=date(2026, 9, 30)))
    assert plan["2026-09"][0] == pytest.approx(sept["cost"].sum())
    assert plan["2026-10"][0] == pytest.approx(total["yhat"])


def test_parallel_forecasts_equal_sequential(con) -> None:  # type: ignore[no-untyped-def]
    q = replace(_demo_query(), start=date(2025, 10, 1))
    series = outlook.histories(con, q, C.x_Team, ["payments", "search", "ml", "identity"])
    until = DEMO_END + timedelta(days=20)
    one = outlook.forecast_many(series, until, events.load(), workers=1)
    two = outlook.forecast_many(series, until, events.load(), workers=2)
    assert list(one) == list(two) == ["payments", "search", "ml", "identity"]
    for key in one:
        assert np.allclose(one[key].forecast.daily["yhat"].to_numpy(), two[key].forecast.daily["yhat"].to_numpy())


def test_snapshot_is_kept_once_a_month_and_compared_with_actuals(con, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "state.sqlite"
    q = _demo_query(x_Team="payments")
    said = replace(q, end=DEMO_END - timedelta(days=20))
    fc = outlook.scope_forecast(con, said, DEMO_END + timedelta(days=5), events.load())
    snap = forecast_snapshots.save(fc, said, "USD", "payments", "fin", "v1", db)
    assert snap is not None
    assert forecast_snapshots.save(fc, said, "USD", "payments", "fin", "v1", db) is None  # the month's first stays
    listed = forecast_snapshots.snapshots(q, "USD", db)
    assert listed["id"].to_list() == [snap] and listed["as_of"][0] == said.end
    cmp = forecast_snapshots.against_actuals(snap, outlook.daily_actuals(con, q), db)
    assert cmp.height == 25 and cmp["actual"].null_count() == 5
    known = cmp.drop_nulls("actual")
    truth = outlook.daily_actuals(con, replace(q, start=said.end + timedelta(days=1)))
    assert known["actual"].sum() == pytest.approx(truth["cost"].sum())
    assert known["yhat"].to_list() == pytest.approx(fc.forecast.daily["yhat"].head(20).to_list())


def test_days_before_a_scope_existed_do_not_drag_the_trend() -> None:
    week = np.tile([1000.0, 1000, 1000, 1000, 1000, 700, 700], 6)
    # a service that started 42 days ago: Prophet puts no changepoint in the last 20 % of a history,
    # so 300 days of zeros before it would leave the trend no way to climb to its level
    series = _series(np.concatenate([np.zeros(300), week]))
    fc = forecast.fit_predict(series, 28)
    assert fc.daily["yhat"].sum() == pytest.approx(week[:28].sum(), rel=0.03)


def test_track_records_of_many_scopes() -> None:
    periodic = _series(np.tile([100.0, 120, 130, 125, 110, 60, 50], 40))
    series = {"periodic": periodic, "trend": _weekly_trend(280), "short": _series(np.ones(40))}
    done = outlook.backtest_many(series, events.Events(), workers=1)
    assert list(done) == ["periodic", "trend"]  # too short to backtest: left out
    table = backtest.track_records(done)
    row = table.filter(pl.col("scope") == "periodic").row(0, named=True)
    assert row["seasonal naive"] == 0.0 and row["beats naive"] is False  # nothing beats an exact baseline
    assert table["this forecast"].is_not_null().all() and table["in 95 % band"].is_not_null().all()
