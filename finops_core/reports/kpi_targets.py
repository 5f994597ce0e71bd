"""KPI targets: which KPIs the overview shows, how each is judged, and the validated targets file.

The targets live in ``data/rules/kpis.yaml`` (an admin's edited copy under the rules folder takes
precedence). Each KPI has a ``target`` and a ``warn`` threshold; its direction (higher or lower is
better) is fixed here, not in the file. Status rule, for a KPI where higher is better: ``ok`` when
value >= target, ``warn`` when value >= warn, else ``bad`` (mirrored where lower is better); a KPI
without a value is ``no data``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from finops_core import allocation, state, tagrules
from finops_core.tagrules import RulesError, where

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "rules" / "kpis.yaml"
AT_LEAST, AT_MOST = "at_least", "at_most"
STATUSES = ("ok", "warn", "bad", "no data")


@dataclass(frozen=True)
class Definition:
    label: str
    unit: str  # "%" (a share, stored 0..1), "h" (hours), "items"
    direction: str  # AT_LEAST: higher is better; AT_MOST: lower is better
    page: str  # url path of the page that explains the figure


DEFINITIONS: dict[str, Definition] = {
    "allocation_coverage": Definition("Allocation coverage", "%", AT_LEAST, "allocation"),
    "controllable_coverage": Definition("Allocation coverage, controllable spend", "%", AT_LEAST, "allocation"),
    "tag_compliance": Definition("Tag compliance", "%", AT_LEAST, "allocation"),
    "reconciliation_variance": Definition("Invoice reconciliation |variance|", "%", AT_MOST, "quality"),
    "data_freshness": Definition("Data freshness", "h", AT_MOST, "quality"),
    "anomaly_mtta": Definition("Anomaly MTTA", "h", AT_MOST, "anomalies"),
    "anomaly_mttr": Definition("Anomaly MTTR", "h", AT_MOST, "anomalies"),
    "optimization_throughput": Definition("Optimizations implemented", "items", AT_LEAST, "savings"),
    "savings_realization": Definition("Realized / estimated savings", "%", AT_LEAST, "savings"),
    "commitment_utilization": Definition("Commitment utilization", "%", AT_LEAST, "commitments"),
    "commitment_coverage": Definition("Commitment coverage", "%", AT_LEAST, "commitments"),
    "forecast_error": Definition("Forecast error, last month", "%", AT_MOST, "forecast"),
    "budget_coverage": Definition("Spend under a budget", "%", AT_LEAST, "forecast"),
    "digest_on_time": Definition("Weekly digest on time", "%", AT_LEAST, "digest"),
}


@dataclass(frozen=True)
class Target:
    target: float
    warn: float
    direction: str

    def status(self, value: float | None) -> str:
        """ok / warn / bad by the module's rule; ``no data`` for None."""
        if value is None:
            return "no data"
        if self.direction == AT_LEAST:
            return "ok" if value >= self.target else "warn" if value >= self.warn else "bad"
        return "ok" if value <= self.target else "warn" if value <= self.warn else "bad"


@dataclass(frozen=True)
class Targets:
    """Targets by KPI key (a frozen tuple, so it can key a cache)."""

    items: tuple[tuple[str, Target], ...]

    def __getitem__(self, key: str) -> Target:
        return dict(self.items)[key]

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {k: {"target": t.target, "warn": t.warn} for k, t in self.items}


def path() -> Path:
    """The targets in force: an admin's edited copy under the rules folder, else the shipped file."""
    edited = allocation.rules_dir() / "kpis.yaml"
    return edited if edited.exists() else SHIPPED


def load(file: Path | None = None) -> Targets:
    target = file or path()
    return parse(tagrules.read(target), target)


