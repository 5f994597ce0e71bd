"""Secrets stay out of the repo, the server's logs and the browser; secret files are owner-only;
failed sign-ins are rate-limited per username and audited; every download, rule, budget and user
change leaves an audit row."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import streamlit as st_module
import yaml
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from finops_core import access, allocation, budgets, governance, logins, state
from finops_core.ingest import ingest
from finops_core.query import Scope
from tests.conftest import DEMO_PASSWORD, ROOT, login, serve_app
from tests.reliability import crash

BCRYPT = re.compile(rb"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
KNOWN = [
    BCRYPT,
    re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(rb"cookie_key\s*=\s*[\"'][^\"'\s]{16,}"),
    re.compile(rb"(?i)(aws_secret_access_key|api_key|smtp_password)\s*[:=]\s*[\"']?[A-Za-z0-9/+]{16,}"),
]


def _secrets_of(folder: Path, password: str | None = None) -> tuple[list[str], dict[str, str]]:
    """A users file and cookie key made in ``folder`` as the app makes them: (secrets, passwords)."""
    plain = access.create_demo_users(folder / "users.yaml", password)
    doc = yaml.safe_load((folder / "users.yaml").read_text())
    hashes = [u["password"] for u in doc["credentials"]["usernames"].values()]
    return [*hashes, access.ensure_cookie_key(folder), *plain.values()], plain


def test_no_password_hash_or_key_in_the_tracked_files(tmp_path: Path) -> None:
    made, _ = _secrets_of(tmp_path)  # random passwords, fresh hashes and key
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    found = []
    for name in filter(None, tracked.decode().split("\0")):
        path = ROOT / name
        if not path.is_file():
            continue
        body = path.read_bytes()
        found += [f"{name}: {p.pattern!r}" for p in KNOWN if p.search(body)]
        found += [f"{name}: a generated secret" for s in made if s.encode() in body]
    assert found == []


def test_secret_files_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0)  # the modes must not depend on the umask
    try:
        users, keys = tmp_path / "new" / "state" / "users.yaml", tmp_path / "keys" / "state"
        access.create_demo_users(users, DEMO_PASSWORD)
        access.ensure_cookie_key(keys)
        access.save_user(users, "ann", "Ann", "", "finance", Scope(), "ann-password-1")
        once = tmp_path / "once" / "users.yaml"
        access.create_demo_users_once(once, DEMO_PASSWORD)
    finally:
        os.umask(old)
    for path in (users, keys / "cookie.key", once):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent
    assert sorted(p.name for p in users.parent.iterdir()) == ["users.yaml"]  # no temp file left


def test_failed_logins_lock_a_username_for_the_rest_of_the_window(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    t0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    for i in range(logins.FAILURES - 1):
        assert logins.record_failure("ann", t0 + timedelta(minutes=i), db) is None
    until = logins.record_failure("ann", t0 + timedelta(minutes=4), db)
    assert until == t0 + logins.WINDOW
    assert logins.locked_until("ann", t0 + timedelta(minutes=14), db) == until
    assert logins.locked_until("bob", t0 + timedelta(minutes=14), db) is None  # per username
    assert logins.locked_until("ann", t0 + timedelta(minutes=15, seconds=1), db) is None
    assert logins.refuse_locked("ann", until, db) == logins.LOCKED_MESSAGE.format(until=until)
    actions = state.audit_log(db, username="ann")["action"].to_list()
    assert actions.count("login_failed") == 5 and actions.count("login_locked") == 1
    assert actions.count("login_refused_locked") == 1
    # a successful sign-in starts the count again
    state.record("login", "cy", path=db, now=t0)
    for i in range(4):
        logins.record_failure("cy", t0 - timedelta(minutes=5 - i), db)  # before the sign-in
    assert logins.record_failure("cy", t0 + timedelta(minutes=1), db) is None


def _signed_out_app(monkeypatch: pytest.MonkeyPatch, demo_store: Path, folder: Path) -> AppTest:
    monkeypatch.setenv("FINOPS_STORE", str(demo_store))
    monkeypatch.setenv("FINOPS_STATE", str(folder))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    return at


def _try(at: AppTest, username: str, password: str) -> AppTest:
    boxes = {t.label: t for t in at.text_input}
    boxes["Username"].input(username)
    boxes["Password"].input(password)
    next(b for b in at.button if b.label == "Log in").click()
    return at.run()


def test_the_login_form_locks_a_name_without_telling_whether_it_exists(
    monkeypatch: pytest.MonkeyPatch, demo_store: Path, tmp_path: Path
) -> None:
    access.create_demo_users(tmp_path / "users.yaml", DEMO_PASSWORD)
    at = _signed_out_app(monkeypatch, demo_store, tmp_path)
    for name in ("finops", "nobody"):
        for _ in range(logins.FAILURES - 1):
            at = _try(at, name, "wrong-password")
            assert [e.value for e in at.error] == ["Wrong username or password."]
        at = _try(at, name, "wrong-password")
        assert "Too many failed sign-ins for this username" in at.error[0].value
    at = _try(at, "finops", DEMO_PASSWORD)  # the right password, but the name is locked
    refused = at.error[0].value
    assert "Too many failed sign-ins" in refused and not at.session_state["authentication_status"]
    at = _try(at, "nobody", DEMO_PASSWORD)
    assert re.sub(r"\d", "0", at.error[0].value) == re.sub(r"\d", "0", refused)  # same words for a stranger
    log = state.audit_log(tmp_path / "state.sqlite")
    for name in ("finops", "nobody"):
        mine = log.filter(username=name)["action"].to_list()
        assert mine.count("login_failed") == 5 and mine.count("login_locked") == 1
        assert mine.count("login_refused_locked") == 1
    at = _try(at, "admin", DEMO_PASSWORD)  # other names are not affected
    assert at.session_state["authentication_status"]


@pytest.fixture()
def logged_server(demo_store: Path, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    folder, log = tmp_path / "state", tmp_path / "server.log"
    folder.mkdir()
    with serve_app(demo_store, {"FINOPS_STATE": str(folder)}, log) as url:
        yield url, folder, log


@pytest.mark.e2e
def test_no_secret_in_the_server_log_or_the_browser(logged_server: tuple[str, Path, Path], browser: Any) -> None:
    url, folder, log = logged_server
    context = browser.new_context()
    page = context.new_page()
    login(page, url, "admin", DEMO_PASSWORD)  # the first visit writes the users file and cookie key
    page.goto(f"{url}/users")
    page.wait_for_selector('[data-testid="stMetricValue"], h1', timeout=60_000)
    page.wait_for_timeout(1500)
    doc = yaml.safe_load((folder / "users.yaml").read_text())
    secrets = [DEMO_PASSWORD, (folder / "cookie.key").read_text().strip()]
    secrets += [u["password"] for u in doc["credentials"]["usernames"].values()]
    storage = page.evaluate("() => JSON.stringify(Object.assign({}, window.localStorage, window.sessionStorage))")
    cookies = context.cookies()
    seen = {
        "page HTML": page.content(),
        "storage": storage,
        "cookies": json.dumps([c for c in cookies if c["name"] != access.COOKIE_NAME]),
        "auth cookie": next(c["value"] for c in cookies if c["name"] == access.COOKIE_NAME),
        "server log": log.read_text(errors="replace"),
    }
    leaks = [(where, s[:6]) for where, text in seen.items() for s in secrets if s in text]
    assert leaks == []
    assert BCRYPT.search(seen["page HTML"].encode()) is None
    assert "Demo users written" in seen["server log"]  # the log was captured, and said what it did
    context.close()


def _clicking_downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every download button rendered is clicked at once (its on_click hook runs, as on a click)."""
    shown: list[str] = []
    real = DeltaGenerator.download_button

    def click(self: DeltaGenerator, label: str, data: Any, file_name: str | None = None, *a: Any, **kw: Any) -> Any:
        shown.append(str(file_name))
        hook = kw.get("on_click")
        if callable(hook):
            hook(*kw.get("args", ()) or ())
        return real(self, label, data, file_name, *a, **kw)

    monkeypatch.setattr(DeltaGenerator, "download_button", click)
    monkeypatch.setattr(st_module, "download_button", lambda *a, **kw: click(st_module._main, *a, **kw))
    return shown


