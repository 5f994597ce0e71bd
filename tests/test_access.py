from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import bcrypt
import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops_core import access, drilldown, state
from finops_core.query import NOT_SET, CostQuery, Scope
from finops_core.schema import C

ROOT = Path(__file__).resolve().parents[1]


def test_demo_users_one_per_role_with_hashed_passwords(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    plain = access.create_demo_users(path)
    doc, users = access.load_users(path)
    assert {u.role for u in users.values()} == set(access.ROLES)
    for name, entry in doc["credentials"]["usernames"].items():
        assert bcrypt.checkpw(plain[name].encode(), entry["password"].encode())
        assert plain[name] not in path.read_text()
    assert users["viewer"].scope == Scope(teams=("payments",))
    assert users["admin"].sees_all
    assert path.stat().st_mode & 0o077 == 0
    same = access.create_demo_users(tmp_path / "u2.yaml", "shared-password")
    assert set(same.values()) == {"shared-password"}


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (
            lambda d: d["credentials"]["usernames"]["admin"].update(password="hunter22"),
            "admin.password: expected a bcrypt hash",
        ),
        (lambda d: d["credentials"]["usernames"]["admin"].update(roles=["root"]), "admin.roles: expected exactly one"),
        (lambda d: d["credentials"]["usernames"]["viewer"].update(scope={}), "viewer.scope: a viewer needs"),
        (
            lambda d: d["credentials"]["usernames"]["viewer"].update(scope={"teams": "payments"}),
            "scope.teams: expected a list",
        ),
        (lambda d: d["credentials"].update(usernames={}), "credentials.usernames: expected a mapping"),
    ],
)
def test_malformed_users_files_are_refused_naming_the_field(tmp_path: Path, mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "users.yaml"
    access.create_demo_users(path, "password-1")
    doc = yaml.safe_load(path.read_text())
    mutate(doc)
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(access.AccessError, match=re.escape(needle)) as err:
        access.load_users(path)
    assert str(path) in str(err.value)


def test_save_user_hashes_and_keeps_the_old_file_on_a_bad_change(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    access.create_demo_users(path, "password-1")
    access.save_user(
        path, "Pat", "Pat PM", "pat@x.example", "viewer", Scope(sub_accounts=("210000000001",)), "s3cret-pass"
    )
    _, users = access.load_users(path)
    assert users["pat"].scope == Scope(sub_accounts=("210000000001",))
    assert "s3cret-pass" not in path.read_text()
    before = path.read_text()
    with pytest.raises(access.AccessError, match="viewer needs"):
        access.save_user(path, "pat", "Pat", "", "viewer", Scope(), None)
    with pytest.raises(access.AccessError, match="at least 8"):
        access.save_user(path, "pat", "Pat", "", "finance", Scope(), "short")
    assert path.read_text() == before
    access.save_user(path, "pat", "Pat", "", "finance", Scope(), None)  # role change keeps the password
    doc, users = access.load_users(path)
    assert users["pat"].role == "finance" and users["pat"].sees_all
    assert bcrypt.checkpw(b"s3cret-pass", doc["credentials"]["usernames"]["pat"]["password"].encode())


def test_audit_log_records_and_filters(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    state.record("login", "ann", path=db)
    state.record("download", "ann", {"file": "x.csv", "rows": 3}, path=db)
    state.record("login_failed", "bob", path=db)
    log = state.audit_log(db)
    assert log["action"].to_list() == ["login_failed", "download", "login"]
    assert state.audit_log(db, username="ann", action="download")["detail"][0] == '{"file": "x.csv", "rows": 3}'


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_scoped_totals_equal_the_in_scope_rows(con, demo_rows: pl.DataFrame, data) -> None:  # type: ignore[no-untyped-def]
    """For random scopes, every scoped answer equals the sum over in-scope rows of the unscoped data."""
    teams = ["payments", "checkout", "search", "ml", "Unallocated", "paymnets", "no-such-team"]
    subs = demo_rows[C.SubAccountId].unique().sort().to_list()
    pick_teams = data.draw(st.one_of(st.none(), st.lists(st.sampled_from(teams), max_size=3, unique=True)))
    pick_subs = data.draw(st.one_of(st.none(), st.lists(st.sampled_from(subs), max_size=3, unique=True)))
    scope = Scope(
        tuple(pick_teams) if pick_teams is not None else None, tuple(pick_subs) if pick_subs is not None else None
    )
    dim = data.draw(st.sampled_from([C.ServiceName, C.SubAccountId, C.x_Team, C.ResourceId, "tag:env"]))
    q = CostQuery(date(2026, 8, 1), date(2026, 9, 30), group_by=(dim,), scope=scope)
    enriched = _enriched(demo_rows)
    if not scope.is_all:
        keep = pl.lit(False)
        if scope.teams is not None:
            keep = keep | pl.col(C.x_Team).is_in(list(scope.teams))
        if scope.sub_accounts is not None:
            keep = keep | pl.col(C.SubAccountId).is_in(list(scope.sub_accounts))
        enriched = enriched.filter(keep)
    if dim == "tag:env":
        enriched = enriched.with_columns(enriched[C.Tags].str.json_path_match("$.env").alias(dim))
    sel = enriched.filter(pl.col(C.x_ChargeDate).is_between(q.start, q.end))
    grouped = sel.group_by(pl.col(dim).fill_null(NOT_SET), C.BillingCurrency).agg(pl.col(q.metric).sum())
    want = {(k, cur): v for k, cur, v in grouped.iter_rows()}
    got = {
        tuple(r[:-1]): r[-1]
        for r in drilldown.cost_by_dimension(con, q).select(dim, C.BillingCurrency, q.metric).iter_rows()
    }
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-6)


_ENRICHED: dict[int, pl.DataFrame] = {}


def _enriched(demo_rows: pl.DataFrame) -> pl.DataFrame:
    from finops_core.rollups import current_rules
    from tests.allocation_ref import allocate

    key = id(demo_rows)
    if key not in _ENRICHED:
        _ENRICHED[key] = allocate(demo_rows, current_rules())
    return _ENRICHED[key]


SECRET_PATTERNS = (
    re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}"),  # a bcrypt hash
    re.compile(r"cookie_key\s*=\s*['\"](?!<)[^'\"]{8,}"),  # a cookie key value
    re.compile(r"password\w*\s*[:=]\s*['\"](?!<)[^'\"\s]{6,}['\"]"),  # a quoted literal password
)
CONFIG_PASSWORD = re.compile(r"^\s*password\s*[:=]\s*(?![\"']?<)\S{6,}")  # unquoted, in YAML/TOML


def test_no_secret_is_committed() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    allowed_password_lines = (
        "DEMO_PASSWORD =",
        "password-1",
        "s3cret-pass",
        "shared-password",
        "hunter22",
        "wrong password",
        "test-password",
    )
    offenders = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix in (".png", ".parquet"):
            continue
        for lineno, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
            hit = any(p.search(line) for p in SECRET_PATTERNS) or (
                path.suffix in (".yaml", ".yml", ".toml") and CONFIG_PASSWORD.search(line)
            )
            if hit and not any(a in line for a in allowed_password_lines):
                offenders.append(f"{name}:{lineno}: {line.strip()[:80]}")
    assert offenders == []
    ignored = subprocess.run(
        ["git", "check-ignore", "data/state/users.yaml", ".streamlit/secrets.toml", "data/state/cookie.key"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert len(ignored) == 3


def test_demo_users_are_created_once_by_the_first_of_two_writers(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    first = access.create_demo_users_once(path, "first-password")
    assert first is not None and set(first.values()) == {"first-password"}
    assert access.create_demo_users_once(path, "second-password") is None  # nothing printed, nothing replaced
    doc = yaml.safe_load(path.read_text())
    assert bcrypt.checkpw(b"first-password", doc["credentials"]["usernames"]["admin"]["password"].encode())
    assert [p.name for p in tmp_path.iterdir()] == ["users.yaml"]
