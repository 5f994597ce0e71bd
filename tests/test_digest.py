"""Weekly digest: its figures equal the store's, its scope holds, and it is delivered to a webhook
and an SMTP server started here on 127.0.0.1; failed deliveries are recorded and reported."""

from __future__ import annotations

import difflib
import email
import email.policy
import http.server
import json
import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest

from finops_core import drilldown, triage
from finops_core.query import CostQuery, QueryError, Scope
from finops_core.reports import delivery, digest, digest_render
from finops_core.schema import C
from tests.conftest import DEMO_END

FIRST = date(2024, 10, 1)


@pytest.fixture(scope="module")
def state_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's own state database: its triage changes stay out of other tests' way."""
    return tmp_path_factory.mktemp("digest-state") / "state.sqlite"


@pytest.fixture(scope="module")
def digests(demo_store: Path, state_db: Path) -> dict[str, digest.Digest]:
    """Digests after the Anomalies page's work: detections synced into triage, one case taken on
    (Investigating, with an owner) and one closed."""
    from finops_core import anomalies, store

    con = store.connect(demo_store)
    first = con.execute(f"SELECT min({C.x_ChargeDate}) FROM daily").fetchall()[0][0]
    triage.sync(anomalies.detect_with_teams(con, CostQuery(first, DEMO_END)), path=state_db)
    cases = triage.cases(state_db).filter(pl.col("status") == "New").sort("impact", descending=True)
    taken, closed = cases.row(0, named=True), cases.row(1, named=True)
    owner = "fran@acme.example"
    version = triage.update(taken["id"], taken["version"], "fran", status="Acknowledged", owner=owner, path=state_db)
    triage.update(taken["id"], version, "fran", status="Investigating", path=state_db)
    version = triage.update(closed["id"], closed["version"], "fran", status="Acknowledged", path=state_db)
    triage.update(closed["id"], version, "fran", status="Resolved", path=state_db)
    q = CostQuery(DEMO_END, DEMO_END)
    out = {
        "company": digest.build(con, q, first_day=first, store_root=demo_store, state_path=state_db),
        "payments": digest.build(
            con,
            q,
            digest.DigestScope.parse("team=payments"),
            first_day=first,
            store_root=demo_store,
            state_path=state_db,
        ),
        "viewer": digest.build(
            con,
            CostQuery(DEMO_END, DEMO_END, scope=Scope(teams=("checkout",))),
            digest.DigestScope.parse("team=payments"),
            first_day=first,
            store_root=demo_store,
            state_path=state_db,
        ),
    }
    con.close()
    out["_taken"], out["_closed"] = taken["id"], closed["id"]  # type: ignore[assignment]
    return out


def test_scope_parsing() -> None:
    assert digest.DigestScope.parse("team=payments") == digest.DigestScope("team", "payments")
    assert digest.DigestScope.parse("env=prod").kind == "environment"
    assert digest.DigestScope.parse(None).kind == "company"
    with pytest.raises(QueryError):
        digest.DigestScope.parse("colour=red")


def test_weeks_and_totals_equal_the_store(con, digests: dict[str, digest.Digest]) -> None:  # type: ignore[no-untyped-def]
    d = digests["payments"]
    assert d.week == (DEMO_END - timedelta(days=6), DEMO_END)
    assert d.previous == (DEMO_END - timedelta(days=13), DEMO_END - timedelta(days=7))
    for which, (start, end) in (("current", d.week), ("previous", d.previous)):
        q = CostQuery(start, end, filters=((C.x_Team, ("payments",)),))
        expected = drilldown.total(con, q).sort(C.BillingCurrency)
        got = d.totals.select(C.BillingCurrency, which)
        assert got[C.BillingCurrency].to_list() == expected[C.BillingCurrency].to_list()
        assert got[which].to_list() == pytest.approx(expected[C.EffectiveCost].to_list(), abs=0.01)
    week = CostQuery(d.week[0], d.week[1], filters=((C.x_Team, ("payments",)),))
    services = drilldown.movers(con, week, C.ServiceName, digest.TOP_MOVERS)
    mine = d.movers.filter(pl.col("dimension") == C.ServiceName)
    assert mine["delta"].to_list() == pytest.approx(services["delta"].to_list())


def test_team_digest_holds_only_that_team(digests: dict[str, digest.Digest]) -> None:
    d = digests["payments"]
    assert d.budgets["line"].to_list() in ([], ["payments"])
    assert set(d.implemented["team"]) <= {"payments"}
    company = digests["company"]
    assert company.totals["current"].sum() > d.totals["current"].sum()
    # a viewer scoped to checkout asking for the payments digest gets nothing of payments
    v = digests["viewer"]
    assert v.totals.is_empty() or float(v.totals["current"].abs().sum()) == 0.0
    assert v.budgets.is_empty() and v.anomalies.is_empty() and v.backlog.is_empty()


def test_anomalies_carry_triage_status_and_owner(digests: dict[str, digest.Digest], state_db: Path) -> None:
    d = digests["company"]
    cases = triage.cases(state_db)
    open_cases = cases.filter(~pl.col("status").is_in(triage.CLOSED))
    # every open case is listed (with its triage status and owner), no closed one is
    assert set(open_cases["id"]) <= set(d.anomalies["id"])
    assert digests["_closed"] not in set(d.anomalies["id"])  # type: ignore[operator]
    taken = d.anomalies.filter(pl.col("id") == digests["_taken"]).row(0, named=True)
    assert (taken["status"], taken["owner"]) == ("Investigating", "fran@acme.example")
    listed = d.anomalies.join(cases.select("id", pl.col("status").alias("case")), on="id", how="left")
    assert (listed["status"] == listed["case"].fill_null("New")).all()
    # those not yet triaged are this week's detections
    assert listed.filter(pl.col("case").is_null())["is_new"].all()
    team = digests["payments"].anomalies
    assert set(team["id"]) == set(open_cases.filter(pl.col("team") == "payments")["id"]) | set(
        team.filter(pl.col("is_new"))["id"]
    )


def test_budget_burn_and_overrun_are_consistent(digests: dict[str, digest.Digest]) -> None:
    b = digests["company"].budgets
    assert b.height > 0
    for r in b.iter_rows(named=True):
        assert r["burn"] == pytest.approx(r["mtd"] / r["budget"])
        assert r["overrun"] == pytest.approx(max(r["projected"] - r["budget"], 0.0))
        assert (r["overrun_on"] is not None) == (r["projected"] > r["budget"])


def test_three_renderings_hold_the_same_sections(digests: dict[str, digest.Digest]) -> None:
    d = digests["company"]
    md = digest_render.markdown(d)
    html = digest_render.html_body(d)
    payload = digest_render.slack(d)
    headings = [h for h, _, _ in digest_render.sections(d)]
    for heading in headings:
        assert f"## {heading}" in md
        assert heading.replace("&", "&amp;") in html
    assert payload["text"] == d.title and payload["blocks"][0]["type"] == "header"
    assert [b["text"]["text"].split("\n")[0] for b in payload["blocks"][1:]] == [f"*{h}*" for h in headings]
    usd = d.totals.filter(pl.col(C.BillingCurrency) == "USD").row(0, named=True)
    assert digest_render.money(usd["current"], "USD") in md


class _Webhook(http.server.BaseHTTPRequestHandler):
    status = 200
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"type": self.headers["Content-Type"], "json": json.loads(body)})
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: socketserver.BaseServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]  # type: ignore[misc]
        yield f"{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def webhook() -> Iterator[type[_Webhook]]:
    handler = type("Hook", (_Webhook,), {"status": 200, "received": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for address in _serve(server):
        handler.url = f"http://{address}/hook"  # type: ignore[attr-defined]
        yield handler


def test_webhook_delivery_arrives_and_is_recorded(digests: dict[str, digest.Digest], webhook, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d, db = digests["payments"], tmp_path / "state.sqlite"
    settings = delivery.Settings(webhook_url=webhook.url)
    result = delivery.to_webhook(d, "slack", settings, user="cron", path=db)
    assert result.ok, result.error
    (got,) = webhook.received
    assert got["type"] == "application/json"
    assert got["json"] == digest_render.slack(d)
    webhook.status = 500
    failed = delivery.to_webhook(d, "md", settings, user="cron", path=db)
    assert not failed.ok and failed.error.startswith("HTTP 500")
    assert webhook.received[1]["json"] == {"text": digest_render.markdown(d)}
    log = delivery.deliveries(db)
    assert log.select("channel", "ok", "format", "scope").rows() == [
        ("webhook", 0, "md", "team payments"),
        ("webhook", 1, "slack", "team payments"),
    ]
    assert "HTTP 500" in log["error"][0] and log["target"][0] == webhook.url


class _SMTP(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        store: list[dict[str, Any]] = self.server.messages  # type: ignore[attr-defined]
        self._say("220 test ESMTP")
        envelope: dict[str, Any] = {"rcpt": []}
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self._say("250 test")
            elif verb == b"MAIL":
                envelope["from"] = line.decode().split(":", 1)[1].strip()
                self._say("250 OK")
            elif verb == b"RCPT":
                envelope["rcpt"].append(line.decode().split(":", 1)[1].strip())
                self._say("250 OK")
            elif verb == b"DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                store.append(envelope | {"data": b"".join(data)})
                envelope = {"rcpt": []}
                self._say("250 OK queued")
            elif verb == b"QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 OK")


def test_smtp_delivery_arrives_and_is_recorded(digests: dict[str, digest.Digest], tmp_path: Path) -> None:
    d, db = digests["payments"], tmp_path / "state.sqlite"
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTP)
    server.messages = []  # type: ignore[attr-defined]
    for address in _serve(server):
        host, port = address.split(":")
        settings = delivery.Settings(smtp_host=host, smtp_port=int(port), smtp_from="finops@acme.example")
        result = delivery.by_smtp(d, settings, ("lead@acme.example", "cfo@acme.example"), user="cron", path=db)
        assert result.ok, result.error
    (got,) = server.messages  # type: ignore[attr-defined]
    assert got["from"] == "<finops@acme.example>"
    assert got["rcpt"] == ["<lead@acme.example>", "<cfo@acme.example>"]
    msg = email.message_from_bytes(got["data"], policy=email.policy.default)
    assert msg["Subject"] == d.title and msg["To"] == "lead@acme.example, cfo@acme.example"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.replace("\r\n", "\n") == digest_render.markdown(d)
    assert html.strip() == digest_render.html_body(d)
    assert delivery.deliveries(db).select("channel", "ok").rows() == [("smtp", 1)]


def test_a_closed_port_is_a_recorded_failure(digests: dict[str, digest.Digest], tmp_path: Path) -> None:
    d, db = digests["company"], tmp_path / "state.sqlite"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    settings = delivery.Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_to=("x@acme.example",), timeout=3)
    smtp = delivery.by_smtp(d, settings, path=db)
    hook = delivery.to_webhook(
        d, "slack", delivery.Settings(webhook_url=f"http://127.0.0.1:{port}/", timeout=3), path=db
    )
    unset = delivery.to_webhook(d, "slack", delivery.Settings(), path=db)
    assert not smtp.ok and "Connection" in smtp.error
    assert not hook.ok and "Connection" in hook.error
    assert not unset.ok and delivery.ENV["webhook_url"] in unset.error
    log = delivery.deliveries(db)
    assert log.height == 3 and log["ok"].sum() == 0 and (log["error"] != "").all()
    assert not delivery.on_time(db)["on_time"].any()


def test_file_delivery_and_the_on_time_rate(digests: dict[str, digest.Digest], tmp_path: Path) -> None:
    d, db = digests["company"], tmp_path / "state.sqlite"
    out = tmp_path / "out" / "digest.md"
    assert delivery.to_file(d, "md", out, path=db).ok
    assert out.read_text() == digest_render.markdown(d)
    weeks = delivery.on_time(db)
    assert weeks.select("scope", "week_end", "attempts").rows() == [("the company", str(DEMO_END), 1)]
    # delivered now, long after the demo week's due time: recorded, and late
    assert weeks["on_time"].to_list() == [False]


def test_settings_from_secrets_and_environment(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[digest]\nsmtp_host = "mail.acme.example"\nsmtp_port = 587\nsmtp_to = ["a@x", "b@x"]\n')
    s = delivery.load_settings(secrets, env={"FINOPS_SMTP_SECURITY": "starttls", "FINOPS_DIGEST_TO": "c@x"})
    assert (s.smtp_host, s.smtp_port, s.smtp_security, s.smtp_to) == ("mail.acme.example", 587, "starttls", ("c@x",))
    secrets.write_text('[digest]\nsmtp_hots = "typo"\n')
    with pytest.raises(ValueError, match="smtp_hots"):
        delivery.load_settings(secrets, env={})


@pytest.mark.parametrize("user", ["finops", "viewer"])
def test_digest_page_previews_the_core_digest(demo_store: Path, monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    from finops_core import access, store
    from tests.test_pages import _app

    at = _app(demo_store, monkeypatch, user=user)
    at.switch_page("views/digest.py").run()
    assert not at.exception and at.title[0].value == "Weekly digest"
    scope = access.DEMO_USERS[user][2]
    q = CostQuery(DEMO_END, DEMO_END, scope=scope or Scope())
    con = store.connect(demo_store)
    first = con.execute(f"SELECT min({C.x_ChargeDate}) FROM daily").fetchall()[0][0]
    expected = digest_render.markdown(digest.build(con, q, first_day=first, store_root=demo_store))
    con.close()
    shown = next((m.value for m in at.markdown if m.value.startswith("# Weekly")), "")
    assert shown == expected.rstrip("\n"), "\n".join(
        difflib.unified_diff(expected.splitlines(), shown.splitlines(), lineterm="")
    )
    sends = [b for b in at.button if b.label in ("Post to webhook", "Send e-mail")]
    assert bool(sends) == (user == "finops")


def test_cli_writes_prints_and_sends_the_digest(
    demo_store: Path, digests: dict[str, digest.Digest], webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from tests.test_cli import run

    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[digest]\nwebhook_url = "{webhook.url}"\n')
    base = ("digest", "--store", str(demo_store), "--scope", "team=payments", "--secrets", str(secrets))
    from finops_core import store

    con = store.connect(demo_store)  # the command reads the app's state database, as cron would
    first = con.execute(f"SELECT min({C.x_ChargeDate}) FROM daily").fetchall()[0][0]
    payments = digest.build(
        con,
        CostQuery(DEMO_END, DEMO_END),
        digest.DigestScope("team", "payments"),
        first_day=first,
        store_root=demo_store,
    )
    con.close()
    expected = digest_render.markdown(payments)
    code, out, _ = run(*base)
    assert code == 0 and out == expected
    target = tmp_path / "digest.md"
    code, _, err = run(*base, "--out", str(target), "--user", "cron")
    assert code == 0 and target.read_text() == expected and "delivered by file" in err
    code, _, err = run(*base, "--format", "slack", "--send", "webhook")
    assert code == 0 and webhook.received[-1]["json"] == digest_render.slack(payments)
    webhook.status = 500
    code, _, err = run(*base, "--send", "webhook")
    assert code == 1 and "HTTP 500" in err
    code, _, err = run(*base, "--send", "smtp")
    assert code == 1 and "FINOPS_SMTP_HOST" in err
    log = delivery.deliveries().head(4)
    assert log.select("channel", "ok").rows() == [("smtp", 0), ("webhook", 0), ("webhook", 1), ("file", 1)]
    assert log["username"][3] == "cron"
    code, _, err = run("digest", "--store", str(demo_store), "--scope", "colour=red")
    assert code == 2 and "team=NAME" in err


def test_a_digest_never_writes_triage(con, digests: dict[str, digest.Digest], demo_store: Path, state_db: Path) -> None:  # type: ignore[no-untyped-def]
    before = triage.cases(state_db).sort("id")
    first = con.execute(f"SELECT min({C.x_ChargeDate}) FROM daily").fetchall()[0][0]
    # viewers of one sub account each: their team and total series hold fewer rows than the cases'
    accounts = [str(k).split(" / ")[-1] for k in before.filter(pl.col("scope") == "service")["key"]]
    for scope in (Scope(), *(Scope(sub_accounts=(a,)) for a in dict.fromkeys(accounts))):
        q = CostQuery(DEMO_END, DEMO_END, scope=scope)
        d = digest.build(con, q, first_day=first, store_root=demo_store, state_path=state_db)
        if scope.sub_accounts:
            assert all(str(k).split(" / ")[-1] in scope.sub_accounts or " / " not in str(k) for k in d.anomalies["key"])
    assert triage.cases(state_db).sort("id").equals(before)


def test_a_viewer_gets_their_scope_and_only_commitment_expiries(con, demo_store: Path, state_db: Path) -> None:  # type: ignore[no-untyped-def]
    first = con.execute(f"SELECT min({C.x_ChargeDate}) FROM daily").fetchall()[0][0]
    q = CostQuery(DEMO_END, DEMO_END, scope=Scope(teams=("payments",)))
    d = digest.build(con, q, first_day=first, store_root=demo_store, state_path=state_db)
    assert d.title.startswith("Weekly cost digest for your scope (payments):")
    assert d.commitments["utilization"].is_null().all()
    assert all(part.startswith("expire") for f in d.commitments["flags"] for part in f.split("; "))
    full = digest.build(con, CostQuery(DEMO_END, DEMO_END), first_day=first, store_root=demo_store, state_path=state_db)
    assert full.commitments["utilization"].is_not_null().any()


def test_anomalies_are_listed_latest_first_with_full_dates(digests: dict[str, digest.Digest]) -> None:
    a = digests["company"].anomalies
    assert a.height >= 2
    ends = a["end"].to_list()
    assert ends == sorted(ends, reverse=True)
    listed = next(
        rows for title, _, rows in digest_render.sections(digests["company"]) if title.startswith("Anomalies")
    )
    first = a.row(0, named=True)
    assert listed[0][2] == f"{first['start'].day} {first['start']:%b %Y} to {first['end'].day} {first['end']:%b %Y}"
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4} to \d{1,2} [A-Z][a-z]{2} \d{4}", r[2]) for r in listed)
