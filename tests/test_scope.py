"""Row-level scope across every function a viewer's pages call: nothing returned to a scoped
caller includes an out-of-scope team, account or amount, and no amount mixes currencies."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from finops_core import (
    allocation,
    budget_status,
    budgets,
    drilldown,
    explorer,
    governance,
    outlook,
    rollups,
    savings,
    savings_items,
    store,
    tagrules,
)
from finops_core.query import NOT_SET, CostQuery, Scope
from finops_core.reports import budget_variance, variance
from finops_core.schema import METRICS, C
from finops_core.unit import cost as unit_cost
from finops_core.unit import metrics as unit_metrics
from tests.allocation_ref import attribute

ALL_TIME = (date(2000, 1, 1), date(2100, 1, 1))


def _in_scope(rows: pl.DataFrame, scope: Scope) -> pl.DataFrame:
    """Rows a scoped caller may see, by direct team (before splits) or sub account."""
    keep = pl.lit(scope.is_all)
    if scope.teams is not None:
        keep = keep | pl.col(C.x_Team).is_in(list(scope.teams))
    if scope.sub_accounts is not None:
        keep = keep | pl.col(C.SubAccountId).is_in(list(scope.sub_accounts))
    return rows.filter(keep)


def _tag_costs(rows: pl.DataFrame, key: str) -> dict[tuple[str, str], float]:
    """EffectiveCost per (value of tag ``key`` as tagged, currency), from the raw rows."""
    tags = rollups.current_rules().tags
    per_tags = rows.group_by(C.Tags, C.BillingCurrency).agg(pl.col(C.EffectiveCost).sum())
    out: dict[tuple[str, str], float] = {}
    for raw_tags, currency, cost in per_tags.iter_rows():
        raw = tags.raw(tagrules.folded_tags(raw_tags), key)
        if raw is not None:
            value = raw.strip().lower() if key in tags.fold_case else raw.strip()
            out[(value, currency)] = out.get((value, currency), 0.0) + cost
    return out


@pytest.mark.parametrize(
    "scope",
    [
        Scope(),
        Scope(teams=("payments",)),
        Scope(teams=("identity", "payments")),
        Scope(sub_accounts=("acme-gke-shared",)),
    ],
    ids=["all", "payments", "identity+payments", "gke-shared"],
)
def test_typo_table_counts_only_in_scope_cost_per_currency(con, demo_rows: pl.DataFrame, scope: Scope) -> None:  # type: ignore[no-untyped-def]
    """A viewer's typo table holds only values of their rows, each cost in one currency; a viewer of
    payments once saw another team's typo ('identiy') with its cost."""
    rows = _in_scope(attribute(demo_rows, rollups.current_rules()), scope)
    want = _tag_costs(rows, "team")
    for currency in ("USD", "EUR"):
        q = CostQuery(*ALL_TIME, filters=((C.BillingCurrency, (currency,)),), scope=scope)
        got = governance.typo_table(con, q, "team")
        assert set(got[C.BillingCurrency]) <= {currency}
        for alias, canonical, cost in got.select("alias", "canonical", "cost").iter_rows():
            assert cost == pytest.approx(want[(alias, currency)], rel=1e-9), (alias, currency)
            assert want.get((canonical, currency), 0.0) > cost, (canonical, currency)
    if scope.is_all:  # the typo's rows carry team "identiy": a viewer of identity does not see them either
        q = CostQuery(*ALL_TIME, filters=((C.BillingCurrency, ("USD",)),), scope=scope)
        assert "identiy" in governance.typo_table(con, q, "team")["alias"].to_list()
    if scope == Scope(teams=("payments",)):
        every = governance.typo_table(con, CostQuery(*ALL_TIME, scope=scope), "team")
        assert "identiy" not in every["alias"].to_list()


# ---------------------------------------------------------------------------------------------
# Every page function a viewer can reach, against a store whose out-of-scope rows are marked

MARKED_NAMES = (C.x_Team, C.x_Owner, C.SubAccountId, C.SubAccountName, C.ResourceId, C.ResourceName)
MARKED_AMOUNTS = (*METRICS, C.ConsumedQuantity, C.PricingQuantity)
FACTOR = 3.0


def _member(column: str, values: tuple[str, ...] | None) -> str:
    if values is None:
        return "FALSE"
    listed = ", ".join(allocation.literal(v) for v in values) or "NULL"
    return f"coalesce({column}, '{NOT_SET}') IN ({listed})"


