"""Daily cost forecasts with Prophet: the one module where pandas appears (Prophet demands it).

``fit_predict`` takes a daily series (one row per day: ``day``, ``cost``) and returns the point
forecast, 80 % and 95 % intervals and the sample paths behind them. One MAP fit per series; both
intervals come from the same ``predictive_samples`` draw (the quantiles of one set of simulated
paths), so a second fit per interval width is never needed, and period totals (month end, quarter
end) get their intervals by summing each simulated path, not by adding daily bounds.

Model: multiplicative weekly seasonality (cloud spend dips by a share at weekends), yearly
seasonality only when the history covers two full years at every backtest origin (see
``yearly_min_span``), automatic trend changepoints, public
holidays from the ``holidays`` package (offline), month-start and month-end billing effects, and
launches from ``data/rules/events.yaml`` as step regressors. Prophet's sampling uses NumPy's global
generator, so every fit seeds it with ``SEED``: the same series always gives the same forecast.

Prophet's own intervals hold fewer days than they claim on billing data: ``calibration`` widens
them, and ties a path's days together, from the backtest's errors.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from finops_core.events import Events

SEED = 20_261
SAMPLES = 400  # simulated paths per forecast; 400 keep the 2.5 % quantile within about 1 % of 2000's
PROPHET_YEARLY_SPAN = 731  # days between first and last point; Prophet's own rule is "more than two years"
MIN_HISTORY = 28
QUANTILES = {"lo95": 2.5, "lo80": 10.0, "hi80": 90.0, "hi95": 97.5}
_RNG_LOCK = threading.Lock()
OUTPUT_SCHEMA = {"day": pl.Date, "yhat": pl.Float64, **{k: pl.Float64 for k in QUANTILES}}


class ForecastError(ValueError):
    """A series that cannot be forecast; the message says why."""


@dataclass(frozen=True)
class SeriesForecast:
    """Forecast of one daily series: ``daily`` has one row per future day (day, yhat, lo95, lo80,
    hi80, hi95); ``samples`` is (days x SAMPLES) simulated paths; ``notes`` say what was left out."""

    daily: pl.DataFrame
    samples: np.ndarray
    notes: tuple[str, ...] = field(default=())

    def total(self, start: date, end: date) -> dict[str, float]:
        """Forecast sum over [start, end] (future days only): yhat and the interval bounds."""
        days = self.daily["day"].to_list()
        idx = [i for i, d in enumerate(days) if start <= d <= end]
        paths = self.samples[idx].sum(axis=0) if idx else np.zeros(self.samples.shape[1] or 1)
        out = {"yhat": float(self.daily["yhat"].gather(idx).sum()) if idx else 0.0}
        out |= {k: float(np.percentile(paths, q)) for k, q in QUANTILES.items()}
        return out


def quiet() -> None:
    """Silence cmdstanpy's INFO lines and Prophet's chatter (called in every worker process)."""
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        # cmdstanpy (re)configures its logger on first use, so a level set now would not stick
        logging.getLogger(name).disabled = True


def _holidays(events: Events, first: date, last: date) -> pd.DataFrame:
    rows = [(name, d, lo, hi) for name, d, lo, hi in events.one_day_effects(first, last)]
    return pd.DataFrame(
        {
            "holiday": [r[0] for r in rows],
            "ds": pd.to_datetime([r[1] for r in rows]),
            "lower_window": [r[2] for r in rows],
            "upper_window": [r[3] for r in rows],
        }
    )


def _flat(history: pl.DataFrame, horizon: int, note: str) -> SeriesForecast:
    last = history["day"].max()
    assert isinstance(last, date)
    days = [last + timedelta(days=i + 1) for i in range(horizon)]
    level = float(history["cost"].tail(7).to_numpy().mean())
    daily = pl.DataFrame({"day": days, "yhat": [level] * horizon, **{k: [level] * horizon for k in QUANTILES}})
    return SeriesForecast(daily.cast(OUTPUT_SCHEMA), np.full((horizon, 1), level), (note,))  # type: ignore[arg-type]


def yearly_min_span() -> int:
    """Days of history (first to last day with cost) from which yearly seasonality is fitted: two full
    years (Prophet's rule) at the backtest's earliest origin, which sees HORIZON + (ORIGINS - 1) x STEP
    fewer days than the live fit (731 + 30 + 7 x 30 = 971). With less, a year of history holds each
    calendar month once, so a one-off step (a launch a year ago) is learned as if it recurred every
    year, and the backtest, whose origins are all too short for yearly seasonality, cannot see it."""
    from finops_core import backtest  # backtest -> calibration -> forecast: imported on use

    return PROPHET_YEARLY_SPAN + backtest.HORIZON + (backtest.ORIGINS - 1) * backtest.STEP


def _started(history: pl.DataFrame) -> pl.DataFrame:
    """The history from its first day with cost: days before a team or service existed are not a
    level of zero for the trend to climb from."""
    started = history["cost"].abs() > 1e-9
    return history.slice(int(started.arg_max() or 0)) if started.any() else history


def wants_yearly(history: pl.DataFrame) -> bool:
    """Whether ``fit_predict`` fits yearly seasonality on ``history`` by default (``yearly_min_span``)."""
    started = _started(history)
    first, last = started["day"].min(), started["day"].max()
    return isinstance(first, date) and isinstance(last, date) and (last - first).days >= yearly_min_span()


def fit_predict(
    history: pl.DataFrame, horizon: int, events: Events | None = None, yearly: bool | None = None
) -> SeriesForecast:
    """Forecast ``horizon`` days after the last day of ``history`` (columns day, cost; one row per
    day, no gaps). ``yearly``: fit yearly seasonality (None: ``wants_yearly``; a backtest passes the
    live fit's choice to every origin so it judges the same model). Without it, a note says why."""
    quiet()
    from prophet import Prophet

    if horizon < 1:
        raise ForecastError(f"horizon must be at least one day, got {horizon}")
    events = events or Events()
    history = _started(history)
    n = history.height
    if n < MIN_HISTORY:
        raise ForecastError(f"only {n} days of history; a forecast needs at least {MIN_HISTORY}")
    costs = history["cost"].to_numpy().astype(float)
    if np.allclose(costs, 0.0):
        return _flat(history, horizon, "no cost in the history: the forecast is zero")
    first, last = history["day"].min(), history["day"].max()
    assert isinstance(first, date) and isinstance(last, date)
    notes = []
    if yearly is None:
        yearly = (last - first).days >= yearly_min_span()
    if not yearly:
        notes.append(
            f"yearly seasonality off: {n} days of history (it needs {yearly_min_span() + 1}: two full years at every "
            "backtest origin); weekly seasonality, trend and known events only"
        )
    end = last + timedelta(days=horizon)
    model = Prophet(
        growth="linear",
        weekly_seasonality=True,
        yearly_seasonality=yearly,
        daily_seasonality=False,
        seasonality_mode="multiplicative",
        holidays=_holidays(events, first, end),
        uncertainty_samples=SAMPLES,
    )
    frame = pd.DataFrame({"ds": pd.to_datetime(history["day"].to_list()), "y": costs})
    future = pd.DataFrame({"ds": pd.date_range(last + timedelta(days=1), periods=horizon, freq="D")})
    for name, start in events.launches_within(first, last):
        model.add_regressor(name, mode="additive")
        frame[name] = (frame["ds"] >= pd.Timestamp(start)).astype(float)
        future[name] = 1.0
    notes += [
        f"launch {e!r} on {d} is too recent to estimate and is not modelled" for e, d in events.launches_after(last)
    ]
    # Prophet draws from NumPy's global generator: seed it, and let no other thread draw in between
    with _RNG_LOCK, warnings.catch_warnings():
        np.random.seed(SEED)
        warnings.simplefilter("ignore", category=FutureWarning)  # Prophet 1.5 on pandas 3: inplace= deprecations
        warnings.simplefilter("ignore", category=DeprecationWarning)
        model.fit(frame, seed=SEED)
        return _predict(model, future, tuple(notes))


def _predict(model: Any, future: pd.DataFrame, notes: tuple[str, ...]) -> SeriesForecast:
    samples = np.asarray(model.predictive_samples(future)["yhat"], dtype=float)
    model.uncertainty_samples = 0  # the point forecast needs no second draw
    yhat = model.predict(future)["yhat"].to_numpy()
    data: dict[str, Any] = {"day": [d.date() for d in future["ds"]], "yhat": yhat}
    for key, q in QUANTILES.items():
        data[key] = np.percentile(samples, q, axis=1)
    return SeriesForecast(pl.DataFrame(data, schema=OUTPUT_SCHEMA), samples, notes)
