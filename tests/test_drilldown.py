"""Query results against an independent pure-Polars computation on the exported rows."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops_core import drilldown
from finops_core.query import NOT_SET, OTHER, CostQuery, QueryError, Scope, compile_where, dimension_sql, view_for
from finops_core.rollups import current_rules
from finops_core.schema import QUERY_DIMENSIONS, ROLLUP_DIMENSIONS, C
from tests.allocation_ref import allocate

START, END = date(2026, 7, 1), date(2026, 9, 30)


@pytest.fixture(scope="module")
def rows(demo_rows: pl.DataFrame) -> pl.DataFrame:
    """Raw rows allocated here (tests/allocation_ref.py), independently of the store's SQL engine."""
    return allocate(demo_rows, current_rules())


def _expected(rows: pl.DataFrame, q: CostQuery, dims: tuple[str, ...]) -> dict[tuple[str, ...], float]:
    sel = rows.filter(pl.col(C.x_ChargeDate).is_between(q.start, q.end))
    for dim, values in q.filters:
        sel = sel.filter(pl.col(dim).fill_null(NOT_SET).is_in(list(values)))
    keys = [d for d in dims if d != C.BillingCurrency]
    out = sel.group_by([pl.col(d).fill_null(NOT_SET) for d in keys] + [C.BillingCurrency]).agg(pl.col(q.metric).sum())
    return {tuple(r[:-1]): r[-1] for r in out.iter_rows()}


def _got(frame: pl.DataFrame, dims: tuple[str, ...], metric: str) -> dict[tuple[str, ...], float]:
    keys = [d for d in dims if d != C.BillingCurrency]
    return {tuple(r[:-1]): r[-1] for r in frame.select(*keys, C.BillingCurrency, metric).iter_rows()}


@pytest.mark.parametrize("dim", QUERY_DIMENSIONS)
def test_parts_sum_to_total_and_match_polars(con, rows: pl.DataFrame, dim: str) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(START, END, group_by=(dim,))
    got = _got(drilldown.cost_by_dimension(con, q), (dim,), q.metric)
    want = _expected(rows, q, (dim,))
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-6)
    totals = dict(drilldown.total(con, q).iter_rows())
    for cur, value in totals.items():
        assert sum(v for k, v in got.items() if k[-1] == cur) == pytest.approx(value, rel=1e-9)


def test_tag_dimension_and_filters(con, rows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(START, END, group_by=("tag:application",), filters=((C.ProviderName, ("AWS",)),))
    got = _got(drilldown.cost_by_dimension(con, q), ("tag:application",), q.metric)
    sel = rows.filter(pl.col(C.x_ChargeDate).is_between(START, END) & (pl.col(C.ProviderName) == "AWS"))
    app = sel[C.Tags].map_elements(lambda t: json.loads(t).get("application") if t else None, return_dtype=pl.String)
    want = (
        sel.with_columns(app.fill_null(NOT_SET).alias("a")).group_by("a", C.BillingCurrency).agg(pl.col(q.metric).sum())
    )
    assert got == pytest.approx({(a, c): v for a, c, v in want.iter_rows()}, rel=1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    metric=st.sampled_from([C.EffectiveCost, C.BilledCost, C.ListCost, C.ContractedCost]),
    dims=st.lists(
        st.sampled_from(ROLLUP_DIMENSIONS[:12] + (C.x_Team, C.ResourceType, C.SkuId)),
        min_size=1,
        max_size=2,
        unique=True,
    ),
    offset=st.integers(0, 600),
    length=st.integers(0, 120),
)
def test_random_two_way_groupings_match_polars(con, rows, metric, dims, offset, length) -> None:  # type: ignore[no-untyped-def]
    start = date(2024, 10, 1).fromordinal(date(2024, 10, 1).toordinal() + offset)
    q = CostQuery(start, start.fromordinal(start.toordinal() + length), group_by=tuple(dims), metric=metric)
    got = _got(drilldown.cost_by_dimension(con, q), tuple(dims), metric)
    want = _expected(rows, q, tuple(dims))
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-6)


