"""Tag normalization rules (``data/rules/tags.yaml``): key aliases, value aliases, case folding,
and a typo suggester that proposes value aliases for a person to accept.

Errors in a rules file name the file, the line and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_RULES = Path(__file__).resolve().parents[1] / "data" / "rules" / "tags.yaml"
CANONICAL = ("team", "product", "environment", "cost_center", "owner", "application")


class RulesError(ValueError):
    """A rules file that cannot be used; the message names file, line and field."""


@dataclass(frozen=True)
class TagRules:
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)  # canonical -> spellings (lower case)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # canonical -> {spelling: value}
    fold_case: tuple[str, ...] = ()

    def spellings(self, key: str) -> tuple[str, ...]:
        return (key, *self.keys.get(key, ()))

    def raw(self, folded: dict[str, Any], key: str) -> str | None:
        """The tag value under any spelling of ``key`` (``folded``: tags with lower-case keys), as tagged."""
        value = next((folded[s] for s in self.spellings(key) if folded.get(s) not in (None, "")), None)
        return None if value is None else str(value)

    def value(self, key: str, raw: str) -> str:
        text = raw.strip()
        if key in self.fold_case:
            text = text.lower()
        aliases = self.values.get(key, {})
        return aliases.get(text, aliases.get(text.lower(), text))


def folded_tags(tags: str | None) -> dict[str, Any]:
    """A Tags JSON value as a dict with stripped lower-case keys ({} when empty or malformed)."""
    try:
        parsed = json.loads(tags) if tags else {}
    except json.JSONDecodeError:
        return {}
    return {str(k).strip().lower(): v for k, v in parsed.items()} if isinstance(parsed, dict) else {}


def where(path: Path, node: yaml.Node, field_name: str) -> str:
    return f"{path}:{node.start_mark.line + 1}: {field_name}"


def _strings(path: Path, node: yaml.Node, field_name: str) -> list[str]:
    if not isinstance(node, yaml.SequenceNode) or not all(isinstance(n, yaml.ScalarNode) for n in node.value):
        raise RulesError(f"{where(path, node, field_name)}: expected a list of names")
    return [str(n.value) for n in node.value]


def read(path: Path) -> str:
    """A rules file's text; a missing file is a RulesError naming it."""
    try:
        return path.read_text()
    except FileNotFoundError as exc:
        raise RulesError(f"{path}: no such rules file") from exc