def _inside(name: str, cols: list[str], scope: Scope) -> str | None:
    """SQL: a row of view ``name`` is in ``scope`` (None: the view holds nothing to scope)."""
    if name == "shares":  # a team's share of a pool; an account scope sees every team its pooled rows reach
        return "TRUE" if scope.sub_accounts is not None else _member("team", scope.teams)
    if C.x_Team in cols:
        return f"({_member(C.x_Team, scope.teams)} OR {_member(C.SubAccountId, scope.sub_accounts)})"
    if C.SubAccountId in cols:  # raw_rows holds no team: a team scope is answered from the allocated views
        return _member(C.SubAccountId, scope.sub_accounts)
    return None


def _marked(demo_store: Path, scope: Scope) -> duckdb.DuckDBPyConnection:
    """A connection on the demo store whose views show every out-of-scope row with its amounts
    tripled and its team, account, resource and tag values suffixed with '~'. In-scope rows are
    unchanged, so a function that keeps to the caller's scope answers exactly as on the real store;
    one that reads a single out-of-scope amount or name answers differently."""
    con = store.connect(demo_store)
    views = con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
    for name, sql in views:
        body = sql.split(" AS ", 1)[1].rstrip().rstrip(";")
        con.execute(f"CREATE VIEW _orig_{name} AS {body}")
        cols = [r[0] for r in con.execute(f"DESCRIBE _orig_{name}").fetchall()]
        inside = _inside(name, cols, scope)
        if inside is None:
            continue
        amounts = [*MARKED_AMOUNTS, "share"]
        changes = {c: f"CASE WHEN {inside} THEN {c} ELSE {c} * {FACTOR} END" for c in amounts if c in cols}
        changes |= {c: f"CASE WHEN {inside} THEN {c} ELSE {c} || '~' END" for c in (*MARKED_NAMES, "team") if c in cols}
        if C.Tags in cols:
            changes[C.Tags] = (
                f"CASE WHEN {inside} THEN {C.Tags} ELSE regexp_replace({C.Tags}, ':\\s*\"', ': \"~', 'g') END"
            )
        replaced = ", ".join(f"{expr} AS {c}" for c, expr in changes.items())
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * REPLACE ({replaced}) FROM _orig_{name}")
    return con


def _canonical(value: Any) -> Any:
    """A comparable form of a page function's answer: frames sorted by every column, dataclasses
    and containers walked."""
    if isinstance(value, pl.DataFrame):
        return value.sort(value.columns, nulls_last=True) if value.width else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def _assert_same(got: Any, want: Any, where: str) -> None:
    if isinstance(want, pl.DataFrame):
        assert isinstance(got, pl.DataFrame), where
        assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-6), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            _assert_same(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-6), where
    else:
        assert got == want, where


def _page_calls(con: duckdb.DuckDBPyConnection, q: CostQuery, data_end: date, budgets_csv: Path) -> dict[str, Any]:
    """What each page a viewer may open (spend, allocation, savings, forecast) asks finops_core for,
    as ui/cache.py and views/*.py call it. Forecasts and backtests fit only ``daily_actuals`` and
    ``histories``, so their inputs stand for them (Prophet fits are too slow to run per example)."""
    keys = rollups.version_rules(con, "r").allocation.required_tags
    dims = (C.BillingCurrency, C.ProviderName, C.SubAccountId, C.ServiceName, C.RegionId, C.x_Team, C.x_Product)
    out: dict[str, Any] = {
        "dimension_values": drilldown.dimension_values(con, q, dims),
        "labels": drilldown.cost_by_dimension(con, replace(q, group_by=(C.SubAccountId, C.SubAccountName))),
        "total": drilldown.total(con, q),
        "run_rate": drilldown.month_run_rate(con, q),
        "line_items": drilldown.line_items(con, q, 0, 50),
        "coverage": governance.coverage(con, q),
        "compliance": governance.compliance(con, q, keys, None),
        "showback": governance.showback(con, q),
        "actuals": outlook.daily_actuals(con, q),
    }
    for dim in (C.ServiceName, C.SubAccountId, C.x_Team):
        out[f"movers {dim}"] = drilldown.movers(con, q, dim)
        out[f"timeseries {dim}"] = drilldown.timeseries(con, q, dim, 5)
        out[f"breakdown {dim}"] = drilldown.breakdown(con, q, dim, 5)
    for by in (C.SubAccountName, C.x_Team, C.ServiceName, C.ProviderName):
        out[f"compliance_summary {by}"] = governance.compliance_summary(con, q, keys, by)
    for key in ("team", "cost_center"):
        out[f"typos {key}"] = governance.typo_table(con, q, key)
    out["remediation"] = governance.remediation(con, q, "team", 200)
    for dim in (C.x_Team, C.SubAccountId, C.ResourceId):
        values = explorer.explain_values(con, q, dim)
        out[f"explain_values {dim}"] = values
        if values:
            out[f"explain {dim}"] = explorer.explain(con, q.with_filter(dim, (values[0],)))
    teams = outlook.top_values(con, q, C.x_Team, 50)
    out["histories"] = outlook.histories(con, q, C.x_Team, teams)
    lines = budgets.load(budgets_csv)
    period = budgets.periods_containing(data_end)[0]
    out["line_histories"] = budget_status.line_histories(con, q, budget_status.visible_lines(lines, period, q))
    return out | _report_calls(con, q, data_end, lines, budgets_csv.parent / "metrics.csv")


