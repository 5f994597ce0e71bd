"""Cost impact of a Terraform plan: each resource it adds, removes or resizes, priced from similar
resources in the billing data, as a table and as Markdown for a pull-request comment.

Similar = same service (``SERVICES``: Terraform type -> FOCUS ServiceName), same type/SKU (the
instance type, DB class, machine type or VM size, against the SkuId of the resource's costliest
charge) and same region, relaxed in this order until some resource matches: service+SKU+region,
service+SKU, service+region, service. A resource's monthly cost is its EffectiveCost (amortized,
after discounts) per day with cost over the last ``WINDOW_DAYS`` days of data, x 365.25/12; the
estimate is the median over the similar resources (robust to a few idle or huge ones). A removed
resource whose id is in the billing data is priced from its own cost instead. Amounts stay in the
billing currency of the resources they come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import duckdb
import polars as pl

from finops_core import db
from finops_core.policy.plan import PlannedResource
from finops_core.schema import C

WINDOW_DAYS = 30
MONTH_DAYS = 365.25 / 12
SERVICES = {
    "aws_instance": "Amazon Elastic Compute Cloud",
    "aws_db_instance": "Amazon Relational Database Service",
    "aws_rds_cluster_instance": "Amazon Relational Database Service",
    "aws_s3_bucket": "Amazon Simple Storage Service",
    "aws_ebs_volume": "Amazon Elastic Block Store",
    "aws_nat_gateway": "Amazon VPC NAT Gateway",
    "aws_lambda_function": "AWS Lambda",
    "aws_elasticache_cluster": "Amazon ElastiCache",
    "aws_eks_cluster": "Amazon Elastic Kubernetes Service",
    "aws_redshift_cluster": "Amazon Redshift",
    "google_compute_instance": "Compute Engine",
    "google_storage_bucket": "Cloud Storage",
    "google_bigquery_dataset": "BigQuery",
    "google_sql_database_instance": "Cloud SQL",
    "google_container_cluster": "Kubernetes Engine",
    "google_cloud_run_v2_service": "Cloud Run",
    "azurerm_linux_virtual_machine": "Virtual Machines",
    "azurerm_windows_virtual_machine": "Virtual Machines",
    "azurerm_storage_account": "Storage",
    "azurerm_kubernetes_cluster": "Azure Kubernetes Service",
    "azurerm_mssql_database": "Azure SQL Database",
    "azurerm_cosmosdb_account": "Azure Cosmos DB",
}
SIZE_ATTRIBUTES = ("instance_type", "instance_class", "machine_type", "size", "node_type", "sku_name", "tier")
_AZ = re.compile(r"^([a-z]{2}(-gov)?-[a-z]+-\d)[a-z]$")  # AWS availability zone -> region
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")  # Google zone -> region


def sku_of(attrs: dict[str, Any]) -> str | None:
    """The size/SKU a resource's attributes name, spelled as billing SKUs are (Standard_E4s_v5 -> E4s v5)."""
    for name in SIZE_ATTRIBUTES:
        value = attrs.get(name)
        if isinstance(value, str) and value:
            return value.removeprefix("Standard_").replace("_", " ") if value.startswith("Standard_") else value
    return None


def region_of(attrs: dict[str, Any], default: str | None) -> str | None:
    for name in ("region", "location"):
        if isinstance(attrs.get(name), str) and attrs[name]:
            return str(attrs[name]).lower().replace(" ", "")
    for name in ("availability_zone", "zone"):
        value = attrs.get(name)
        if isinstance(value, str) and (m := _AZ.match(value) or _ZONE.match(value)):
            return m[1]
    return default


def default_region(doc: dict[str, Any]) -> str | None:
    """The AWS provider's region when the configuration states it as a constant."""
    config = (doc.get("configuration") or {}).get("provider_config") or {}
    for provider in config.values():
        region = ((provider.get("expressions") or {}).get("region") or {}).get("constant_value")
        if isinstance(region, str):
            return region
    return None


