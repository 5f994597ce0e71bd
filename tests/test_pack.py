"""Monthly variance pack: its figures equal the functions they come from, every sentence cites a
table the pack holds, a viewer's pack (HTML and PDF text) holds no other team, each currency has
its own section, and the CLI writes a real PDF and HTML or refuses clearly."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from pypdf import PdfReader

from finops_core import anomalies, budgets, commitments, governance
from finops_core.cli import main
from finops_core.query import CostQuery, Scope
from finops_core.reports import budget_variance as bv
from finops_core.reports import pack, pack_narrative, pack_render, pack_tables, pack_words
from finops_core.reports import variance as va
from finops_core.reports.digest_render import money
from finops_core.schema import C
from tests.conftest import DEMO_END
from tests.test_pages import _app

SEPT = date(2026, 9, 1)
FIRST = date(2024, 10, 1)


@pytest.fixture(scope="module")
def state_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pack-state") / "state.sqlite"


def _first(con) -> date:  # type: ignore[no-untyped-def]
    day = con.execute(f"SELECT min({C.x_ChargeDate}) FROM daily").fetchall()[0][0]
    assert isinstance(day, date)
    return day


@pytest.fixture(scope="module")
def packs(demo_store: Path, state_db: Path) -> dict[str, pack.Pack]:
    from finops_core import store

    con = store.connect(demo_store)
    first = _first(con)
    q = CostQuery(DEMO_END, DEMO_END)
    viewer = CostQuery(DEMO_END, DEMO_END, scope=Scope(teams=("payments",)))

    def build(query: CostQuery, scope: list[str] | None = None, month: date = SEPT) -> pack.Pack:
        return pack.build(
            con, query, month, pack.PackScope.parse(scope), first_day=first, store_root=demo_store, state_path=state_db
        )

    return {
        "company": build(q),
        "viewer": build(viewer),
        "team": build(q, ["team=payments"]),
        "prod": build(q, ["environment=prod"]),
        "open": build(q, month=date(2026, 10, 1)),
    }


def _words(p: pack.Pack) -> list[str]:
    return [x.text for s in p.sections for _, ss in pack_narrative.topics(p, s) for x in ss]


def test_variance_figures_equal_variance_py(packs: dict[str, pack.Pack], con) -> None:  # type: ignore[no-untyped-def]
    p = packs["company"]
    q = CostQuery(FIRST, DEMO_END)
    want = {v.currency: v for v in va.month_over_month(con, q, SEPT, DEMO_END)}
    assert [s.currency for s in p.sections] == sorted(want)
    for s in p.sections:
        v = want[s.currency]
        assert (s.variance.base_total, s.variance.current_total) == pytest.approx((v.base_total, v.current_total))
        assert s.variance.effects()["amount"].to_list() == pytest.approx(v.effects()["amount"].to_list(), abs=1e-6)
        assert float(s.variance.effects()["amount"].sum()) == pytest.approx(v.change, abs=1e-6)
        for dim, col in va.CONTRIBUTOR_DIMS.items():
            if dim in s.contributors:
                got, expected = s.contributors[dim], va.contributors(v, col, pack.TOP)
                assert got[col].to_list() == expected[col].to_list()
                for name in ("base", "current", "change", "usage", "rate", "day_count"):
                    assert got[name].to_list() == pytest.approx(expected[name].to_list(), abs=1e-6)
        first, *_ = pack_narrative.variance_sentences(s)
        for amount in (abs(v.change), v.base_total, v.current_total):
            assert money(amount, s.currency) in first.text
        table = pack_tables.variance_table(s)
        shown = {row[0]: row[1] for row in table.rows}
        for row in v.effects().iter_rows(named=True):
            assert shown[row["label"]] == pack_words.signed(row["amount"], s.currency)


def test_other_figures_equal_their_functions(packs: dict[str, pack.Pack], con, demo_store: Path) -> None:  # type: ignore[no-untyped-def]
    p = packs["company"]
    usd = next(s for s in p.sections if s.currency == "USD")
    mq = CostQuery(SEPT, date(2026, 9, 30), filters=((C.BillingCurrency, ("USD",)),))
    lines = budgets.load(demo_store / "demo" / "budgets.csv")
    (b,) = bv.vs_budget(con, CostQuery(FIRST, DEMO_END, filters=mq.filters), SEPT, DEMO_END, bv.rows_of(lines))
    assert usd.budget is not None and usd.budget.variance == pytest.approx(b.variance)
    assert money(usd.budget.budget, "USD") in " ".join(x.text for x in pack_narrative.budget_sentences(p, usd))
    showback = governance.showback_by_team(governance.showback(con, mq))
    assert usd.showback.equals(showback)
    assert float(usd.showback["total"].sum()) == pytest.approx(usd.variance.current_total)
    cov = governance.coverage(con, mq).row(0, named=True)
    assert usd.coverage is not None and usd.coverage["coverage"] == pytest.approx(cov["coverage"])
    util = commitments.commitment_utilization(con, mq)
    assert usd.utilization is not None
    assert usd.utilization["unused"] == pytest.approx(float(util["unused"].sum()))
    found = anomalies.detect_with_teams(con, replace(mq, start=date(2026, 9, 30) - timedelta(days=180)))
    began = found.filter(pl.col("start").is_between(SEPT, date(2026, 9, 30)))
    assert sorted(usd.anomalies["id"]) == sorted(began["id"])
    assert set(usd.anomalies["status"]) <= {"New"}  # nothing triaged in this module's state
    assert usd.forecast is not None and usd.forecast.as_of == date(2026, 8, 31)
    assert usd.forecast.lo80 <= usd.forecast.expected <= usd.forecast.hi80


def test_every_sentence_cites_a_table_the_pack_holds(packs: dict[str, pack.Pack]) -> None:
    for p in packs.values():
        for s in p.sections:
            ids = {t.id for t in pack_tables.tables(p, s)} | {pack_words.T_BUDGET, pack_words.T_ANOM}
            ids |= {pack_words.T_SAVINGS, pack_words.T_FORECAST}  # "none" sentences cite the empty topic
            for _, sentences in pack_narrative.topics(p, s):
                for x in sentences:
                    cited = set(re.findall(r"T\d", x.cite))
                    assert cited and cited <= ids, (x.text, x.cite)
                    assert "-$0" not in x.text and "nan" not in x.text and "None" not in x.text, x.text


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def test_a_viewer_pack_holds_only_their_team(packs: dict[str, pack.Pack]) -> None:
    company, viewer = packs["company"], packs["viewer"]
    others = {t for s in company.sections for t in s.showback[C.x_Team].to_list()} - {"payments"}
    assert len(others) >= 5
    # the viewer's total per currency is the company's showback of payments
    for s in viewer.sections:
        theirs = next(c for c in company.sections if c.currency == s.currency).showback
        payments = float(theirs.filter(pl.col(C.x_Team) == "payments")["total"].sum())
        assert s.variance.current_total == pytest.approx(payments)
        assert s.showback[C.x_Team].to_list() == ["payments"]
    amounts = {
        money(float(r["total"]), s.currency)
        for s in company.sections
        for r in s.showback.filter(pl.col(C.x_Team) != "payments").iter_rows(named=True)
        if r["total"] >= 1000
    }
    html_text = re.sub(r"<[^>]+>", " ", pack_render.to_html(viewer).split("</style>", 1)[1])
    html_text = re.sub(r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]+", "", html_text)
    for text in (html_text, _pdf_text(pack_render.to_pdf(viewer))):
        assert "payments" in text
        for team in others:
            assert not re.search(rf"(?<![\w-]){re.escape(team)}(?![\w-])", text), team
        for amount in amounts:
            assert amount not in text
    assert "your scope (payments)" in viewer.title


def test_each_currency_has_its_own_section(packs: dict[str, pack.Pack]) -> None:
    p = packs["company"]
    assert [s.currency for s in p.sections] == ["EUR", "USD"]
    text = _pdf_text(pack_render.to_pdf(p))
    eur, usd = text.index("EUR: summary"), text.index("USD: summary")
    assert eur < usd
    assert "$" not in text[eur:usd] and "€" not in text[usd:]
    page = pack_render.to_html(p)
    assert page.count("<section>") == 2 and "<h2>EUR</h2>" in page and "<h2>USD</h2>" in page


def test_calendar_and_scope_edges_say_what_is_true(packs: dict[str, pack.Pack]) -> None:
    opened = packs["open"]
    assert opened.current.end == DEMO_END
    words = " ".join(_words(opened))
    assert "(to 15 Oct)" in words and "is spent" in words and "prorated to the 15 days" in words
    prod = " ".join(_words(packs["prod"]))
    assert "Budgets are set per team" in prod and "shows no savings" in prod
    assert all(s.budget is None for s in packs["prod"].sections)
    team = " ".join(_words(packs["team"]))
    assert "Utilization is not shown for a scoped pack" in team


def test_scope_errors_are_clear(con, demo_store: Path, state_db: Path) -> None:  # type: ignore[no-untyped-def]
    q, first = CostQuery(DEMO_END, DEMO_END), _first(con)
    with pytest.raises(pack.PackError, match="team=nobody: no such team"):
        pack.build(con, q, SEPT, pack.PackScope.parse(["team=nobody"]), first_day=first, state_path=state_db)
    with pytest.raises(pack.PackError, match="2027-01: no data"):
        pack.build(con, q, date(2027, 1, 1), first_day=first, state_path=state_db)
    with pytest.raises(pack.PackError, match="compares a month with the one before"):
        pack.build(con, q, first, first_day=first, state_path=state_db)


def test_cli_writes_pdf_and_html(demo_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pdf, page = tmp_path / "pack.pdf", tmp_path / "pack.html"
    assert main(["pack", "--store", str(demo_store), "--month", "2026-09", "--out", str(pdf)]) == 0
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(PdfReader(io.BytesIO(data)).pages) > 1
    assert "written to" in capsys.readouterr().err
    args = ["pack", "--store", str(demo_store), "--month", "2026-09", "--scope", "team=payments", "--out", str(page)]
    assert main(args) == 0
    body = page.read_text()
    assert body.startswith("<!doctype html>") and body.count("data:image/svg+xml;base64,") >= 3
    assert not re.search(r"<(script|link)\b|src=['\"]http", body)  # self-contained: nothing to fetch
    assert "for team payments" in body
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2030-01"], "2030-01: no data for this month"),
        (["--month", "2026-09", "--scope", "team=nobody"], "scope team=nobody: no such team"),
        (["--month", "2026-09", "--scope", "colour=red"], "use team=NAME, product=NAME or environment=NAME"),
    ],
)
def test_cli_refuses_clearly(
    demo_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "pack.pdf"
    assert main(["pack", "--store", str(demo_store), *args, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_cli_refuses_an_unwritable_path(demo_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for out, message in (
        (tmp_path / "missing" / "pack.pdf", "cannot write there: No such file or directory"),
        (tmp_path / "pack.docx", "must end in .pdf or .html"),
    ):
        assert main(["pack", "--store", str(demo_store), "--month", "2026-09", "--out", str(out)]) == 2
        assert message in capsys.readouterr().err


def test_variance_page_offers_the_viewer_their_pack(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, user="viewer", p_month="2026-09")
    at.switch_page("views/variance.py").run()
    assert not at.exception
    next(b for b in at.button if b.key == "p_pack_build").click().run()
    assert not at.exception and not at.error
    kept = at.session_state["_pack"]
    assert "payments" in kept[0]
    html_text, pdf_data = kept[1].decode(), kept[2]
    assert "your scope (payments)" in html_text and pdf_data.startswith(b"%PDF")
    assert "data-platform" not in _pdf_text(pdf_data)
