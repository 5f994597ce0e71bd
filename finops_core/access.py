"""Users, roles, row-level scope and the users file.

Roles: ``admin`` (everything: ingest, rules, users, audit), ``finops`` (all data, triage, backlog,
rules dry-run), ``finance`` (all data, read-only, forecasts and exports), ``viewer`` (only the
teams and/or sub accounts in their scope). The users file is YAML in streamlit-authenticator's
credentials layout (bcrypt hashes only) plus a ``scope`` per viewer; it lives outside git.
"""

from __future__ import annotations

import copy
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from finops_core.query import ALL, Scope

ROLES = ("admin", "finops", "finance", "viewer")
DEMO_USERS: dict[str, tuple[str, str, Scope | None]] = {
    "admin": ("Avery Admin", "admin", None),
    "finops": ("Fran FinOps", "finops", None),
    "finance": ("Fin Analyst", "finance", None),
    "viewer": ("Vic Viewer (payments)", "viewer", Scope(teams=("payments",))),
}
# Which role sees which screen; app.py registers only these pages in st.navigation, so a page
# outside a role cannot be reached even by URL.
PAGE_ROLES: dict[str, tuple[str, ...]] = {
    "overview": ROLES,  # the landing page; viewers see their scope's KPIs only
    "spend": ROLES,
    "variance": ROLES,  # viewers see their scope only
    "digest": ROLES,  # viewers preview and download their scope's digest; sending is for admin, finops, finance
    "commitments": ("admin", "finops", "finance"),
    "anomalies": ("admin", "finops", "finance"),
    "savings": ROLES,
    "allocation": ROLES,
    "forecast": ROLES,  # viewers see their scope only; budgets are edited by finance and admin
    "unit": ROLES,  # viewers see their teams' cost per unit
    "quality": ("admin", "finops", "finance"),
    "ingest": ("admin",),
    "audit": ("admin",),
    "users": ("admin",),
}
COOKIE_NAME = "finops_auth"
COOKIE_EXPIRY_DAYS = 7


class AccessError(ValueError):
    """A users file or user change that is not valid; the message names the file and field."""


@dataclass(frozen=True)
class User:
    username: str
    name: str
    email: str
    role: str
    scope: Scope

    @property
    def sees_all(self) -> bool:
        return self.scope.is_all


def state_dir() -> Path:
    """Where the app keeps state that is not billing data: ``$FINOPS_STATE`` or ``data/state``."""
    return Path(os.environ.get("FINOPS_STATE") or "data/state")


def users_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get("FINOPS_AUTH_FILE") or state_dir() / "users.yaml")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise AccessError("password: use at least 8 characters")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()


def _scope_of(path: Path, username: str, entry: dict[str, Any], role: str) -> Scope:
    raw = entry.get("scope") or {}
    if not isinstance(raw, dict):
        raise AccessError(f"{path}: credentials.usernames.{username}.scope: expected a mapping")
    teams, subs = raw.get("teams"), raw.get("sub_accounts")
    for field, value in (("teams", teams), ("sub_accounts", subs)):
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise AccessError(f"{path}: credentials.usernames.{username}.scope.{field}: expected a list of names")
    if role != "viewer":
        return ALL
    if not teams and not subs:
        raise AccessError(f"{path}: credentials.usernames.{username}.scope: a viewer needs teams or sub_accounts")
    return Scope(tuple(teams) if teams else None, tuple(subs) if subs else None)


def load_users(path: Path) -> tuple[dict[str, Any], dict[str, User]]:
    """(the raw document, users by username); refuses a malformed file naming the field."""
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise AccessError(
            f"{path}: no users file (start the app on the demo, or create one from data/users.example.yaml)"
        ) from exc
    except yaml.YAMLError as exc:
        raise AccessError(f"{path}: not valid YAML: {exc}") from exc
    return doc, parse_users(doc, path)


