"""``data/sources.yaml``: where the exports land and when to sync them, validated at load time.

    sources:
      - name: aws-cur              # letters, digits, '-', '_'; unique
        url: s3://billing-bucket/cur/finops-cur2   # or az://container/prefix, gs://bucket/prefix, a folder
        format: aws-cur            # auto (default), focus, aws-cur, azure, gcp, oci
        schedule: every 6h         # every <N>m|h, daily HH:MM (UTC), or manual (default)
    digests:                       # weekly digests the worker sends (docs/digest.md)
      - scope: team=payments       # optional; team=, product= or environment=
        send: webhook              # webhook or smtp
        format: slack              # md, html or slack (webhook); smtp sends Markdown + HTML
        to: [finops@example.com]   # smtp recipients (optional: the settings' default)
        schedule: weekly Mon 07:00

An error names the file, the line and the field. Credentials never go here: they come from the
environment or the provider's own config files (docs/sync.md).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

FORMATS = ("auto", "focus", "aws-cur", "azure", "gcp", "oci")
SCHEMES = ("s3", "az", "abfs", "gs", "gcs", "file")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_EVERY = re.compile(r"every\s+(\d+)\s*(m|min|h)", re.I)
_DAILY = re.compile(r"daily\s+(\d{1,2}):(\d{2})", re.I)
_WEEKLY = re.compile(r"weekly\s+(\w{3})\s+(\d{1,2}):(\d{2})", re.I)


class SourcesError(Exception):
    """sources.yaml refused: the message names file, line and field."""


@dataclass(frozen=True)
class Schedule:
    """When a job is due: every ``every``, or at ``at`` (UTC) daily or on ``weekday``; or never (manual)."""

    text: str = "manual"
    every: timedelta | None = None
    at: time | None = None
    weekday: int | None = None  # 0 = Monday

    def due(self, last: datetime | None, now: datetime) -> bool:
        """True when a run is due at ``now`` (naive UTC) after the last run started at ``last``."""
        if self.every is not None:
            return last is None or now - last >= self.every
        if self.at is None:
            return False
        slot = datetime.combine(now.date(), self.at)
        if self.weekday is not None:
            slot -= timedelta(days=(now.weekday() - self.weekday) % 7)
        return now >= slot and (last is None or last < slot)


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    format: str = "auto"
    schedule: Schedule = field(default_factory=Schedule)
    line: int = 0


@dataclass(frozen=True)
class Digest:
    scope: str | None
    send: str
    format: str
    to: tuple[str, ...]
    schedule: Schedule
    line: int = 0

    @property
    def name(self) -> str:
        return f"digest {self.scope or 'company'} by {self.send}"


@dataclass(frozen=True)
class Config:
    sources: tuple[Source, ...] = ()
    digests: tuple[Digest, ...] = ()

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)


def sources_path() -> Path:
    """``$FINOPS_SOURCES``, else ``data/sources.yaml``."""
    return Path(os.environ.get("FINOPS_SOURCES") or "data/sources.yaml")


def parse_schedule(text: str, where: str) -> Schedule:
    t = text.strip()
    if t.lower() == "manual":
        return Schedule()
    if m := _EVERY.fullmatch(t):
        n = int(m[1]) * (60 if m[2].lower() != "h" else 3600)
        if n < 60:
            raise SourcesError(f"{where}: every {m[1]}{m[2]}: at least 1 minute")
        return Schedule(t, every=timedelta(seconds=n))
    if (m := _DAILY.fullmatch(t)) and int(m[1]) < 24 and int(m[2]) < 60:
        return Schedule(t, at=time(int(m[1]), int(m[2])))
    if (m := _WEEKLY.fullmatch(t)) and m[1].title() in DAYS and int(m[2]) < 24 and int(m[3]) < 60:
        return Schedule(t, at=time(int(m[2]), int(m[3])), weekday=DAYS.index(m[1].title()))
    raise SourcesError(
        f"{where}: {text!r} is not a schedule (every 6h, every 30m, daily 06:00, weekly Mon 07:00, manual)"
    )


def _items(root: Any, key: str, path: Path) -> list[tuple[dict[str, Any], dict[str, int], int]]:
    """The mappings under ``key`` with each field's line (1-based) and the item's line."""
    node = next((v for k, v in root.value if k.value == key), None) if isinstance(root, yaml.MappingNode) else None
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise SourcesError(f"{path}: line {node.start_mark.line + 1}: {key}: expected a list")
    out = []
    for item in node.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise SourcesError(f"{path}: line {line}: {key}: each entry is a mapping (name: ..., url: ...)")
        lines = {k.value: k.start_mark.line + 1 for k, _ in item.value}
        values = {k.value: yaml.safe_load(yaml.serialize(v)) for k, v in item.value}
        out.append((values, lines, line))
    return out


def _text(values: dict[str, Any], lines: dict[str, int], line: int, path: Path, name: str, default: str | None) -> str:
    value = values.get(name, default)
    if value is None:
        raise SourcesError(f"{path}: line {line}: field {name}: missing")
    if not isinstance(value, str) or not value.strip():
        raise SourcesError(f"{path}: line {lines.get(name, line)}: field {name}: {value!r} is not a non-empty text")
    return value.strip()


def _source(values: dict[str, Any], lines: dict[str, int], line: int, path: Path) -> Source:
    known = {"name", "url", "format", "schedule"}
    extra = sorted(set(values) - known)
    if extra:
        raise SourcesError(
            f"{path}: line {lines[extra[0]]}: field {extra[0]}: unknown (fields: {', '.join(sorted(known))})"
        )
    name = _text(values, lines, line, path, "name", None)
    if not _NAME.fullmatch(name):
        raise SourcesError(f"{path}: line {lines['name']}: field name: {name!r}: use letters, digits, '-' and '_'")
    url = _text(values, lines, line, path, "url", None)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme and scheme not in SCHEMES:
        raise SourcesError(
            f"{path}: line {lines['url']}: field url: {url!r}: scheme {scheme}:// is not one of {', '.join(SCHEMES)}"
        )
    if any(k in url.lower() for k in ("sig=", "secret", "password", "accountkey=")) or re.match(r"\w+://[^/]*@", url):
        raise SourcesError(
            f"{path}: line {lines['url']}: field url: holds a credential; credentials come from the environment"
        )
    fmt = _text(values, lines, line, path, "format", "auto")
    if fmt not in FORMATS:
        raise SourcesError(f"{path}: line {lines['format']}: field format: {fmt!r} is not one of {', '.join(FORMATS)}")
    sched = _text(values, lines, line, path, "schedule", "manual")
    return Source(
        name, url, fmt, parse_schedule(sched, f"{path}: line {lines.get('schedule', line)}: field schedule"), line
    )


def _digest(values: dict[str, Any], lines: dict[str, int], line: int, path: Path) -> Digest:
    send = _text(values, lines, line, path, "send", None)
    if send not in ("webhook", "smtp"):
        raise SourcesError(f"{path}: line {lines['send']}: field send: {send!r} is not webhook or smtp")
    fmt = _text(values, lines, line, path, "format", "md")
    if fmt not in ("md", "html", "slack"):
        raise SourcesError(f"{path}: line {lines['format']}: field format: {fmt!r} is not md, html or slack")
    scope = values.get("scope")
    if scope is not None and (
        not isinstance(scope, str)
        or scope.split("=", 1)[0] not in ("team", "product", "environment")
        or "=" not in scope
    ):
        raise SourcesError(
            f"{path}: line {lines['scope']}: field scope: {scope!r} is not team=X, product=X or environment=X"
        )
    to = values.get("to") or []
    if not isinstance(to, list) or not all(isinstance(a, str) and "@" in a for a in to):
        raise SourcesError(f"{path}: line {lines.get('to', line)}: field to: a list of e-mail addresses")
    sched = _text(values, lines, line, path, "schedule", None)
    where = f"{path}: line {lines['schedule']}: field schedule"
    return Digest(scope, send, fmt, tuple(to), parse_schedule(sched, where), line)


def parse(text: str, path: Path) -> Config:
    """The validated configuration in ``text`` (read from ``path``, named in every error)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark is not None else ""
        raise SourcesError(f"{path}: {at}not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise SourcesError(f"{path}: line 1: expected a mapping with 'sources:' (and optionally 'digests:')")
    if isinstance(root, yaml.MappingNode):
        unknown = [k for k, _ in root.value if k.value not in ("sources", "digests")]
        if unknown:
            raise SourcesError(f"{path}: line {unknown[0].start_mark.line + 1}: {unknown[0].value}: unknown section")
    sources = [_source(*item, path) for item in _items(root, "sources", path)]
    seen: dict[str, int] = {}
    for s in sources:
        if s.name in seen:
            raise SourcesError(f"{path}: line {s.line}: field name: {s.name!r} already used at line {seen[s.name]}")
        seen[s.name] = s.line
    digests = [_digest(*item, path) for item in _items(root, "digests", path)]
    return Config(tuple(sources), tuple(digests))


def load(path: Path | None = None) -> Config:
    """The configuration at ``path`` (default ``sources_path()``); an absent file is an empty one."""
    p = path or sources_path()
    try:
        text = p.read_text()
    except FileNotFoundError:
        return Config()
    return parse(text, p)


def save(text: str, path: Path | None = None) -> Config:
    """Validate ``text`` and replace the file with it (atomically); returns what it configures."""
    p = path or sources_path()
    config = parse(text, p)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, p)
    return config
