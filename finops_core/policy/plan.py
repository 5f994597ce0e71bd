"""The tag policy against a Terraform plan (``terraform show -json plan.out``), before it is applied.

Checked: ``resource_changes`` of mode ``managed`` whose actions create or update (a replacement is
delete + create); deletions and no-ops are not. A resource is taggable when its planned
``change.after`` has a tag attribute; the tags checked are the most complete one present:
``tags_all`` (AWS: the resource's tags plus the provider's default_tags), ``effective_labels``
(Google: labels plus the provider's default_labels), ``terraform_labels``, ``tags`` (AWS, Azure),
``labels`` (Google). A tag attribute that is null or empty means no tags; one unknown until apply
(``after_unknown``) falls back to the next. Facts for scopes: provider (from ``provider_name``:
aws -> AWS, azurerm -> Microsoft, google -> Google Cloud), resource_types (the Terraform type),
resources (the address, e.g. ``module.web.aws_instance.app[0]``), accounts only when given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from finops_core.policy.judge import violations
from finops_core.policy.rules import Policy

TAG_ATTRIBUTES = ("tags_all", "effective_labels", "terraform_labels", "tags", "labels")
PROVIDERS = {
    "aws": "AWS",
    "azurerm": "Microsoft",
    "azure": "Microsoft",
    "google": "Google Cloud",
    "google-beta": "Google Cloud",
}
CHECKED_ACTIONS = {"create", "update"}


class PlanError(ValueError):
    """A file that is not a Terraform plan in JSON; the message names the file and the field."""


@dataclass(frozen=True)
class PlannedResource:
    address: str
    type: str
    provider: str | None
    actions: tuple[str, ...]
    tags: dict[str, Any] | None  # None: the resource has no tag attribute
    attribute: str | None  # which attribute the tags came from
    after: dict[str, Any]
    before: dict[str, Any]


def provider_of(provider_name: str) -> str | None:
    """``registry.terraform.io/hashicorp/aws`` -> AWS (None when unknown)."""
    return PROVIDERS.get(provider_name.rsplit("/", 1)[-1].lower())


def _tags(after: dict[str, Any], unknown: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    for attr in TAG_ATTRIBUTES:
        if attr not in after or unknown.get(attr) is True:
            continue
        value = after[attr]
        return (value if isinstance(value, dict) else {}), attr
    return None, None


def read(file: Path) -> dict[str, Any]:
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"{file}: cannot read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise PlanError(f"{file}:{exc.lineno}: not JSON: {exc.msg}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("resource_changes", []), list):
        raise PlanError(f"{file}: resource_changes: expected the JSON of `terraform show -json PLANFILE`")
    return doc


def resources(doc: dict[str, Any], name: str = "plan.json") -> list[PlannedResource]:
    """Every managed resource change of the plan, in plan order."""
    out = []
    for i, rc in enumerate(doc.get("resource_changes") or []):
        where = f"{name}: resource_changes[{i}]"
        if not isinstance(rc, dict) or not isinstance(rc.get("change"), dict) or "address" not in rc:
            raise PlanError(f"{where}: expected address, type and change")
        if rc.get("mode", "managed") != "managed":
            continue
        change = rc["change"]
        after = change.get("after") if isinstance(change.get("after"), dict) else {}
        before = change.get("before") if isinstance(change.get("before"), dict) else {}
        unknown = change.get("after_unknown") if isinstance(change.get("after_unknown"), dict) else {}
        tags, attr = _tags(after, unknown)
        out.append(
            PlannedResource(
                str(rc["address"]),
                str(rc.get("type", "")),
                provider_of(str(rc.get("provider_name", ""))),
                tuple(change.get("actions") or ()),
                tags,
                attr,
                after,
                before,
            )
        )
    return out


def check(policy: Policy, planned: list[PlannedResource], on: date, account: str | None = None) -> list[dict[str, str]]:
    """The plan's violations, exempt ones included (``exempt`` holds the reason). One dict per
    violation: address, type, rule, key, problem, value, exempt, tags_from."""
    out = []
    for r in planned:
        if r.tags is None or not CHECKED_ACTIONS & set(r.actions):
            continue
        folded = {str(k).strip().lower(): v for k, v in r.tags.items()}
        facts = {"provider": r.provider, "resource_types": r.type, "resources": r.address, "accounts": account}
        for v in violations(policy, folded, facts, on):
            out.append({"address": r.address, "type": r.type, **v, "tags_from": r.attribute or ""})
    return out


def load_checked(file: Path, policy: Policy, on: date, account: str | None = None) -> list[dict[str, str]]:
    """Read ``file`` and check it (PlanError when it is not a plan)."""
    return check(policy, resources(read(file), str(file)), on, account)