def _as(monkeypatch: pytest.MonkeyPatch, demo_store: Path, folder: Path, user: str) -> AppTest:
    monkeypatch.setenv("FINOPS_STORE", str(demo_store))
    monkeypatch.setenv("FINOPS_STATE", str(folder))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = user
    at.session_state["name"] = user
    at.session_state["roles"] = [access.DEMO_USERS[user][1]]
    at.session_state["logout"] = False
    return at.run()


@pytest.mark.parametrize("page", ["spend", "digest", "quality", "variance"])
def test_every_download_writes_an_audit_row(
    monkeypatch: pytest.MonkeyPatch, demo_store: Path, tmp_path: Path, page: str
) -> None:
    access.create_demo_users(tmp_path / "users.yaml", DEMO_PASSWORD)
    shown = _clicking_downloads(monkeypatch)
    at = _as(monkeypatch, demo_store, tmp_path, "admin").switch_page(f"views/{page}.py").run()
    if page == "variance":  # the HTML and PDF pack is built on request
        next(b for b in at.button if b.key == "p_pack_build").click()
        at.run()
    assert not at.exception
    assert shown, f"no download button on {page}"
    log = state.audit_log(tmp_path / "state.sqlite", action="download", username="admin")
    files = [json.loads(d)["file"] for d in log["detail"]]
    assert sorted(set(shown)) == sorted(set(files))
    if page == "variance":
        assert any(f.endswith(".pdf") for f in files)