def compose(text: str, path: Path) -> yaml.Node | None:
    """A rules document as YAML nodes (they carry line numbers for errors); None when empty."""
    try:
        return yaml.compose(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from exc


def load(path: Path = DEFAULT_RULES) -> TagRules:
    """Parse and check a tag rules file."""
    return parse(read(path), path)


def parse(text: str, path: Path | str = "tags.yaml") -> TagRules:
    """Parse and check a tag rules document; errors name ``path``, the line and the field."""
    path = Path(path)
    root = compose(text, path)
    if root is None:
        return TagRules()
    if not isinstance(root, yaml.MappingNode):
        raise RulesError(f"{path}:1: expected a mapping with keys, values, fold_case")
    parts: dict[str, yaml.Node] = {str(k.value): v for k, v in root.value}
    unknown = set(parts) - {"keys", "values", "fold_case"}
    if unknown:
        name = sorted(unknown)[0]
        raise RulesError(f"{where(path, next(k for k, _ in root.value if k.value == name), name)}: unknown field")
    keys: dict[str, tuple[str, ...]] = {}
    for k, v in _section(path, parts, "keys", "key -> spellings"):
        keys[str(k.value)] = tuple(s.lower() for s in _strings(path, v, f"keys.{k.value}"))
    values: dict[str, dict[str, str]] = {}
    for k, v in _section(path, parts, "values", "key -> aliases"):
        if not isinstance(v, yaml.MappingNode) or not all(
            isinstance(a, yaml.ScalarNode) and isinstance(b, yaml.ScalarNode) for a, b in v.value
        ):
            raise RulesError(f"{where(path, v, f'values.{k.value}')}: expected alias: value pairs")
        values[str(k.value)] = {str(a.value).strip().lower(): str(b.value) for a, b in v.value}
    fold = _strings(path, parts["fold_case"], "fold_case") if "fold_case" in parts else []
    for name in fold:
        if name not in CANONICAL:
            raise RulesError(
                f"{where(path, parts['fold_case'], 'fold_case')}: {name!r} is not one of {', '.join(CANONICAL)}"
            )
    return TagRules(keys, values, tuple(fold))


def _section(path: Path, parts: dict[str, yaml.Node], name: str, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
    """The (canonical key node, value node) pairs of a top-level mapping section, keys checked."""
    node = parts.get(name)
    if node is None:
        return []
    if not isinstance(node, yaml.MappingNode):
        raise RulesError(f"{where(path, node, name)}: expected a mapping of {what}")
    for k, _ in node.value:
        _check_key(path, k, name)
    return list(node.value)


def _check_key(path: Path, node: Any, section: str) -> None:
    if str(node.value) not in CANONICAL:
        raise RulesError(f"{where(path, node, f'{section}.{node.value}')}: not one of {', '.join(CANONICAL)}")


def distance(a: str, b: str) -> int:
    """Levenshtein edit distance."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _other_code(a: str, b: str) -> bool:
    """Two codes that differ only in digits (CC-1010, CC-1040) are two codes, not a misspelling."""
    a, b = a.strip().lower(), b.strip().lower()
    return a != b and re.sub(r"[0-9]", "#", a) == re.sub(r"[0-9]", "#", b)


def suggest(values: dict[str, float], max_distance: int = 2) -> list[tuple[str, str, int, float]]:
    """Proposed aliases among a key's values (value -> cost): a rarer value within ``max_distance``
    edits (case-insensitive) of a costlier one probably misspells it.
    Returns (alias, canonical, distance, cost of the alias), costliest first."""
    ranked = sorted(values.items(), key=lambda kv: -kv[1])
    out = []
    for i, (rare, cost) in enumerate(ranked):
        for common, _ in ranked[:i]:
            d = distance(rare.lower().strip(), common.lower().strip())
            if d <= max_distance and len(common) > 3 and not _other_code(rare, common):
                out.append((rare, common, d, cost))
                break
    return sorted(out, key=lambda r: -r[3])


def add_aliases(text: str, key: str, aliases: dict[str, str], path: Path | str = "tags.yaml") -> str:
    """``text`` (a tags.yaml document) with value aliases added under ``values.<key>``, comments and
    layout kept. The result is parsed back and must carry every alias, else RulesError."""
    lines = text.splitlines()
    new = [f"    {alias}: {canonical}" for alias, canonical in aliases.items()]
    top = next((i for i, line in enumerate(lines) if line.rstrip() == "values:"), None)
    if top is None:
        lines += ["values:", f"  {key}:", *new]
    else:
        end = next(
            (i for i in range(top + 1, len(lines)) if lines[i] and not lines[i].startswith((" ", "#"))), len(lines)
        )
        sub = next((i for i in range(top + 1, end) if lines[i].rstrip() == f"  {key}:"), None)
        if sub is None:
            lines[top + 1 : top + 1] = [f"  {key}:", *new]
        else:
            last = sub
            for i in range(sub + 1, end):
                if lines[i].startswith("    ") and lines[i].strip():
                    last = i
                elif lines[i].strip() and not lines[i].lstrip().startswith("#"):
                    break
            lines[last + 1 : last + 1] = new
    out = "\n".join(lines) + "\n"
    parsed = parse(out, path).values.get(key, {})
    missing = [a for a, c in aliases.items() if parsed.get(a.strip().lower()) != c]
    if missing:
        raise RulesError(f"{path}: could not add the alias {missing[0]!r} under values.{key}; edit the file by hand")
    return out