def resource_costs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per resource over the last ``WINDOW_DAYS`` days of data: ServiceName, RegionId, sku (SkuId of
    its costliest charge), BillingCurrency, monthly (cost per day with cost x 365.25/12)."""
    last = db.rows(con, f"SELECT max({C.x_ChargeDate}) FROM daily")[0][0]
    if last is None:
        return pl.DataFrame()
    sql = (
        f"SELECT {C.ResourceId}, {C.ServiceName}, {C.RegionId}, {C.BillingCurrency}, "
        f"arg_max({C.SkuId}, {C.EffectiveCost}) AS sku, sum({C.EffectiveCost}) AS cost, "
        f"count(DISTINCT {C.x_ChargeDate}) AS days FROM raw_rows WHERE {C.x_ChargeDate} BETWEEN ? AND ? "
        f"AND {C.ResourceId} IS NOT NULL AND {C.ChargeCategory} = 'Usage' GROUP BY ALL"
    )
    frame = db.frame(con, sql, [last - timedelta(days=WINDOW_DAYS - 1), last])
    return frame.with_columns((pl.col("cost") / pl.col("days") * MONTH_DAYS).alias("monthly"))


@dataclass(frozen=True)
class Estimate:
    monthly: float | None
    currency: str
    how: str
    level: int = 9  # 0 its own cost, 1 SKU and region, 2 SKU, 3 region, 4 service only, 9 none

    @property
    def sized(self) -> bool:
        """Priced from its own cost or from resources of the same SKU: good enough to take a difference."""
        return self.monthly is not None and self.level <= 2


def estimate(costs: pl.DataFrame, service: str | None, sku: str | None, region: str | None) -> Estimate:
    """The median monthly cost of the most similar resources (see the module docstring)."""
    if service is None:
        return Estimate(None, "", "no estimate: this resource type is not mapped to a billed service")
    base = costs.filter(pl.col(C.ServiceName) == service)
    levels = [
        ("SKU and region", sku, region),
        ("SKU, any region", sku, None),
        ("region, any SKU", None, region),
        ("service only", None, None),
    ]
    for level, (label, s, r) in enumerate(levels, 1):
        if (level in (1, 2) and s is None) or (level in (1, 3) and r is None):
            continue
        found = base.filter(pl.col("sku") == s) if s else base
        found = found.filter(pl.col(C.RegionId) == r) if r else found
        if found.is_empty():
            continue
        currency = found.group_by(C.BillingCurrency).len().sort("len", descending=True)[C.BillingCurrency][0]
        found = found.filter(pl.col(C.BillingCurrency) == currency)
        what = ", ".join(x for x in (service, s, r) if x)
        how = f"median of {found.height} billed resource(s) ({what}; matched on {label}), last {WINDOW_DAYS} days"
        return Estimate(float(found["monthly"].median()), str(currency), how, level)  # type: ignore[arg-type]
    return Estimate(None, "", f"no estimate: no {service} resource in the last {WINDOW_DAYS} days of billing data")


def _own(costs: pl.DataFrame, before: dict[str, Any]) -> Estimate | None:
    """A removed resource's own cost, when one of its ids is a billed ResourceId (or ends one)."""
    ids = [str(before[k]) for k in ("arn", "self_link", "id") if before.get(k)]
    for rid in ids:
        hit = costs.filter((pl.col(C.ResourceId) == rid) | pl.col(C.ResourceId).str.ends_with("/" + rid))
        if hit.height == 1:
            return Estimate(
                float(hit["monthly"][0]), str(hit[C.BillingCurrency][0]), f"its own cost, last {WINDOW_DAYS} days", 0
            )
    return None


def _difference(after: Estimate, before: Estimate, change: str) -> Estimate:
    """New minus old, only when both sides are priced at their own size and in one currency."""
    how = f"{change}: ({after.how}) minus ({before.how})"
    if not (after.sized and before.sized) or after.currency != before.currency:
        return Estimate(None, after.currency, f"no estimate: the old or the new size is not billed; {how}")
    assert after.monthly is not None and before.monthly is not None
    return Estimate(after.monthly - before.monthly, after.currency, how, max(after.level, before.level))


def plan_impact(costs: pl.DataFrame, planned: list[PlannedResource], region: str | None = None) -> pl.DataFrame:
    """One row per resource the plan adds, removes, replaces or resizes: address, action, service,
    sku, region, currency, monthly_change (null without an estimate), how."""
    rows = []
    for r in planned:
        acts = set(r.actions)
        service = SERVICES.get(r.type)
        new = region_of(r.after, region), sku_of(r.after)
        old = region_of(r.before, region), sku_of(r.before)
        if acts == {"create"}:
            e, action = estimate(costs, service, new[1], new[0]), "add"
        elif acts == {"delete"}:
            e, action = _own(costs, r.before) or estimate(costs, service, old[1], old[0]), "remove"
            e = Estimate(-e.monthly if e.monthly is not None else None, e.currency, e.how, e.level)
        elif old[1] != new[1] and ("update" in acts or acts == {"delete", "create"}):
            after = estimate(costs, service, new[1], new[0])
            before = _own(costs, r.before) or estimate(costs, service, old[1], old[0])
            action = "resize" if "update" in acts else "replace"
            e = _difference(after, before, f"{old[1]} -> {new[1]}")
        else:
            continue
        rows.append(
            {
                "address": r.address,
                "action": action,
                "service": service,
                "sku": new[1] or old[1],
                "region": new[0] or old[0],
                "currency": e.currency,
                "monthly_change": e.monthly,
                "how": e.how,
            }
        )
    schema = {k: pl.String for k in ("address", "action", "service", "sku", "region", "currency")} | {
        "monthly_change": pl.Float64,
        "how": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def markdown(impact: pl.DataFrame) -> str:
    """A pull-request comment: one line per priced resource, the total per currency, and the method."""
    lines = ["### Estimated monthly cost impact", ""]
    lines += ["| Resource | Action | Type | Region | Monthly change | How |", "|---|---|---|---|---:|---|"]
    for r in impact.filter(pl.col("service").is_not_null()).iter_rows(named=True):
        amount = "n/a" if r["monthly_change"] is None else f"{r['monthly_change']:+,.2f} {r['currency']}"
        kind = r["sku"] or r["service"]
        lines.append(f"| `{r['address']}` | {r['action']} | {kind} | {r['region'] or ''} | {amount} | {r['how']} |")
    priced = impact.filter(pl.col("monthly_change").is_not_null())
    totals = priced.group_by("currency").agg(pl.col("monthly_change").sum()).sort("currency")
    lines.append("")
    lines += [f"**Total: {total:+,.2f} {cur} per month**" for cur, total in totals.rows()]
    if priced.is_empty():
        lines.append("**No resource of this plan could be priced from the billing data.**")
    unmapped = impact.filter(pl.col("service").is_null())["address"].to_list()
    if unmapped:
        lines.append("\nNot priced (no billed service for the type): " + ", ".join(f"`{a}`" for a in unmapped))
    lines.append(
        f"\n_Estimated from the billing data: the median monthly EffectiveCost of similar billed resources (same "
        f"service, type/SKU and region where possible) over the last {WINDOW_DAYS} days; a removed resource's own "
        "cost when it is billed. Usage-driven charges (requests, storage growth) of new resources are not known "
        "before they run._"
    )
    return "\n".join(lines) + "\n"
