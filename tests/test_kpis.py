"""The Overview's KPIs equal the figures of the pages they link to (each computed here through that
page's own finops_core call), a viewer's KPIs are their scope's, and the targets file is validated."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from finops_core import (
    backlog,
    budget_status,
    budgets,
    commitments,
    drilldown,
    events,
    forecast_snapshots,
    governance,
    outlook,
    rollups,
    savings_items,
    state,
    store,
    triage,
)
from finops_core.query import ALL, CostQuery, Scope
from finops_core.reports import delivery, digest, kpi_ops, kpi_targets, kpis
from finops_core.schema import C
from finops_core.tagrules import RulesError
from finops_core.trust import invoices, quality, reconcile
from tests.test_pages import _app

NOW = datetime(2026, 10, 20, 12, tzinfo=UTC)
VIEWER = Scope(teams=("payments",))


def _case(ident: str, team: str, impact: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [ident],
            "scope": ["team"],
            "key": [team],
            "BillingCurrency": ["USD"],
            "kind": ["spike"],
            "start": [date(2026, 10, 1)],
            "end": [date(2026, 10, 2)],
            "impact": [impact],
            "x_Team": [team],
        }
    )


def _seed_state(root: Path, path: Path, con: Any, w: kpis.Window) -> None:
    """Budgets, backlog, triage cases with response times, one digest delivery and one stored forecast."""
    budgets.save(budgets.load(root / "demo" / "budgets.csv"), "t", "demo", path)
    backlog.import_csv((root / "demo" / "backlog.csv").read_text(), "t", path=path)
    for ident, team, ack, done in (("c1", "payments", 2, 30), ("c2", "search", 10, None), ("c3", "payments", 6, 50)):
        triage.sync(_case(ident, team, 100.0), path=path, now="2026-10-03T00:00:00.000000Z")
        v = triage.update(ident, 1, "fran", status="Acknowledged", path=path, now=f"2026-10-03T{ack:02d}:00:00.000000Z")
        if done:
            at = (datetime(2026, 10, 3, tzinfo=UTC) + timedelta(hours=done)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            triage.update(ident, v, "fran", status="Resolved", path=path, now=at)
    d = digest.build(con, CostQuery(w.data_end, w.data_end), first_day=w.data_start, store_root=root, state_path=path)
    delivery.to_file(d, "md", path.parent / "digest.md", path=path)
    hist = w.query(w.data_start, w.data_end)
    early = CostQuery(w.data_start, date(2026, 8, 31), filters=hist.filters)
    fc = outlook.scope_forecast(con, early, date(2026, 9, 30), events.load())
    assert forecast_snapshots.save(fc, hist, "USD", "selection", "t", "v1", path) is not None


@pytest.fixture(scope="module")
def world(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("kpi-state") / "state.sqlite"
    con = store.connect(demo_store)
    first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchall()[0]
    company = kpis.Window(first, last, "USD", ALL)
    _seed_state(demo_store, path, con, company)
    keys = rollups.version_rules(con, "r").allocation.required_tags
    lines, _ = invoices.resolve(demo_store)
    table = reconcile.reconciliation(con, lines, ALL, reconcile.Settings(as_of=last))
    targets = kpi_targets.load(kpi_targets.SHIPPED)
    cards = {}
    for name, scope in (("company", ALL), ("viewer", VIEWER)):
        w = kpis.Window(first, last, "USD", scope)
        rec = table if scope.is_all else None
        card = kpi_ops.scorecard(
            con, w, targets, keys, now=NOW, reconciliation=rec, invoices_given=lines is not None, state_path=path
        )
        cards[name] = {k.key: k for k in card}
    yield {"con": con, "path": path, "w": company, "cards": cards, "keys": keys, "table": table, "root": demo_store}
    con.close()


def _month_q(world: dict[str, Any], scope: Scope = ALL) -> CostQuery:
    w = world["w"]
    return CostQuery(w.review, kpis.month_end(w.review), filters=((C.BillingCurrency, ("USD",)),), scope=scope)


def test_window_is_the_last_complete_month(world: dict[str, Any]) -> None:
    w = world["w"]
    assert w.data_end == date(2026, 10, 15) and w.review == date(2026, 9, 1)
    assert w.months[0] == date(2026, 4, 1) and len(w.months) == kpis.MONTHS
    assert kpis.Window(w.data_start, date(2026, 9, 30), "USD", ALL).review == date(2026, 9, 1)


@pytest.mark.parametrize("scope_name", ["company", "viewer"])
def test_allocation_coverage_equals_the_allocation_page(world: dict[str, Any], scope_name: str) -> None:
    scope = ALL if scope_name == "company" else VIEWER
    cov = governance.coverage(world["con"], _month_q(world, scope))  # the Allocation page's Coverage tab
    card = world["cards"][scope_name]
    assert card["allocation_coverage"].value == pytest.approx(cov["allocated"].sum() / cov["total"].sum(), rel=1e-12)
    expected = cov["controllable_allocated"].sum() / cov["controllable"].sum()
    assert card["controllable_coverage"].value == pytest.approx(expected, rel=1e-12)
    assert card["allocation_coverage"].trend[-1] == ("2026-09", card["allocation_coverage"].value)


def test_tag_compliance_per_key_equals_the_allocation_page(world: dict[str, Any]) -> None:
    # the page's "Tagged with team" tile: compliance per provider weighted by taggable cost
    comp = governance.compliance_summary(world["con"], _month_q(world), world["keys"], C.ProviderName)
    taggable = comp["taggable_cost"].sum()
    for key in world["keys"]:
        kpi = world["cards"]["company"][f"tag_compliance:{key}"]
        assert kpi.value == pytest.approx((comp["taggable_cost"] * comp[key]).sum() / taggable, rel=1e-9)
        assert kpi.status == kpi_targets.load(kpi_targets.SHIPPED)["tag_compliance"].status(kpi.value)


def test_reconciliation_variance_equals_the_quality_page(world: dict[str, Any]) -> None:
    table = world["table"]  # what the Data quality page lists
    closed = table.filter(pl.col("invoice").is_not_null() & (pl.col("status") != "month still open"))
    latest = closed.filter((pl.col("billing_period") == closed["billing_period"].max()) & (pl.col("currency") == "USD"))
    kpi = world["cards"]["company"]["reconciliation_variance"]
    assert kpi.value == pytest.approx(latest["variance"].abs().sum() / latest["invoice"].abs().sum(), abs=1e-15)
    assert kpi.period == f"{date.fromisoformat(closed['billing_period'].max() + '-01'):%B %Y}"
    viewer = world["cards"]["viewer"]["reconciliation_variance"]
    assert viewer.value is None and viewer.status == "no data" and "whole billing accounts" in viewer.note
    w = world["w"]
    none = kpi_ops.reconciliation_kpi(w, table, False, kpi_targets.load(kpi_targets.SHIPPED))
    assert none.value is None and "no invoices uploaded" in none.note


def test_freshness_equals_the_quality_check(world: dict[str, Any]) -> None:
    days = quality.account_days(world["con"], ALL)
    check = quality.freshness(days, NOW.date())  # the Data quality page's check
    kpi = world["cards"]["company"]["data_freshness"]
    assert kpi.value == pytest.approx(108.0)  # 15 Oct complete; 20 Oct 12:00 is 4.5 days after the 16th began
    assert int(kpi.value // 24) == check.samples["age"].max() and check.status == "error" and kpi.status == "bad"


def test_mtta_and_mttr_equal_the_anomalies_page(world: dict[str, Any]) -> None:
    times = triage.response_times(world["path"])  # the Anomalies page's response-time table
    company, viewer = world["cards"]["company"], world["cards"]["viewer"]
    mtta = (times["mtta_hours"] * times["acknowledged"]).sum() / times["acknowledged"].sum()
    # counted from the anomaly's start (1 Oct 00:00), two days before the cases were first seen
    assert company["anomaly_mtta"].value == pytest.approx(mtta) == pytest.approx(48 + (2 + 10 + 6) / 3)
    assert company["anomaly_mttr"].value == pytest.approx(48 + (30 + 50) / 2)
    pay = times.filter(pl.col("team") == "payments").row(0, named=True)
    assert viewer["anomaly_mtta"].value == pytest.approx(pay["mtta_hours"]) == pytest.approx(48 + 4.0)
    assert viewer["anomaly_mttr"].value == pytest.approx(pay["mttr_hours"])


def _savings_table(world: dict[str, Any], scope: Scope) -> pl.DataFrame:
    w = world["w"]
    whole = CostQuery(w.data_start, w.data_end, scope=scope)  # as the Savings page builds it
    ids = savings_items.sub_account_ids(world["con"], whole)
    items = backlog.items(world["path"], scope=scope, sub_account_ids=ids)
    realized = savings_items.realized_from_csv(world["con"], whole, savings_items.items_csv(items))
    return savings_items.item_table(items, realized)


def test_savings_kpis_equal_the_savings_page(world: dict[str, Any]) -> None:
    for name, scope in (("company", ALL), ("viewer", VIEWER)):
        table = _savings_table(world, scope)
        tiles = savings_items.totals(table).filter(pl.col("currency") == "USD")
        kpi = world["cards"][name]["savings_realization"]
        assert kpi.value == pytest.approx(tiles["realization"][0])
        month = savings_items.totals(table, ("month",)).filter(pl.col("currency") == "USD")
        per = dict(month.select("month", "items").iter_rows())
        throughput = world["cards"][name]["optimization_throughput"]
        assert [v for _, v in throughput.trend] == [float(per.get(m, 0)) for m, _ in throughput.trend]
    assert sum(v or 0 for _, v in world["cards"]["company"]["optimization_throughput"].trend) > 0


def test_commitment_kpis_equal_the_commitments_page(world: dict[str, Any]) -> None:
    for name, scope in (("company", ALL), ("viewer", VIEWER)):
        q = _month_q(world, scope)
        util = commitments.commitment_utilization(world["con"], q)  # the page's Utilization tile
        used, unused = util["used"].sum(), util["unused"].sum()
        card = world["cards"][name]
        assert card["commitment_utilization"].value == pytest.approx(used / (used + unused), rel=1e-9)
        cov = commitments.commitment_coverage(world["con"], q)  # the page's Coverage tile
        assert card["commitment_coverage"].value == pytest.approx(cov["coverage"][0], rel=1e-9)


def test_forecast_error_equals_the_forecast_page(world: dict[str, Any]) -> None:
    w = world["w"]
    hist = w.query(w.data_start, w.data_end)
    snap = forecast_snapshots.snapshots(hist, "USD", world["path"]).row(0, named=True)
    actuals = outlook.daily_actuals(world["con"], hist)
    frame = forecast_snapshots.against_actuals(int(snap["id"]), actuals, world["path"])  # the page's chart data
    sep = frame.filter(pl.col("day").is_between(date(2026, 9, 1), date(2026, 9, 30)))
    expected = abs(sep["yhat"].sum() - sep["actual"].sum()) / sep["actual"].sum()
    kpi = world["cards"]["company"]["forecast_error"]
    assert sep.height == 30 and kpi.value == pytest.approx(expected)
    assert "2026-08-31" in kpi.note
    viewer = world["cards"]["viewer"]["forecast_error"]  # nothing stored for the viewer's scope: said, not invented
    assert viewer.value is None and "no stored forecast" in viewer.note


def test_budget_coverage_equals_the_forecast_page(world: dict[str, Any]) -> None:
    for name, scope in (("company", ALL), ("viewer", VIEWER)):
        q = _month_q(world, scope)
        lines = budget_status.visible_lines(budgets.current(world["path"]), "2026-09", q)
        hist = budget_status.line_histories(world["con"], q, lines)  # what the page's forecasts fit on
        outer = [budget_status.line_label(r) for r in budget_status.outermost(lines).iter_rows(named=True)]
        covered = sum(float(hist[k]["cost"].sum()) for k in outer)
        total = float(drilldown.total(world["con"], q)[q.metric].sum())
        assert world["cards"][name]["budget_coverage"].value == pytest.approx(covered / total)
        assert 0 < covered <= total * (1 + 1e-9)


def test_digest_on_time_equals_the_digest_page(world: dict[str, Any]) -> None:
    weeks = delivery.on_time(world["path"])  # the Weekly digest page's figure
    kpi = world["cards"]["company"]["digest_on_time"]
    assert kpi.value == pytest.approx(float(weeks["on_time"].mean()))
    assert kpi.value == 0.0 and kpi.status == "bad"  # sent in a later month than the week it covers: late
    viewer = world["cards"]["viewer"]["digest_on_time"]
    assert viewer.value is None and "no digest" in viewer.note


def test_a_viewer_sees_their_scope_only(world: dict[str, Any]) -> None:
    """The viewer's KPIs are the ones computed on a query filtered to their team, and not the company's."""
    company, viewer = world["cards"]["company"], world["cards"]["viewer"]
    # the company's compliance heatmap by team, payments' row
    by_team = governance.compliance_summary(world["con"], _month_q(world), world["keys"], C.x_Team)
    own = by_team.filter(pl.col(C.x_Team) == "payments").row(0, named=True)
    key = world["keys"][-1]
    assert viewer[f"tag_compliance:{key}"].value == pytest.approx(own[key], rel=1e-9)
    filtered = _month_q(world).with_filter(C.x_Team, ("payments",))
    util = commitments.commitment_utilization(world["con"], filtered)
    used, unused = util["used"].sum(), util["unused"].sum()
    assert viewer["commitment_utilization"].value == pytest.approx(used / (used + unused), rel=1e-9)
    differ = [
        k
        for k in company
        if company[k].value is not None
        and viewer[k].value is not None
        and abs(company[k].value - viewer[k].value) > 1e-6
    ]
    assert {f"tag_compliance:{key}", "commitment_utilization", "commitment_coverage", "anomaly_mtta"} <= set(differ)


# -- targets file --------------------------------------------------------------------------------


def test_shipped_targets_load_and_judge() -> None:
    t = kpi_targets.load(kpi_targets.SHIPPED)
    assert set(t.as_dict()) == set(kpi_targets.DEFINITIONS)
    assert t["allocation_coverage"].target == 0.9 and t["data_freshness"].target == 48
    assert [t["allocation_coverage"].status(v) for v in (0.95, 0.85, 0.5, None)] == ["ok", "warn", "bad", "no data"]
    assert [t["data_freshness"].status(v) for v in (20, 60, 100)] == ["ok", "warn", "bad"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "allocation_coverage: {target: 0.9",
            "allocation_coverage: {target: lots",
            ":1: allocation_coverage.target: expected a number",
        ),
        (
            "tag_compliance: {target: 0.95, warn: 0.85}",
            "tag_compliance: {target: 0.95, warn: 0.99}",
            ":3: tag_compliance.warn: ",
        ),
        (
            "data_freshness: {target: 48, warn: 72}",
            "data_freshness: {target: 48, warn: 24}",
            ":5: data_freshness.warn: ",
        ),
        (
            "commitment_coverage: {target: 0.7",
            "commitment_coverage: {target: 70",
            ":11: commitment_coverage.target: expected a share",
        ),
        (
            "digest_on_time: {target: 0.95, warn: 0.8}",
            "digest_ontime: {target: 0.95, warn: 0.8}",
            ":14: digest_ontime: unknown KPI",
        ),
        (
            "anomaly_mtta: {target: 24, warn: 72}",
            "anomaly_mtta: {target: 24, wran: 72}",
            ":6: anomaly_mtta.wran: unknown field",
        ),
        ("anomaly_mttr: {target: 168, warn: 336}", "anomaly_mttr: {target: 168}", ":7: anomaly_mttr.warn: missing"),
    ],
)
def test_targets_errors_name_file_line_and_field(old: str, new: str, message: str) -> None:
    text = kpi_targets.load(kpi_targets.SHIPPED)
    doc = kpi_targets.render(text.as_dict())
    body = "\n".join(line for line in doc.splitlines() if not line.startswith("#"))
    assert old in body
    with pytest.raises(RulesError) as err:
        kpi_targets.parse(body.replace(old, new), "kpis.yaml")
    assert str(err.value).startswith("kpis.yaml") and message in str(err.value)


def test_missing_kpi_and_percent_forms() -> None:
    doc = kpi_targets.render(kpi_targets.load(kpi_targets.SHIPPED).as_dict())
    with pytest.raises(RulesError, match="missing KPI\\(s\\) digest_on_time"):
        kpi_targets.parse("\n".join(line for line in doc.splitlines() if not line.startswith("digest_on_time")))
    parsed = kpi_targets.parse(doc.replace("tag_compliance: {target: 0.95", "tag_compliance: {target: 97%"))
    assert parsed["tag_compliance"].target == pytest.approx(0.97)
    with pytest.raises(RulesError, match=":1: empty"):
        kpi_targets.parse("# nothing\n", "kpis.yaml")


def test_saving_targets_is_validated_and_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_RULES", str(tmp_path / "rules"))
    db = tmp_path / "audit.sqlite"
    monkeypatch.setattr(state, "db_path", lambda: db)
    values = kpi_targets.load().as_dict()
    values["allocation_coverage"] = {"target": 0.95, "warn": 0.85}
    kpi_targets.save(kpi_targets.render(values), "avery")
    assert kpi_targets.path() == tmp_path / "rules" / "kpis.yaml"
    assert kpi_targets.load()["allocation_coverage"].target == 0.95
    log = state.audit_log(path=db)
    assert log.filter(pl.col("action") == "kpi_targets_change").height == 1
    values["allocation_coverage"] = {"target": 0.95, "warn": None}  # an emptied cell
    with pytest.raises(RulesError, match=r"allocation_coverage\.warn: expected a number"):
        kpi_targets.save(kpi_targets.render(values), "avery")
    assert kpi_targets.load()["allocation_coverage"].warn == 0.85  # nothing written


# -- the page ------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["admin", "finops", "finance", "viewer"])
def test_overview_is_the_landing_page_for_every_role(
    demo_store: Path, monkeypatch: pytest.MonkeyPatch, user: str
) -> None:
    at = _app(demo_store, monkeypatch, user=user)
    assert not at.exception and at.title[0].value == "Overview"
    tiles = {m.label: m.value for m in at.metric}
    assert {"Allocation coverage", "Commitment utilization", "Weekly digest on time"} <= set(tiles)
    scope = VIEWER if user == "viewer" else ALL
    con = store.connect(demo_store)
    try:
        first, last = con.execute(f"SELECT min({C.x_ChargeDate}), max({C.x_ChargeDate}) FROM daily").fetchall()[0]
        w = kpis.Window(first, last, "USD", scope)
        cov = governance.coverage(con, w.month_query(w.review))
    finally:
        con.close()
    assert tiles["Allocation coverage"] == f"{cov['allocated'].sum() / cov['total'].sum():.1%}"
    assert (tiles["Invoice reconciliation |variance|"] == "–") == (user == "viewer")
    assert any(e.label == "Edit KPI targets" for e in at.expander) == (user == "admin")
    assert not at.error