def test_scope_keeps_only_allowed_rows(con, rows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    scope = Scope(teams=("payments",), sub_accounts=("acme-gke-shared",))
    q = CostQuery(START, END, group_by=(C.SubAccountId,), scope=scope)
    got = drilldown.cost_by_dimension(con, q)
    sel = rows.filter(
        pl.col(C.x_ChargeDate).is_between(START, END)
        & ((pl.col(C.x_Team) == "payments") | (pl.col(C.SubAccountId) == "acme-gke-shared"))
    )
    assert dict(drilldown.total(con, q).iter_rows())["USD"] == pytest.approx(
        sel.filter(pl.col(C.BillingCurrency) == "USD")[C.EffectiveCost].sum(), rel=1e-9
    )
    assert set(got[C.SubAccountId]) == set(sel[C.SubAccountId])


def test_timeseries_top_n_keeps_totals(con) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(START, END, grain="week")
    series = drilldown.timeseries(con, q, C.ServiceName, top_n=5)
    assert series.filter(pl.col(C.BillingCurrency) == "USD")[C.ServiceName].n_unique() == 6
    assert OTHER in series[C.ServiceName].to_list()
    for cur, value in drilldown.total(con, q).iter_rows():
        assert series.filter(pl.col(C.BillingCurrency) == cur)[q.metric].sum() == pytest.approx(value, rel=1e-9)
    monthly = drilldown.timeseries(con, CostQuery(START, END, grain="month"))
    assert monthly["period"].to_list()[:3] == [date(2026, 7, 1), date(2026, 7, 1), date(2026, 8, 1)]


def test_breakdown_shares_and_other(con) -> None:  # type: ignore[no-untyped-def]
    out = drilldown.breakdown(con, CostQuery(START, END), C.ServiceName, top_n=8)
    usd = out.filter(pl.col(C.BillingCurrency) == "USD")
    assert usd.height == 9 and usd[C.ServiceName][-1] == OTHER
    assert usd["share"].sum() == pytest.approx(1.0)


def test_movers_compare_with_the_previous_period(con, rows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(date(2026, 9, 1), date(2026, 9, 30))
    out = drilldown.movers(con, q, C.x_Team)
    prev = q.previous()
    assert (prev.start, prev.end) == (date(2026, 8, 1), date(2026, 8, 31))  # the calendar month before
    row = out.filter((pl.col(C.x_Team) == "payments") & (pl.col(C.BillingCurrency) == "USD")).row(0, named=True)
    want_prev = _expected(rows, CostQuery(prev.start, prev.end, group_by=(C.x_Team,)), (C.x_Team,))
    assert row["previous"] == pytest.approx(want_prev[("payments", "USD")], rel=1e-9)
    assert row["delta"] == pytest.approx(row["current"] - row["previous"])
    deltas = out["delta"].abs().to_list()
    assert deltas == sorted(deltas, reverse=True)


def test_line_items_page_through_every_row(con, rows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(
        date(2026, 9, 1),
        date(2026, 9, 30),
        filters=((C.SubAccountName, ("payments-prod",)), (C.ServiceName, ("Amazon Simple Queue Service",))),
    )
    first, count = drilldown.line_items(con, q, page=0, page_size=50)
    want = rows.filter(
        pl.col(C.x_ChargeDate).is_between(q.start, q.end)
        & (pl.col(C.SubAccountName) == "payments-prod")
        & (pl.col(C.ServiceName) == "Amazon Simple Queue Service")
    )
    assert count == want.height and first.height == min(50, count)
    pages = [drilldown.line_items(con, q, page=p, page_size=50)[0] for p in range((count + 49) // 50)]
    assert pl.concat(pages)[C.EffectiveCost].sum() == pytest.approx(want[C.EffectiveCost].sum(), rel=1e-9)


def test_requests_are_validated() -> None:
    with pytest.raises(QueryError, match="unknown dimension"):
        CostQuery(START, END, group_by=("Bogus; DROP TABLE x",))
    with pytest.raises(QueryError, match="at most two"):
        CostQuery(START, END, group_by=(C.ServiceName, C.RegionId, C.SubAccountId))
    with pytest.raises(QueryError, match="after"):
        CostQuery(END, START)
    with pytest.raises(QueryError, match="metric"):
        CostQuery(START, END, metric="Cost")


def test_queries_use_the_smallest_view() -> None:
    assert view_for({C.ServiceName, C.x_Team}) == "daily"
    assert view_for({C.ResourceId, C.x_Team}) == "resource_daily"
    assert view_for({"tag:team"}) == "raw_rows"  # no allocation column: the rows as billed
    assert view_for({"tag:team", C.x_Team}) == "costs"
    assert view_for({C.SkuId, C.x_AllocationRule}) == "costs"


def test_raw_and_allocated_views_agree_on_every_non_allocation_grouping(con) -> None:  # type: ignore[no-untyped-def]
    """A split moves cost between teams but never changes a charge's sum per any other column."""
    for dim in ("tag:team", C.SkuId, C.CommitmentDiscountId, C.AvailabilityZone):
        q = CostQuery(START, END, group_by=(dim,))
        via_raw = _got(drilldown.cost_by_dimension(con, q), (dim,), q.metric)
        _, where, params = compile_where(q)
        expr = dimension_sql(dim, p := [])
        rows = con.execute(
            f"SELECT {expr}, {C.BillingCurrency}, sum({q.metric}) FROM costs WHERE {where} GROUP BY ALL", p + params
        ).fetchall()
        via_costs = {(r[0] if r[0] is not None else NOT_SET, r[1]): r[2] for r in rows}
        assert via_raw.keys() == via_costs.keys()
        for k, v in via_raw.items():
            assert v == pytest.approx(via_costs[k], rel=1e-9, abs=1e-6)


def test_filter_values_are_bound_not_formatted(con) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(START, END, filters=((C.ServiceName, ("x' OR '1'='1",)),))
    assert drilldown.total(con, q).height == 0


def test_dimension_values_in_one_scan_match_grouping_each(con) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(START, END, scope=Scope(teams=("payments",)))
    dims = (C.BillingCurrency, C.ServiceName, C.x_Team, C.RegionId)
    got = drilldown.dimension_values(con, q, dims)
    for dim in dims:
        want = drilldown.cost_by_dimension(con, CostQuery(START, END, group_by=(dim,), scope=q.scope))
        values = (
            [v for v in want[dim].unique().to_list() if v != NOT_SET]
            if dim != C.BillingCurrency
            else want[C.BillingCurrency].unique().to_list()
        )
        assert set(got[dim]) == set(values)
    assert got[C.x_Team] == ["payments"]


def test_two_dimension_breakdown_parts_sum_to_the_total(con, rows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(date(2026, 9, 1), date(2026, 9, 30))
    out = drilldown.breakdown2(con, q, C.x_Team, C.ServiceCategory, 4)
    for (currency,), part in out.group_by(C.BillingCurrency):
        want = float(drilldown.total(con, q).filter(pl.col(C.BillingCurrency) == currency)[q.metric][0])
        assert float(part[q.metric].sum()) == pytest.approx(want, rel=1e-9)
        assert float(part["share"].sum()) == pytest.approx(1.0)
        assert part[C.x_Team].n_unique() <= 5 and part[C.ServiceCategory].n_unique() <= 5
    # the unfolded pairs match an independent Polars sum of the same rows
    full = drilldown.breakdown2(con, q, C.x_Team, C.ServiceCategory, None)
    expected = _expected(rows, q, (C.x_Team, C.ServiceCategory))
    got = _got(full, (C.x_Team, C.ServiceCategory), q.metric)
    assert got.keys() == expected.keys()
    assert all(got[k] == pytest.approx(v, rel=1e-9, abs=1e-6) for k, v in expected.items())
    with pytest.raises(QueryError, match="two different dimensions"):
        drilldown.breakdown2(con, q, C.x_Team, C.x_Team)


def test_tag_keys_come_from_the_store_and_group(con) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(date(2026, 9, 1), date(2026, 9, 30))
    keys = drilldown.tag_keys(con, q)
    assert keys and all(k.startswith("tag:") for k in keys)
    parts = drilldown.breakdown(con, q, keys[0], None)
    totals = drilldown.total(con, q)
    for (currency,), part in parts.group_by(C.BillingCurrency):
        want = float(totals.filter(pl.col(C.BillingCurrency) == currency)[q.metric][0])
        assert float(part[q.metric].sum()) == pytest.approx(want, rel=1e-9)


def test_equal_sizes_are_ordered_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Teams of equal cost (within a scope, often two at 0; or sums of the same rows that differ in
    the last bits with the order of addition) come back in one order: by name. The scope test once
    saw web and search swap places between two stores that hold the same in-scope rows."""
    tied = pl.DataFrame(
        {C.x_Team: ["web", "search", "api", None], "size": [5.0 + 1e-12, 5.0, 7.0, 19.0 + 1e-12]},
    )
    monkeypatch.setattr(drilldown.db, "frame", lambda *_: tied)
    got = drilldown.dimension_values(None, CostQuery(START, END), (C.x_Team,))  # type: ignore[arg-type]
    assert got == {C.x_Team: ["api", "search", "web"]}


def test_top_n_keeps_the_first_name_among_equal_sizes() -> None:
    frame = pl.DataFrame(
        {
            C.x_Team: ["web", "search", "web", "api"],
            C.BillingCurrency: ["USD"] * 4,
            C.EffectiveCost: [2.0, 3.0, 1.0 + 1e-12, 1.0],
        }
    )
    kept = drilldown._top_n(frame, C.x_Team, C.EffectiveCost, 1)
    assert sorted(kept[C.x_Team].to_list()) == [OTHER, "search"]
    assert kept.filter(pl.col(C.x_Team) == "search")[C.EffectiveCost].item() == pytest.approx(3.0)


def test_movers_of_equal_change_are_ordered_by_name(con) -> None:  # type: ignore[no-untyped-def]
    q = CostQuery(START, END)
    out = drilldown.movers(con, q, C.x_Team)
    size = out["delta"].abs().round(6)
    for i in range(1, out.height):
        if size[i] == size[i - 1]:
            assert (out[C.x_Team][i - 1], out[C.BillingCurrency][i - 1]) <= (
                out[C.x_Team][i],
                out[C.BillingCurrency][i],
            )