def test_rule_budget_and_user_changes_are_audited(
    monkeypatch: pytest.MonkeyPatch, demo_store: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("FINOPS_STATE", str(tmp_path))
    db = tmp_path / "state.sqlite"
    root = tmp_path / "store"
    ingest([crash.BASE_FILE], root)
    name = allocation.RULE_FILES[0]
    text = allocation.rules_path(name).read_text()
    governance.save_rules(root, name, text + "\n# reviewed in the audit test\n", "admin")
    budgets.save(budgets.load(demo_store / "demo" / "budgets.csv"), "finance", "budgets.csv", db)
    assert state.audit_log(db, action="rules_change", username="admin").height == 1
    assert state.audit_log(db, action="budget_change", username="finance").height == 1

    access.create_demo_users(tmp_path / "users.yaml", DEMO_PASSWORD)
    at = _as(monkeypatch, demo_store, tmp_path, "admin").switch_page("views/users.py").run()
    boxes = {t.label: t for t in at.text_input}
    boxes["Username"].input("dana")
    boxes["Name"].input("Dana")
    boxes["Password"].input("dana-password-1")
    next(s for s in at.selectbox if s.label == "Role").select("finance")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert "dana" in access.load_users(tmp_path / "users.yaml")[1]
    at.selectbox(key="u_pick").select("dana")
    at.run()
    next(s for s in at.selectbox if s.label == "Role").select("finops")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert access.load_users(tmp_path / "users.yaml")[1]["dana"].role == "finops"
    next(s for s in at.selectbox if s.label == "User to remove").select("dana")
    next(c for c in at.checkbox if c.label.startswith("Yes, remove")).check()
    next(b for b in at.button if b.label == "Remove").click()
    at.run()
    assert not at.exception and "dana" not in access.load_users(tmp_path / "users.yaml")[1]
    log = state.audit_log(db, username="admin")
    changes = [json.loads(d) for a, d in log.select("action", "detail").rows() if a == "user_change"]
    assert sorted(c["role"] for c in changes if c["target"] == "dana") == ["finance", "finops"]
    removed = [json.loads(d) for a, d in log.select("action", "detail").rows() if a == "user_remove"]
    assert removed == [{"role": "finops", "target": "dana"}]
    with pytest.raises(access.AccessError, match="yourself"):
        access.remove_user(tmp_path / "users.yaml", "admin", "admin")
