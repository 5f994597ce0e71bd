"""The only place that caches: every cached call is keyed by the store's data version.

A new publish changes the data version, so the next rerun reads fresh results at once.
Query results are also keyed by the full request (its repr includes the caller's scope).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import streamlit as st

from finops_core import db, drilldown, store
from finops_core.query import CostQuery, Scope
from finops_core.schema import C

MAX_ENTRIES = 512


def store_root() -> Path:
    return store.store_path()


def data_version() -> str | None:
    return store.current_version(store_root())


@st.cache_resource(max_entries=4)
def _connection(root: str, version: str) -> duckdb.DuckDBPyConnection:
    return store.connect(root, version)


def connection() -> duckdb.DuckDBPyConnection:
    """A cursor on the current version's shared connection (cursors are safe per thread)."""
    version = data_version()
    if version is None:
        raise store.StoreError(f"{store_root()}: the store is empty")
    return _connection(str(store_root()), version).cursor()


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def data_range(version: str) -> tuple[date, date]:
    row = db.rows(connection(), f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily")[0]
    return row[0], row[1]


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def dimension_values(version: str, dimension: str, key: str, _q: CostQuery) -> list[str]:
    """Distinct values of a dimension among the caller's in-scope rows, largest spend first."""
    frame = drilldown.cost_by_dimension(connection(), _q)
    return [v for v in frame[dimension].unique(maintain_order=True).to_list() if v is not None]


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def grouped(version: str, key: str, _q: CostQuery) -> pl.DataFrame:
    return drilldown.cost_by_dimension(connection(), _q)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def total(version: str, key: str, _q: CostQuery) -> pl.DataFrame:
    return drilldown.total(connection(), _q)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def timeseries(version: str, key: str, _q: CostQuery, dimension: str | None, top_n: int | None) -> pl.DataFrame:
    return drilldown.timeseries(connection(), _q, dimension, top_n)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def breakdown(version: str, key: str, _q: CostQuery, dimension: str, top_n: int) -> pl.DataFrame:
    return drilldown.breakdown(connection(), _q, dimension, top_n)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def movers(version: str, key: str, _q: CostQuery, dimension: str, _before: CostQuery | None = None) -> pl.DataFrame:
    """``key`` must name both requests (``repr((q, before))``)."""
    return drilldown.movers(connection(), _q, dimension, before=_before)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def run_rate(version: str, key: str, _q: CostQuery) -> pl.DataFrame:
    return drilldown.month_run_rate(connection(), _q)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def line_items(version: str, key: str, _q: CostQuery, page: int, page_size: int) -> tuple[pl.DataFrame, int]:
    return drilldown.line_items(connection(), _q, page, page_size)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _call(version: str, key: str, _fn: Callable[..., Any], _q: CostQuery, _args: tuple[Any, ...]) -> Any:
    return _fn(connection(), _q, *_args)


def call(version: str, fn: Callable[..., Any], q: CostQuery, *args: Any) -> Any:
    """``fn(connection, q, *args)`` cached by data version, function, request (scope included) and args.

    ``args`` must have a faithful repr (strings, numbers, None)."""
    return _call(version, f"{fn.__module__}.{fn.__qualname__}|{q!r}|{args!r}", fn, q, args)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _call_scoped(version: str, key: str, _fn: Callable[..., Any], _scope: Scope, _args: tuple[Any, ...]) -> Any:
    return _fn(connection(), _scope, *_args)


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _derived(version: str, key: str, _fn: Callable[[], Any]) -> Any:
    return _fn()


def derived(version: str, key: str, fn: Callable[[], Any]) -> Any:
    """``fn()`` cached by data version and ``key``, for results a page computes from other cached
    results (a plan table from cached forecasts): ``key`` must name everything ``fn`` reads, the
    caller's scope included (a forecast key holds the request's repr). Every session's rerun then
    reads it instead of recomputing it on the one interpreter all sessions share."""
    return _derived(version, key, fn)


def call_scoped(version: str, fn: Callable[..., Any], scope: Scope, *args: Any) -> Any:
    """``fn(connection, scope, *args)`` cached like ``call``, for functions that take a scope, not a query."""
    return _call_scoped(version, f"{fn.__module__}.{fn.__qualname__}|{scope.key()}|{args!r}", fn, scope, args)


FORECAST_ENTRIES = 8  # one entry: every team's sample paths (up to ~35 MB for 60 teams x 12 months)
_forecast_cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
_forecast_lock = threading.Lock()
_forecast_fitting: dict[tuple[str, str], threading.Lock] = {}  # one lock per key while it is fitted


def forecasts(version: str, key: str, series: Callable[[], dict[str, Any]], fit: Callable[..., Any]) -> Any:
    """``fit(series())``, cached by data version and ``key`` (which must name everything both depend on:
    request, horizon, events), least recently used out first. Sessions that miss the same key at
    once fit it once: the others wait for that fit (after a publish, 20 sessions on the Forecast
    page started 20 fits of ~13 s each and queued past a minute).

    Not ``st.cache_data``: that records the progress bar updates ``fit`` makes and replays them on a
    hit, where the bar no longer exists. Shared by all sessions like ``st.cache_data``."""
    entry = (version, key)
    with _forecast_lock:
        if entry in _forecast_cache:
            _forecast_cache.move_to_end(entry)
            return _forecast_cache[entry]
        fitting = _forecast_fitting.setdefault(entry, threading.Lock())
    with fitting:
        with _forecast_lock:
            if entry in _forecast_cache:  # fitted by the session this one waited for
                _forecast_cache.move_to_end(entry)
                return _forecast_cache[entry]
        try:
            value = fit(series())
        except BaseException:  # a failed fit is not cached; a waiting session tries its own
            with _forecast_lock:
                _forecast_fitting.pop(entry, None)
            raise
        with _forecast_lock:  # stored before the lock is dropped: a later arrival finds the value
            _forecast_cache[entry] = value
            _forecast_fitting.pop(entry, None)
            while len(_forecast_cache) > FORECAST_ENTRIES:
                _forecast_cache.popitem(last=False)
    return value


def _invoices_key() -> str:
    """Which saved invoices version is in force (an upload changes it without a new data version)."""
    from finops_core.trust import invoices

    saved = invoices.versions()
    return str(saved["version"][0]) if saved.height else "none"


@st.cache_data(max_entries=64, show_spinner=False)
def _invoices(version: str, key: str) -> tuple[pl.DataFrame | None, str]:
    from finops_core.trust import invoices

    return invoices.resolve(store_root())


def invoices_in_force(version: str) -> tuple[pl.DataFrame | None, str]:
    """The invoice lines reconciliation uses and where they come from (saved, demo file or none)."""
    return _invoices(version, _invoices_key())


@st.cache_data(max_entries=MAX_ENTRIES, show_spinner=False)
def _trust_line(
    version: str, scope_key: str, _scope: Scope, today: date, invoices_key: str, sync_key: str
) -> tuple[str, str]:
    from finops_core.trust import line, sync_status

    lines, _ = invoices_in_force(version)
    synced = sync_status.sync_part(datetime.now(UTC).replace(tzinfo=None))
    trust = line.trust_line(connection(), store_root(), _scope, lines, today, synced)
    return trust.text, trust.status


def trust_line(version: str, scope: Scope) -> tuple[str, str]:
    """(sentence, worst status) of the trust line for ``scope``, cached per data version, day and invoices."""
    from finops_core.trust import sync_status

    return _trust_line(version, scope.key(), scope, date.today(), _invoices_key(), sync_status.sync_key())


@st.cache_data(max_entries=64, show_spinner=False)
def reconciliation(version: str, tolerance: float, today: date, invoices_key: str) -> pl.DataFrame:
    from finops_core.query import ALL
    from finops_core.trust import reconcile

    lines, _ = invoices_in_force(version)
    return reconcile.reconciliation(connection(), lines, ALL, reconcile.Settings(tolerance, today))


@st.cache_data(max_entries=64, show_spinner=False)
def quality_checks(version: str, today: date) -> list[dict[str, Any]]:
    from finops_core.query import ALL
    from finops_core.trust import quality

    return [c.as_dict() for c in quality.checks(connection(), store_root(), ALL, today)]
