"""The commitment x day table stored at publish answers every commitments question the pages, the
digest and the pack ask exactly as the live queries over the rows do (``stored=False``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from finops_core import commitment_days, db, store
from finops_core import commitments as cm
from finops_core.demo import DemoConfig, build_demo
from finops_core.query import CostQuery, Scope
from finops_core.schema import C

COVERAGE_BY = (C.ServiceName, C.RegionId, C.SubAccountName, C.x_Team, C.ProviderName)  # views/commitments.py
# (seed, end): the session store, and two month ends (a month-to-date of one whole month)
OTHER_STORES = ((11, date(2026, 6, 30)), (23, date(2026, 3, 31)))
REL = 1e-9


@pytest.fixture(scope="module", params=["session", *(f"{s}-{e}" for s, e in OTHER_STORES)])
def root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if request.param == "session":
        path: Path = request.getfixturevalue("demo_store")
        return path
    seed, end = next((s, e) for s, e in OTHER_STORES if f"{s}-{e}" == request.param)
    path = tmp_path_factory.mktemp(f"cdays-{seed}")
    build_demo(path, DemoConfig(seed=seed, end=end, rows=60_000))
    return path


@pytest.fixture()
def con(root: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = store.connect(root)
    yield c
    c.close()


def _keys(frame: pl.DataFrame) -> list[str]:
    return [c for c, t in frame.schema.items() if t in (pl.String, pl.Date, pl.Datetime("us", "UTC"))]


def _same(stored: pl.DataFrame, live: pl.DataFrame) -> None:
    assert stored.columns == live.columns
    keys = _keys(live)
    assert_frame_equal(
        stored.sort(keys, nulls_last=True),
        live.sort(keys, nulls_last=True),
        rel_tol=REL,
        abs_tol=REL,
        check_dtypes=True,
    )


def _scopes(con: duckdb.DuckDBPyConnection) -> list[Scope]:
    """All rows; the team and the sub account with the most commitment usage (viewers' scopes)."""
    team, sub = (
        db.rows(
            con,
            f"SELECT {col} FROM costs WHERE {C.CommitmentDiscountStatus} = 'Used' AND {col} IS NOT NULL "
            f"GROUP BY 1 ORDER BY sum({C.EffectiveCost}) DESC LIMIT 1",
        )[0][0]
        for col in (C.x_Team, C.SubAccountId)
    )
    return [Scope(), Scope(teams=(team,)), Scope(sub_accounts=(sub,)), Scope(teams=("no-such-team",))]


def _queries(con: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, CostQuery]]:
    """The page's queries (month to date, last 12 months by month, last 30 days), in the main
    currency and (as the digest and pack ask) in every currency, in every scope."""
    end = db.rows(con, f"SELECT max({C.x_ChargeDate}) FROM daily")[0][0]
    currency = db.rows(con, f"SELECT {C.BillingCurrency} FROM daily GROUP BY 1 ORDER BY sum({C.EffectiveCost}) DESC")
    for scope in _scopes(con):
        for filters in (((C.BillingCurrency, (currency[0][0],)),), ()):
            mtd = CostQuery(end.replace(day=1), end, filters=filters, scope=scope)
            yield f"mtd {scope.key()} {filters}", mtd
            yield f"year {scope.key()} {filters}", replace(mtd, start=end - timedelta(days=364), grain="month")
            yield f"30d {scope.key()} {filters}", replace(mtd, start=end - timedelta(days=29))


def _check(con: duckdb.DuckDBPyConnection, call: Callable[[CostQuery, bool], object], q: CostQuery) -> None:
    assert commitment_days.where(con, q) is not None, "the table must answer this question"
    stored, live = call(q, True), call(q, False)
    if isinstance(stored, pl.DataFrame):
        assert isinstance(live, pl.DataFrame)
        _same(stored, live)
    elif isinstance(stored, float):
        assert stored == pytest.approx(live, rel=REL)
    else:
        assert stored == live