def _report_calls(
    con: duckdb.DuckDBPyConnection, q: CostQuery, data_end: date, lines: pl.DataFrame, metrics_csv: Path
) -> dict[str, Any]:
    """What the Variance and Unit economics pages ask for, as views/variance.py and views/unit.py call it."""
    month = q.end.replace(day=1)
    found = variance.month_over_month(con, q, month, data_end)
    out: dict[str, Any] = {"variance": found}
    for i, v in enumerate(found):
        out[f"variance effects {i}"] = variance.effects_table(v, q)
        for dim in (C.x_Team, C.ResourceId):  # the coarsest and the finest
            out[f"variance contributors {i} {dim}"] = variance.contributors_table(v, q, dim)
    out["vs_budget"] = budget_variance.vs_budget(con, q, month, data_end, budget_variance.rows_of(lines))
    business = unit_metrics.load(metrics_csv)
    for name, dims in unit_cost.breakdowns(business).items():
        for dim in dims:
            out[f"unit_costs {name} {dim}"] = unit_cost.unit_costs(con, q, business, name, dim)
            out[f"unit_cost_change {name} {dim}"] = unit_cost.unit_cost_change(con, q, business, name, dim)
    return out


def _savings_calls(
    con: duckdb.DuckDBPyConnection, q: CostQuery, first: date, last: date, backlog_csv: Path
) -> dict[str, Any]:
    """What the savings page asks for: each implemented item's realized savings, and the first one's
    daily scope cost (views/savings.py)."""
    items = pl.read_csv(backlog_csv, schema_overrides={"implemented_on": pl.String}).with_columns(
        pl.lit("").alias("resource_ids")
    )
    whole = CostQuery(first, last, scope=q.scope)
    key = savings_items.items_csv(items)
    out: dict[str, Any] = {"realized": savings_items.realized_from_csv(con, whole, key)}
    item = items.filter(pl.col("status") == "Implemented").row(0, named=True)
    d = date.fromisoformat(item["implemented_on"])
    window = CostQuery(
        max(first, d - timedelta(days=savings.BEFORE_DAYS)),
        min(last, d + timedelta(days=45)),
        filters=savings_items.scope_query(item, last).filters,
        scope=q.scope,
    )
    out["scope_cost"] = savings_items.scope_cost(con, window)
    return out


TEAMS = ["payments", "checkout", "search", "ml", "identity", "identiy", "data-platform", "Unallocated", "no-such-team"]


def _scopes(subs: list[str]) -> st.SearchStrategy[Scope]:
    teams = st.one_of(st.none(), st.lists(st.sampled_from(TEAMS), min_size=1, max_size=3, unique=True).map(tuple))
    accounts = st.one_of(st.none(), st.lists(st.sampled_from(subs), min_size=1, max_size=2, unique=True).map(tuple))
    return st.tuples(teams, accounts).filter(lambda p: p != (None, None)).map(lambda p: Scope(*p))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_page_function_shows_a_viewer_anything_out_of_scope(con, demo_store: Path, data) -> None:  # type: ignore[no-untyped-def]
    """For random scopes, periods, metrics and currencies, every function a viewer's pages call
    answers the same on the store as on a copy whose out-of-scope rows carry other amounts and
    names: nothing out of scope reaches the answer, not even one name."""
    first, last = (d for d in con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchone())
    subs = sorted(r[0] for r in con.execute(f"SELECT DISTINCT {C.SubAccountId} FROM daily").fetchall())
    scope = data.draw(_scopes(subs), label="scope")
    days = data.draw(st.integers(7, 120), label="days")
    end = last - timedelta(days=data.draw(st.integers(0, 200), label="ends before the last day"))
    currency = data.draw(st.sampled_from(["USD", "EUR"]), label="currency")
    metric = data.draw(st.sampled_from([C.EffectiveCost, C.BilledCost]), label="metric")
    q = CostQuery(
        end - timedelta(days=days - 1), end, filters=((C.BillingCurrency, (currency,)),), metric=metric, scope=scope
    )
    demo = demo_store / "demo"
    marked = _marked(demo_store, scope)
    try:
        want = _page_calls(con, q, last, demo / "budgets.csv") | _savings_calls(
            con, q, first, last, demo / "backlog.csv"
        )
        got = _page_calls(marked, q, last, demo / "budgets.csv") | _savings_calls(
            marked, q, first, last, demo / "backlog.csv"
        )
    finally:
        marked.close()
    for name in want:
        _assert_same(_canonical(got[name]), _canonical(want[name]), name)


