"""The tag policy file (``data/rules/policy.yaml`` or ``$FINOPS_RULES/policy.yaml``): which tag keys
each scope of resources must carry, which values they may take, and exemptions that expire.

```yaml
rules:
  - id: ownership                       # unique; named in every violation
    scope: {provider: [AWS]}            # optional: provider, accounts, services, resource_types
    require: [team, environment]        # keys that must be present and non-empty
    values:                             # optional: a list of allowed values, or {pattern: REGEX}
      environment: [prod, staging, dev]
      team: {pattern: '^[a-z][a-z0-9-]*$'}
exemptions:
  - rule: ownership
    keys: [environment]                 # optional: default every key of the rule
    scope: {accounts: [acme-sandbox-42]} # as a rule's scope, plus resources (globs on ResourceId or plan address)
    expires: 2026-12-31                 # required: the last day it applies
    reason: sandbox is being retired
```

A scope condition is a list of names (globs allowed, case-sensitive) that must match; a condition
the checked thing does not know (a plan has no account unless given, billing rows have no
Terraform resource type) makes the rule or exemption not apply there. Keys are read through
``tags.yaml`` (spellings, value aliases, case folding) for the canonical keys, case-insensitively
for any other. Errors name the file, the line and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from finops_core import allocation, tagrules
from finops_core.tagrules import RulesError, where

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "rules" / "policy.yaml"
SCOPE_FIELDS = ("provider", "accounts", "services", "resource_types")
EXEMPTION_SCOPE_FIELDS = (*SCOPE_FIELDS, "resources")


@dataclass(frozen=True)
class Scope:
    """Conditions by field (``SCOPE_FIELDS``, plus ``resources`` for exemptions); empty = everything."""

    conditions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def matches(self, facts: dict[str, str | None]) -> bool:
        """Every condition holds; one on a fact that is unknown (None or absent) does not."""
        for name, patterns in self.conditions:
            fact = facts.get(name)
            if fact is None or not any(fnmatchcase(fact, p) for p in patterns):
                return False
        return True


@dataclass(frozen=True)
class Allowed:
    values: tuple[str, ...] = ()
    pattern: str | None = None

    def accepts(self, value: str) -> bool:
        if self.pattern is not None:
            return re.fullmatch(self.pattern, value) is not None
        return value in self.values

    def describe(self) -> str:
        return f"pattern {self.pattern}" if self.pattern is not None else "one of " + ", ".join(self.values)


@dataclass(frozen=True)
class Rule:
    id: str
    scope: Scope
    require: tuple[str, ...]
    values: dict[str, Allowed]
    description: str = ""
    line: int = 0

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.require, *self.values)))


@dataclass(frozen=True)
class Exemption:
    rule: str
    keys: tuple[str, ...]  # () = every key of the rule
    scope: Scope
    expires: date
    reason: str
    line: int = 0

    def covers(self, rule: str, key: str, facts: dict[str, str | None], on: date) -> bool:
        return (
            rule == self.rule
            and (not self.keys or key in self.keys)
            and on <= self.expires
            and self.scope.matches(facts)
        )


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...] = ()
    exemptions: tuple[Exemption, ...] = ()
    tags: tagrules.TagRules = field(default_factory=tagrules.TagRules)
    source: str = ""

    def exempt(self, rule: str, key: str, facts: dict[str, str | None], on: date) -> Exemption | None:
        return next((e for e in self.exemptions if e.covers(rule, key, facts, on)), None)

    @property
    def by_resource(self) -> bool:
        """Whether an exemption names resources (billing checks then keep ResourceId)."""
        return any(n == "resources" for e in self.exemptions for n, _ in e.scope.conditions)


def path() -> Path:
    """The policy in force: an edited one under the rules folder, else the shipped one."""
    edited = allocation.rules_dir() / "policy.yaml"
    return edited if edited.exists() else SHIPPED


def load(file: Path | None = None, tags: tagrules.TagRules | None = None) -> Policy:
    """Parse and check a policy file (default: ``path()``); ``tags``: the tag rules to read keys with."""
    target = file or path()
    return parse(tagrules.read(target), target, tags)


def _mapping(p: Path, node: yaml.Node, name: str, allowed: tuple[str, ...]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise RulesError(f"{where(p, node, name)}: expected a mapping ({', '.join(allowed)})")
    parts = {str(k.value): (k, v) for k, v in node.value}
    for key, (k, _) in parts.items():
        if key not in allowed:
            raise RulesError(
                f"{where(p, k, f'{name}.{key}' if name else key)}: unknown field (expected {', '.join(allowed)})"
            )
    return parts


def _scalar(p: Path, node: yaml.Node, name: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise RulesError(f"{where(p, node, name)}: expected a non-empty value")
    return str(node.value).strip()


def _names(p: Path, node: yaml.Node, name: str) -> tuple[str, ...]:
    if isinstance(node, yaml.ScalarNode):
        return (_scalar(p, node, name),)
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise RulesError(f"{where(p, node, name)}: expected a non-empty list of names")
    return tuple(_scalar(p, n, name) for n in node.value)


def _key(p: Path, node: yaml.Node, name: str) -> str:
    key = _scalar(p, node, name)
    if not re.fullmatch(r"[A-Za-z0-9_.:/@+-]{1,128}", key):
        raise RulesError(f"{where(p, node, name)}: {key!r} is not a tag key")
    return key.lower()


def _scope(p: Path, node: yaml.Node | None, name: str, fields: tuple[str, ...]) -> Scope:
    if node is None:
        return Scope()
    parts = _mapping(p, node, name, fields)
    return Scope(tuple((f, _names(p, v, f"{name}.{f}")) for f, (_, v) in parts.items()))


def _allowed(p: Path, node: yaml.Node, name: str) -> Allowed:
    if isinstance(node, yaml.MappingNode):
        parts = _mapping(p, node, name, ("pattern",))
        if "pattern" not in parts:
            raise RulesError(f"{where(p, node, name)}: expected a list of values or {{pattern: REGEX}}")
        pattern = _scalar(p, parts["pattern"][1], f"{name}.pattern")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise RulesError(
                f"{where(p, parts['pattern'][1], f'{name}.pattern')}: not a regular expression: {exc}"
            ) from exc
        return Allowed(pattern=pattern)
    return Allowed(values=_names(p, node, name))


def _rule(p: Path, node: yaml.Node, i: int) -> Rule:
    name = f"rules[{i}]"
    parts = _mapping(p, node, name, ("id", "description", "scope", "require", "values"))
    if "id" not in parts:
        raise RulesError(f"{where(p, node, name)}.id: required")
    rid = _scalar(p, parts["id"][1], f"{name}.id")
    require = tuple(_key(p, n, f"{name}.require") for n in _seq(p, parts, "require", name))
    values: dict[str, Allowed] = {}
    if "values" in parts:
        for k, v in _mapping_any(p, parts["values"][1], f"{name}.values"):
            key = _key(p, k, f"{name}.values")
            values[key] = _allowed(p, v, f"{name}.values.{key}")
    if not require and not values:
        raise RulesError(f"{where(p, node, name)}: a rule needs require or values")
    scope = _scope(p, parts.get("scope", (None, None))[1], f"{name}.scope", SCOPE_FIELDS)
    desc = _scalar(p, parts["description"][1], f"{name}.description") if "description" in parts else ""
    return Rule(rid, scope, require, values, desc, node.start_mark.line + 1)


def _seq(p: Path, parts: dict[str, tuple[yaml.Node, yaml.Node]], key: str, name: str) -> list[yaml.Node]:
    if key not in parts:
        return []
    node = parts[key][1]
    if not isinstance(node, yaml.SequenceNode):
        raise RulesError(f"{where(p, node, f'{name}.{key}')}: expected a list")
    return list(node.value)


def _mapping_any(p: Path, node: yaml.Node, name: str) -> list[tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise RulesError(f"{where(p, node, name)}: expected a mapping of key: allowed values")
    return list(node.value)


def _exemption(p: Path, node: yaml.Node, i: int, rules: dict[str, Rule]) -> Exemption:
    name = f"exemptions[{i}]"
    parts = _mapping(p, node, name, ("rule", "keys", "scope", "expires", "reason"))
    for required in ("rule", "expires", "reason"):
        if required not in parts:
            raise RulesError(f"{where(p, node, name)}.{required}: required")
    rid = _scalar(p, parts["rule"][1], f"{name}.rule")
    if rid not in rules:
        raise RulesError(f"{where(p, parts['rule'][1], f'{name}.rule')}: no rule {rid!r} (rules: {', '.join(rules)})")
    keys = tuple(_key(p, n, f"{name}.keys") for n in _seq(p, parts, "keys", name))
    for key in keys:
        if key not in rules[rid].keys:
            raise RulesError(f"{where(p, parts['keys'][1], f'{name}.keys')}: rule {rid!r} has no key {key!r}")
    text = _scalar(p, parts["expires"][1], f"{name}.expires")
    try:
        expires = date.fromisoformat(text)
    except ValueError as exc:
        raise RulesError(
            f"{where(p, parts['expires'][1], f'{name}.expires')}: {text!r} is not a date (YYYY-MM-DD)"
        ) from exc
    scope = _scope(p, parts.get("scope", (None, None))[1], f"{name}.scope", EXEMPTION_SCOPE_FIELDS)
    reason = _scalar(p, parts["reason"][1], f"{name}.reason")
    return Exemption(rid, keys, scope, expires, reason, node.start_mark.line + 1)


def parse(text: str, file: Path | str = "policy.yaml", tags: tagrules.TagRules | None = None) -> Policy:
    """Parse and check a policy document; every error names ``file``, the line and the field."""
    p = Path(file)
    root = tagrules.compose(text, p)
    if root is None:
        raise RulesError(f"{p}:1: empty policy (expected rules: [...])")
    parts = _mapping(p, root, "", ("rules", "exemptions"))
    rules: dict[str, Rule] = {}
    for i, node in enumerate(_seq(p, parts, "rules", "")):
        rule = _rule(p, node, i)
        if rule.id in rules:
            raise RulesError(f"{where(p, node, f'rules[{i}].id')}: duplicate of the rule on line {rules[rule.id].line}")
        rules[rule.id] = rule
    if not rules:
        raise RulesError(f"{where(p, root, 'rules')}: the policy has no rules")
    exemptions = tuple(_exemption(p, n, i, rules) for i, n in enumerate(_seq(p, parts, "exemptions", "")))
    return Policy(tuple(rules.values()), exemptions, tags or tagrules.TagRules(), str(p))