def test_the_table_answers_as_the_rows_do(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    inventory = root / "demo" / "commitments.csv"
    assert inventory.exists()
    calls: dict[str, Callable[[CostQuery, bool], object]] = {
        "utilization": lambda q, s: cm.commitment_utilization(con, q, stored=s),
        "utilization by period": lambda q, s: cm.commitment_utilization(con, q, by_period=True, stored=s),
        "utilization by type": lambda q, s: cm.utilization_by_type(con, q, stored=s),
        "coverage": lambda q, s: cm.commitment_coverage(con, q, stored=s),
        **{f"coverage by {by}": lambda q, s, by=by: cm.commitment_coverage(con, q, by, stored=s) for by in COVERAGE_BY},
        "coverage trend": lambda q, s: cm.coverage_trend(con, q, stored=s),
        "effective savings rate": lambda q, s: cm.effective_savings_rate(con, q, stored=s),
        "expirations": lambda q, s: cm.expirations_from_file(con, q, None, stored=s),
        "expirations with inventory": lambda q, s: cm.expirations_from_file(con, q, str(inventory), stored=s),
        "eligible services": lambda q, s: cm.eligible_services(con, q, stored=s),
        "observed discount": lambda q, s: cm.observed_discount(con, q, stored=s),
    }
    answered = 0
    for _, q in _queries(con):
        for call in calls.values():
            _check(con, call, q)
        answered += 1
    assert answered == 4 * 2 * 3
    # the questions have answers: not a comparison of empty frames
    q = next(q for name, q in _queries(con) if name.startswith("year"))
    assert cm.commitment_utilization(con, q)["used"].sum() > 0
    assert cm.coverage_trend(con, q)["covered"].sum() > 0
    assert cm.expirations(con, q).height > 0


def _summed(result: dict[str, object]) -> dict[str, object]:
    curve = result.pop("curve")
    assert isinstance(curve, pl.DataFrame)
    return result | {"curve": curve.sum().row(0) if curve.height else ()}


def test_purchase_sizing_from_the_table(con: duckdb.DuckDBPyConnection) -> None:
    """The sizing section's calls: per provider, all eligible services or each covered one."""
    for _, q in _queries(con):
        if not q.filters or q.grain != "day" or q.days != 30:
            continue
        for provider in cm.commitment_utilization(con, q)[C.ProviderName].unique().sort():
            pq = q.with_filter(C.ProviderName, (provider,))
            covered = cm.commitment_coverage(con, pq, C.ServiceName)[C.ServiceName].to_list()
            for sq in (pq, *(pq.with_filter(C.ServiceName, (s,)) for s in covered)):
                assert commitment_days.where(con, sq) is not None
                stored, live = _summed(cm.purchase_sizing(con, sq)), _summed(cm.purchase_sizing(con, sq, stored=False))
                assert stored.keys() == live.keys()
                for key, value in stored.items():
                    assert value == pytest.approx(live[key], rel=REL, abs=REL), (key, sq, stored, live)


def test_a_question_the_table_cannot_answer_reads_the_rows(con: duckdb.DuckDBPyConnection) -> None:
    end = db.rows(con, f"SELECT max({C.x_ChargeDate}) FROM daily")[0][0]
    q = CostQuery(end - timedelta(days=29), end).with_filter("tag:team", ("payments", "(not set)"))
    assert commitment_days.where(con, q) is None
    _same(cm.commitment_utilization(con, q), cm.commitment_utilization(con, q, stored=False))
    assert cm.commitment_utilization(con, q).height > 0


def test_the_table_keeps_currencies_apart(con: duckdb.DuckDBPyConnection) -> None:
    """Asked for every currency, each currency's rows are those asked for that currency alone."""
    end = db.rows(con, f"SELECT max({C.x_ChargeDate}) FROM daily")[0][0]
    q = CostQuery(end - timedelta(days=364), end)
    currencies = [r[0] for r in db.rows(con, f"SELECT DISTINCT {C.BillingCurrency} FROM {commitment_days.VIEW}")]
    assert len(currencies) >= 2
    answered = set()
    for fn in (cm.commitment_utilization, cm.coverage_trend, cm.effective_savings_rate):
        every = fn(con, q)
        answered |= set(every[C.BillingCurrency])
        for cur in currencies:
            _same(every.filter(pl.col(C.BillingCurrency) == cur), fn(con, q.with_filter(C.BillingCurrency, (cur,))))
    assert answered == set(currencies)