def test_the_rule_explorer_shows_a_viewer_only_the_rules_of_their_charges(con) -> None:  # type: ignore[no-untyped-def]
    """Rules that do not match a viewer's charge name other teams and their accounts: they are left out."""
    rules = rollups.version_rules(con, "r").allocation.rules_for("team")
    others = {r.value for r in rules if r.value and r.value != "payments"}
    for scope in (Scope(), Scope(teams=("payments",))):
        q = CostQuery(date(2026, 9, 1), date(2026, 9, 30), scope=scope).with_filter(C.x_Team, ("payments",))
        chains = explorer.explain(con, q).chains
        assert chains
        shown = pl.concat(chains.values())
        named = {v for v in others if shown["gives"].str.contains(f"'{v}'", literal=True).any()}
        assert (named == set()) == (not scope.is_all), scope
        assert ("no match" in shown["result"].to_list()) == scope.is_all


def test_governance_amounts_are_per_currency_without_a_currency_filter(con) -> None:  # type: ignore[no-untyped-def]
    """Asked for both currencies, every governance answer keeps them apart: each row is one currency,
    and its amounts equal the answer for that currency alone."""
    q = CostQuery(date(2026, 8, 1), date(2026, 9, 30))
    keys = rollups.version_rules(con, "r").allocation.required_tags
    show = governance.showback(con, q)
    ex = explorer.explain(con, q.with_filter(C.x_Team, ("payments",)))
    answers = {
        "coverage": (governance.coverage(con, q), "total"),
        "compliance": (governance.compliance(con, q, keys, None), "taggable_cost"),
        "compliance_summary": (governance.compliance_summary(con, q, keys, C.ProviderName), "taggable_cost"),
        "remediation": (governance.remediation(con, q, "team", 100_000), "cost"),
        "showback": (show, "total"),
        "showback_by_team": (governance.showback_by_team(show), "total"),
        "explain.outcomes": (ex.outcomes, "cost"),
        "typos": (governance.typo_table(con, q, "team"), "cost"),
    }
    per_currency = {}
    for cur in ("USD", "EUR"):
        cq = q.with_filter(C.BillingCurrency, (cur,))
        cex = explorer.explain(con, cq.with_filter(C.x_Team, ("payments",)))
        per_currency[cur] = {
            "coverage": governance.coverage(con, cq)["total"].sum(),
            "compliance": governance.compliance(con, cq, keys, None)["taggable_cost"].sum(),
            "compliance_summary": governance.compliance_summary(con, cq, keys, C.ProviderName)["taggable_cost"].sum(),
            "remediation": governance.remediation(con, cq, "team", 100_000)["cost"].sum(),
            "showback": governance.showback(con, cq)["total"].sum(),
            "showback_by_team": governance.showback(con, cq)["total"].sum(),
            "explain.outcomes": cex.outcomes["cost"].sum(),
            "typos": governance.typo_table(con, cq, "team")["cost"].sum(),
        }
    assert set(show[C.BillingCurrency]) == {"USD", "EUR"}
    for name, (frame, amount) in answers.items():
        sums = dict(frame.group_by(C.BillingCurrency).agg(pl.col(amount).sum()).iter_rows())
        for cur in ("USD", "EUR"):
            assert sums.get(cur, 0.0) == pytest.approx(per_currency[cur][name], rel=1e-9, abs=1e-6), (name, cur)
    pivot = governance.showback_pivot(show)
    assert pivot.select(pl.exclude(C.BillingCurrency, C.x_Team)).sum_horizontal().sum() == pytest.approx(
        show["total"].sum(), rel=1e-9
    )
