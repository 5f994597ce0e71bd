"""The demo's resource inventory: one row per resource, with everything constant over its life.

Grain: one row per (block, resource). Block 0 is the company as designed; extra blocks (for
``--rows`` beyond the default) repeat the same accounts with more resources of their own.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from finops_core.demo.catalog import (
    ARCHETYPES,
    BA_BY_ID,
    REGIONS,
    SERVICE_BY_NAME,
    SUB_ACCOUNTS,
    TEAM_BY_NAME,
    SubAccount,
    publisher_of,
)

ENV_ALIASES = {"prod": ("prod", "production", "prd"), "staging": ("staging", "stg"), "dev": ("dev", "development")}
TEAM_TYPOS = {
    "payments": "paymnets",
    "checkout": "Checkout",
    "search": "serach",
    "catalog": "catalgo",
    "identity": "identiy",
    "mobile": "Mobile",
    "web": "web ",
    "ml": "ML",
}
APPS = {
    "payments": "pay-api",
    "checkout": "cart",
    "search": "search-api",
    "catalog": "catalog-svc",
    "identity": "auth",
    "data-platform": "lakehouse",
    "ml": "recommender",
    "mobile": "mobile-bff",
    "web": "storefront",
}
LAUNCH_SERVICES = {"Amazon Bedrock", "Azure OpenAI", "Vertex AI"}


def _tags(sub: SubAccount, rng: np.random.Generator, service: str) -> str | None:
    """Tags as the provider reports them, hygiene problems included."""
    tags: dict[str, str] = {}
    if sub.tag_style == "cluster":
        tags = {"cluster": "shared-k8s", "env": sub.env}
    elif sub.tag_style == "none":
        if rng.random() < 0.3:
            tags = {"created-by": "terraform"}
    elif sub.team is not None:
        team = TEAM_BY_NAME[sub.team]
        team_value = sub.team
        if rng.random() < 0.06 and sub.team in TEAM_TYPOS:
            team_value = TEAM_TYPOS[sub.team]
        env_value = str(rng.choice(ENV_ALIASES[sub.env])) if rng.random() < 0.35 else sub.env
        key = {
            "clean": ("team", "env", "product", "cost_center"),
            "caps": ("Team", "Environment", "Product", "CostCenter"),
            "alias": ("owner-team", "env", "product", "cost-center"),
        }[sub.tag_style]
        if rng.random() > 0.10:  # some resources never got a team tag
            tags[key[0]] = team_value
        tags[key[1]] = env_value
        if rng.random() < 0.8:
            tags[key[2]] = team.product
        if rng.random() < 0.6:
            tags[key[3]] = team.cost_center
        tags["application"] = APPS.get(sub.team, sub.team)
    if service == "Amazon Elastic Compute Cloud" and rng.random() < 0.3:
        tags["aws:cloudformation:stack-name"] = f"stack-{sub.name}"
    return json.dumps(tags, sort_keys=True) if tags else None


def _resource_id(provider: str, sub: SubAccount, region: str, rtype: str, name: str) -> str:
    if provider == "AWS":
        svc = rtype.lower().replace(" ", "-")
        return f"arn:aws:{svc}:{region}:{sub.id}:{svc}/{name}"
    if provider == "Microsoft":
        return f"{sub.id}/resourceGroups/rg-{sub.name}/providers/{rtype.replace(' ', '')}/{name}"
    if provider == "Google Cloud":
        return f"//{rtype.lower().replace(' ', '')}.googleapis.com/projects/{sub.id}/{name}"
    return f"{sub.id}.{name}"


def build_resources(seed: int, block: int, n_days: int, scale: float = 1.0) -> pl.DataFrame:
    """The resource table for one block, deterministic for (seed, block, scale).

    ``scale`` < 1 keeps fewer resources of each kind (at least one) for small test datasets.
    """
    rng = np.random.default_rng([seed, 7919, block])
    rows: list[dict[str, object]] = []
    for sub in SUB_ACCOUNTS:
        ba = BA_BY_ID[sub.billing_account]
        for service_name, count, size in ARCHETYPES[sub.archetype]:
            svc = SERVICE_BY_NAME[service_name]
            regions = REGIONS[svc.provider]
            for i in range(max(1, round(count * scale))):
                region_id, region_name, zones = (
                    regions[0] if rng.random() < 0.7 else regions[int(rng.integers(len(regions)))]
                )
                sku, price = svc.skus[int(rng.integers(len(svc.skus)))]
                name = f"{sub.name}-{svc.resource_type.lower().replace(' ', '-')}-{i:03d}" + (
                    f"-b{block}" if block else ""
                )
                zone = str(rng.choice(zones)) if zones and svc.shape == "steady" else None
                start = 0 if rng.random() < 0.7 else int(rng.integers(0, n_days - 30))
                if service_name in LAUNCH_SERVICES:
                    start = max(start, int(n_days * 0.55))  # a product launch: a step up
                if sub.name == "acme-sandbox-42":
                    end = int(n_days * 0.7)  # project decommissioned
                else:
                    end = int(rng.integers(start + 30, n_days)) if rng.random() < 0.08 else n_days
                steady = svc.shape == "steady"
                qty = svc.daily_qty * size * (1.0 if steady else float(rng.lognormal(0.0, 0.6)))
                details = None
                if svc.resource_type in ("Instance", "Virtual machine"):
                    cores = {"xlarge": 4, "2xlarge": 8}.get(sku.split(".")[-1], 4)
                    details = json.dumps({"InstanceType": sku, "CoreCount": cores, "MemorySize": cores * 4})
                rows.append(
                    {
                        "provider": svc.provider,
                        "publisher": svc.publisher or publisher_of(svc.provider),
                        "issuer": ba.issuer,
                        "billing_account": ba.id,
                        "billing_account_name": ba.name,
                        "billing_account_type": ba.type,
                        "currency": ba.currency,
                        "sub_account": sub.id,
                        "sub_account_name": sub.name,
                        "sub_account_type": sub.type,
                        "service": svc.name,
                        "category": svc.category,
                        "subcategory": svc.subcategory,
                        "resource_type": svc.resource_type,
                        "unit": svc.unit,
                        "sku": sku,
                        "list_price": price,
                        "contracted_price": price * (1 - ba.discount) if svc.discounted else price,
                        "region_id": region_id,
                        "region_name": region_name,
                        "zone": zone,
                        "resource_id": _resource_id(svc.provider, sub, region_id, svc.resource_type, name),
                        "resource_name": name,
                        "tags": _tags(sub, rng, svc.name),
                        "sku_details": details,
                        "shape": svc.shape,
                        "base_qty": qty,
                        "start_day": start,
                        "end_day": end,
                        "team": sub.team,
                        "env": sub.env,
                    }
                )
    frame = pl.DataFrame(rows)
    return frame.with_row_index("res_idx").with_columns(pl.lit(block).alias("block"))