def _number(p: Path, node: yaml.Node, name: str, unit: str) -> float:
    if not isinstance(node, yaml.ScalarNode):
        raise RulesError(f"{where(p, node, name)}: expected a number")
    try:
        value = float(str(node.value).strip().rstrip("%")) / (100 if str(node.value).strip().endswith("%") else 1)
    except ValueError as exc:
        raise RulesError(f"{where(p, node, name)}: expected a number, got {node.value!r}") from exc
    if value < 0 or (unit == "%" and value > 1):
        bound = "a share between 0 and 1 (or 0 % to 100 %)" if unit == "%" else "a number >= 0"
        raise RulesError(f"{where(p, node, name)}: expected {bound}, got {node.value!r}")
    return value


def _target(p: Path, key: str, node: yaml.Node) -> Target:
    d = DEFINITIONS[key]
    if not isinstance(node, yaml.MappingNode):
        raise RulesError(f"{where(p, node, key)}: expected a mapping with target and warn")
    parts = {str(k.value): (k, v) for k, v in node.value}
    for name, (k, _) in parts.items():
        if name not in ("target", "warn"):
            raise RulesError(f"{where(p, k, f'{key}.{name}')}: unknown field (expected target, warn)")
    for name in ("target", "warn"):
        if name not in parts:
            raise RulesError(f"{where(p, node, f'{key}.{name}')}: missing")
    target = _number(p, parts["target"][1], f"{key}.target", d.unit)
    warn = _number(p, parts["warn"][1], f"{key}.warn", d.unit)
    wrong = warn > target if d.direction == AT_LEAST else warn < target
    if wrong:
        side = "at or below" if d.direction == AT_LEAST else "at or above"
        raise RulesError(
            f"{where(p, parts['warn'][1], f'{key}.warn')}: {d.label} is better "
            f"{'higher' if d.direction == AT_LEAST else 'lower'}; warn must be {side} the target ({target:g})"
        )
    return Target(target, warn, d.direction)


def parse(text: str, file: Path | str = "kpis.yaml") -> Targets:
    """Targets from a document mapping each KPI key to {target, warn}; every KPI must be given once.
    Errors name the file, the line and the field."""
    p = Path(file)
    root = tagrules.compose(text, p)
    if root is None:
        raise RulesError(f"{p}:1: empty targets file (expected one entry per KPI)")
    if not isinstance(root, yaml.MappingNode):
        raise RulesError(f"{where(p, root, '(top)')}: expected a mapping of KPI: {{target, warn}}")
    found: dict[str, Target] = {}
    for k, v in root.value:
        key = str(k.value)
        if key not in DEFINITIONS:
            raise RulesError(f"{where(p, k, key)}: unknown KPI (expected one of {', '.join(DEFINITIONS)})")
        if key in found:
            raise RulesError(f"{where(p, k, key)}: given twice")
        found[key] = _target(p, key, v)
    missing = [k for k in DEFINITIONS if k not in found]
    if missing:
        raise RulesError(f"{where(p, root, '(top)')}: missing KPI(s) {', '.join(missing)}")
    return Targets(tuple((k, found[k]) for k in DEFINITIONS))


def render(values: dict[str, dict[str, float | None]]) -> str:
    """A targets document for ``values`` (KPI -> {target, warn}), with the shipped file's header."""
    header = [line for line in SHIPPED.read_text().splitlines() if line.startswith("#")]
    body = [f"{k}: {{target: {_num(v['target'])}, warn: {_num(v['warn'])}}}" for k, v in values.items()]
    return "\n".join(header + body) + "\n"


def _num(value: float | None) -> str:
    """A number for the file; an emptied cell becomes null, which ``parse`` refuses naming the line."""
    return "null" if value is None else f"{value:g}"


def save(text: str, username: str) -> Targets:
    """Validate ``text``, put it in force (atomic write to the rules folder) and record the change in
    the audit log with its diff. Raises RulesError (naming line and field) without writing."""
    target = allocation.rules_dir() / "kpis.yaml"
    parsed = parse(text, target)
    old = path().read_text()
    if old == text:
        raise RulesError(f"{target}: no change to save")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, target)
    diff = "".join(difflib.unified_diff(old.splitlines(True), text.splitlines(True), "a/kpis.yaml", "b/kpis.yaml"))
    state.record("kpi_targets_change", username, {"file": str(target), "diff": diff})
    return parsed