def parse_users(doc: Any, path: Path) -> dict[str, User]:
    """Users by username from a users document; ``path`` only names the file in errors."""
    entries = (doc or {}).get("credentials", {}).get("usernames") if isinstance(doc, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise AccessError(f"{path}: credentials.usernames: expected a mapping of users")
    users = {}
    for username, entry in entries.items():
        where = f"{path}: credentials.usernames.{username}"
        if not isinstance(entry, dict):
            raise AccessError(f"{where}: expected a mapping")
        if str(username) != str(username).lower():
            raise AccessError(f"{where}: usernames must be lower-case")
        if not str(entry.get("password", "")).startswith("$2"):
            raise AccessError(f"{where}.password: expected a bcrypt hash, never a plain password")
        roles = entry.get("roles")
        if not (isinstance(roles, list) and len(roles) == 1 and roles[0] in ROLES):
            raise AccessError(f"{where}.roles: expected exactly one of {', '.join(ROLES)}")
        role = roles[0]
        users[str(username)] = User(
            str(username),
            str(entry.get("name") or username),
            str(entry.get("email") or ""),
            role,
            _scope_of(path, str(username), entry, role),
        )
    return users


def credentials(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the credentials for streamlit-authenticator (it mutates what it is given)."""
    return copy.deepcopy(doc["credentials"])


def write_private(path: Path, text: str) -> None:
    """Write a secret-bearing file (users file, cookie key) owner-only: the file 0600 from its first
    byte (never world-readable, not even between create and chmod), a folder it creates 0700.
    Atomic replace: a failed save leaves the previous file as it was."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(path.parent, 0o700)  # mkdir's mode is narrowed by the umask, never widened
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write(path: Path, doc: dict[str, Any]) -> None:
    write_private(path, yaml.safe_dump(doc, sort_keys=True))


def save_user(
    path: Path, username: str, name: str, email: str, role: str, scope: Scope, password: str | None = None
) -> None:
    """Add or change a user; ``password`` (plain) is hashed before it is written."""
    username = username.strip().lower()
    if not username or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise AccessError("username: use letters, digits, '.', '-' or '_'")
    if role not in ROLES:
        raise AccessError(f"role: expected one of {', '.join(ROLES)}")
    if role == "viewer" and scope.is_all:
        raise AccessError("scope: a viewer needs at least one team or sub account")
    doc = load_users(path)[0] if path.exists() else {"credentials": {"usernames": {}}}
    entries = doc["credentials"]["usernames"]
    entry = dict(entries.get(username) or {})
    if password is None and "password" not in entry:
        raise AccessError("password: a new user needs a password")
    entry |= {"name": name.strip() or username, "email": email.strip(), "roles": [role]}
    if password is not None:
        entry["password"] = hash_password(password)
    entry["scope"] = (
        {"teams": list(scope.teams or []), "sub_accounts": list(scope.sub_accounts or [])} if role == "viewer" else {}
    )
    entries[username] = entry
    parse_users(doc, path)  # never write a file the app could not load
    _write(path, doc)


def remove_user(path: Path, username: str, by: str) -> None:
    """Remove ``username`` from the users file; an admin cannot remove themself (``by``), and the
    last admin stays (else no one could manage users)."""
    username = username.strip().lower()
    doc, users = load_users(path)
    if username not in users:
        raise AccessError(f"username: no user {username!r}")
    if username == by:
        raise AccessError("username: you cannot remove yourself")
    if users[username].role == "admin" and sum(u.role == "admin" for u in users.values()) == 1:
        raise AccessError("username: the last admin cannot be removed")
    del doc["credentials"]["usernames"][username]
    parse_users(doc, path)
    _write(path, doc)


def create_demo_users(path: Path, password: str | None = None) -> dict[str, str]:
    """Write the demo users file (one user per role); returns the plain passwords to show once.

    ``password`` (e.g. from ``FINOPS_DEMO_PASSWORD``) gives every demo user that password.
    """
    plain = {u: password or secrets.token_urlsafe(9) for u in DEMO_USERS}
    doc: dict[str, Any] = {
        "cookie": {"name": COOKIE_NAME, "expiry_days": COOKIE_EXPIRY_DAYS},
        "credentials": {"usernames": {}},
        "demo": True,
    }
    for username, (name, role, scope) in DEMO_USERS.items():
        entry: dict[str, Any] = {
            "name": name,
            "email": f"{username}@acme.example",
            "roles": [role],
            "password": hash_password(plain[username]),
        }
        if scope is not None:
            entry["scope"] = {"teams": list(scope.teams or []), "sub_accounts": list(scope.sub_accounts or [])}
        doc["credentials"]["usernames"][username] = entry
    _write(path, doc)
    return plain


def create_demo_users_once(path: Path, password: str | None = None) -> dict[str, str] | None:
    """``create_demo_users`` unless the file exists; None when it does, or when another process
    created it first (two first visits at once must not print passwords that the other overwrote)."""
    if path.exists():
        return None
    staged = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    plain = create_demo_users(staged, password)
    try:
        os.link(staged, path)  # fails if the file appeared meanwhile: the first writer wins
    except FileExistsError:
        return None
    finally:
        staged.unlink(missing_ok=True)
    return plain


def ensure_cookie_key(folder: Path) -> str:
    """The cookie signing key kept in ``folder/cookie.key`` (created once, random, mode 0600)."""
    key_file = folder / "cookie.key"
    if not key_file.exists():
        write_private(key_file, secrets.token_urlsafe(48))
    return key_file.read_text().strip()
