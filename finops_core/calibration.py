"""Forecast bands that hold what they claim, learned from rolling-origin backtest errors.

Prophet's own intervals do not hold what they claim on billing data: its noise term is one
Gaussian for the whole history, so anomaly days in the history widen every day's band (on the
demos its 80 % band is about 10 % of the forecast either side, the typical day's miss 2.3 %),
while its paths miss the level shifts that make most of a month's error; and its paths treat days
as independent, so a 30-day total's band is far too narrow. ``Calibration`` holds what a backtest
learned: factors on the 80 % and 95 % half-widths (daily coverage) and a correlation between a
path's days (totals); ``calibrated`` applies both to a forecast's bands and its sample paths.
Both allow for the next origin's level shift being a new draw known from only a few origins
(``_level_and_noise``, ``predictive_spread``). Figures per demo store: docs/forecast.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from finops_core.forecast import SEED, SeriesForecast


@dataclass(frozen=True)
class Calibration:
    """How far out the bands must reach, learned from out-of-sample residuals: ``k80`` (``k95``) is the
    factor on the forecast's own 80 % (95 %) half-width, on each side of yhat, that should hold 80 %
    (95 %) of a new origin's days (1.0: Prophet's band as it is). ``days``: how many residual days."""

    k80: float
    k95: float
    days: int
    rho: float = 0.0  # correlation of one path's days (see ``path_correlation``); 0: Prophet's own

    @classmethod
    def from_origins(cls, origins: list[tuple[pl.DataFrame, np.ndarray]]) -> Calibration | None:
        """From backtest origins (bands, actuals): the factors that hold 80 % (95 %) of the days a new
        origin would bring, when a day's miss is its origin's level shift plus that day's own noise
        (see ``_level_and_noise``). None with less than a week of residuals."""
        ks, days = [], 0
        for width, share in ((80, 80.0), (95, 95.0)):
            mixed = _level_and_noise([signed_scores(f, a, width) for f, a in origins])
            if mixed is None:
                return None
            ks.append(float(np.percentile(np.abs(mixed[0]), share)))
            days = mixed[1]
        return cls(ks[0], ks[1], days)


def signed_scores(daily: pl.DataFrame, actual: np.ndarray, width: int) -> np.ndarray:
    """Signed distance of each actual from yhat in units of the ``width`` % (80 or 95) half-width on its
    side (above yhat: hi - yhat; below: yhat - lo), so +-1.0 is the band's edge; NaN where it has none."""
    y = daily["yhat"].to_numpy()
    dev = actual - y
    half = np.where(dev >= 0, daily[f"hi{width}"].to_numpy() - y, y - daily[f"lo{width}"].to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(half > 1e-12, dev / half, np.nan)


DRAWS = 20_000  # simulated misses per factor: the 95 % quantile within about 1 % of its limit


def _level_and_noise(per_origin: list[np.ndarray]) -> tuple[np.ndarray, int] | None:
    """Simulated misses of a new origin's days, in band units, and how many residual days they rest on.
    An origin's misses are mostly one level shift (its mean score) plus day-to-day noise (the scores
    about that mean). The new origin's shift is drawn from a Student t with one degree of freedom per
    origin seen, scaled by the root mean square of their shifts: the predictive spread of a new draw
    when a few draws are all one knows of it (a plain quantile of a few origins' days says the next
    shift is no larger than the typical one seen, and the bands came out short). The noise is drawn
    from the days' own deviations, so its tails are what the data had."""
    scores = [s[np.isfinite(s)] for s in per_origin]
    scores = [s for s in scores if s.size]
    days = sum(s.size for s in scores)
    if days < 7:
        return None
    shifts = np.array([s.mean() for s in scores])
    noise = np.concatenate([s - s.mean() for s in scores])
    rng = np.random.default_rng(SEED)
    level = np.sqrt(np.mean(shifts**2)) * rng.standard_t(len(shifts), DRAWS)
    return level + rng.choice(noise, DRAWS), days


def predictive_spread(origins: int) -> float:
    """How many standard deviations (estimated from ``origins`` draws) a Gaussian band must reach to
    hold 80 % of a new draw: the Student t's 80 % quantile over the normal's (1.28 at 3 origins,
    1.10 at 8); applied to the totals' correlation like ``_level_and_noise`` to the daily bands."""
    t = np.random.default_rng(SEED).standard_t(max(origins, 1), 200_000)
    return float(np.percentile(np.abs(t), 80)) / Z80


Z80, Z95 = 1.2816, 1.9600  # standard normal quantiles of the 80 % and 95 % two-sided bands


def _total_spread(bands: pl.DataFrame) -> tuple[float, float]:
    """(A, B) with var(total) = A + rho * B when each day has the sd its 80 % band implies and every
    pair of days correlation rho: A = sum of variances, B = (sum of sds)^2 - A."""
    sd = (bands["hi80"].to_numpy() - bands["lo80"].to_numpy()) / (2 * Z80)
    a = float(np.sum(sd**2))
    return a, float(np.sum(sd) ** 2) - a


def path_correlation(origins: list[tuple[pl.DataFrame, np.ndarray]], spread: float = 1.0) -> float:
    """The correlation between a path's days that makes the horizon totals' errors at these origins
    (calibrated daily bands, actuals) ``1 / spread`` standard deviations on average (mean squared
    z = 1 / spread**2; ``spread`` > 1 leaves room for a new origin's error, see ``predictive_spread``).
    Prophet's paths have independent days, so their totals' bands are far too narrow: a scope's
    errors over a month are mostly one level shift. 0 when independent days already suffice."""
    spreads = [_total_spread(bands) for bands, _ in origins]
    errors = np.array([float(actual.sum() - bands["yhat"].sum()) for bands, actual in origins])

    def excess(rho: float) -> float:
        var = np.array([a + rho * b for a, b in spreads])
        return float(np.mean(errors**2 / np.maximum(var, 1e-12))) * spread**2 - 1.0

    if excess(0.0) <= 0:
        return 0.0
    lo, hi = 0.0, 1.0
    if excess(hi) > 0:
        return hi
    for _ in range(30):  # excess falls as rho grows: bisect
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return hi


def total_in_bands(bands: pl.DataFrame, actual: np.ndarray, rho: float) -> dict[str, float]:
    """Whether the horizon's actual total fell inside the 80 % / 95 % band of the total implied by
    these daily bands with correlation ``rho`` (1.0 or 0.0): the backtest's check of totals."""
    a, b = _total_spread(bands)
    sd = float(np.sqrt(max(a + rho * b, 0.0)))
    miss = abs(float(actual.sum() - bands["yhat"].sum()))
    return {"tot80": float(miss <= Z80 * sd), "tot95": float(miss <= Z95 * sd)}


def _couple(samples: np.ndarray, rho: float) -> np.ndarray:
    """Each day's samples permuted so that a path keeps a similar rank from day to day (a Gaussian
    copula with correlation ``rho``): every day's own distribution is exactly unchanged, the sum
    of a path over many days spreads as a level shift would."""
    days, n = samples.shape
    if rho <= 0 or n < 2:
        return samples
    rng = np.random.default_rng(SEED)
    latent = np.sqrt(rho) * rng.standard_normal((1, n)) + np.sqrt(1 - rho) * rng.standard_normal((days, n))
    ranks = np.argsort(np.argsort(latent, axis=1), axis=1)
    return np.take_along_axis(np.sort(samples, axis=1), ranks, axis=1)


def _widths(daily: pl.DataFrame, cal: Calibration) -> dict[str, np.ndarray]:
    """Old and new half-widths per day and side; the new 95 % band never inside the new 80 %."""
    y = daily["yhat"].to_numpy()
    w = {
        "up80": daily["hi80"].to_numpy() - y,
        "up95": daily["hi95"].to_numpy() - y,
        "down80": y - daily["lo80"].to_numpy(),
        "down95": y - daily["lo95"].to_numpy(),
    }
    w = {k: np.maximum(v, 0.0) for k, v in w.items()}
    for side in ("up", "down"):
        w[f"new_{side}80"] = cal.k80 * w[f"{side}80"]
        w[f"new_{side}95"] = np.maximum(cal.k95 * w[f"{side}95"], w[f"new_{side}80"])
    return w


def calibrated_bands(daily: pl.DataFrame, cal: Calibration) -> pl.DataFrame:
    """``daily`` (day, yhat, lo95 ... hi95) with its bounds moved to ``cal``'s widths."""
    y, w = daily["yhat"].to_numpy(), _widths(daily, cal)
    return daily.with_columns(
        pl.Series("lo95", y - w["new_down95"]),
        pl.Series("lo80", y - w["new_down80"]),
        pl.Series("hi80", y + w["new_up80"]),
        pl.Series("hi95", y + w["new_up95"]),
    )


def _stretch(dev: np.ndarray, w80: np.ndarray, w95: np.ndarray, n80: np.ndarray, n95: np.ndarray) -> np.ndarray:
    """One side of ``calibrated``'s map on deviations from yhat (>= 0, one row per day): [0, w80] onto
    [0, n80], [w80, w95] onto [n80, n95], and on beyond with that last slope."""
    w80, w95, n80, n95 = (a[:, None] for a in (w80, w95, n80, n95))
    has80, has95 = w80 > 1e-12, (w95 - w80) > 1e-12
    inner = np.divide(n80, w80, out=np.ones_like(w80), where=has80)
    outer = np.divide(n95 - n80, w95 - w80, out=inner.copy(), where=has95)
    mapped = np.where(dev <= w80, dev * inner, n80 + (dev - w80) * outer)
    return np.where(has80, mapped, dev)


def calibrated(fc: SeriesForecast, cal: Calibration | None) -> SeriesForecast:
    """``fc`` with ``cal``'s bands; each day's sample paths go through the same monotone map (old
    80 % / 95 % bounds onto the new ones) and are then re-paired across days with ``cal.rho``, so
    period totals summed from the paths get the spread the backtest's totals had."""
    if cal is None:
        return fc
    y, w = fc.daily["yhat"].to_numpy(), _widths(fc.daily, cal)
    dev = fc.samples - y[:, None]
    up = _stretch(np.maximum(dev, 0.0), w["up80"], w["up95"], w["new_up80"], w["new_up95"])
    down = _stretch(np.maximum(-dev, 0.0), w["down80"], w["down95"], w["new_down80"], w["new_down95"])
    samples = _couple((y[:, None] + np.where(dev >= 0, up, -down)).astype(fc.samples.dtype), cal.rho)
    note = (
        f"bands set from {cal.days} backtest days: the 80 % band is {cal.k80:.1f} times Prophet's own, "
        f"the 95 % band {cal.k95:.1f} times, and a path's days are correlated {cal.rho:.2f} so that totals "
        "spread as the backtest's did"
    )
    return SeriesForecast(calibrated_bands(fc.daily, cal), samples, (*fc.notes, note))
