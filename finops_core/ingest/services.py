"""Provider service codes -> FOCUS ServiceCategory and ServiceSubcategory.

Rows whose service is not listed get ``Other`` / ``Other (Other)`` and the ingest reports a
warning naming the services, so the table grows from real exports instead of guesses.
"""

from __future__ import annotations

from finops_core.ingest.core import sql_str

# code -> (ServiceCategory, ServiceSubcategory); keys are matched exactly as the provider spells them
AWS: dict[str, tuple[str, str]] = {
    "AmazonEC2": ("Compute", "Virtual Machines"),
    "ComputeSavingsPlans": ("Compute", "Virtual Machines"),
    "AWSLambda": ("Compute", "Serverless Compute"),
    "AmazonECS": ("Compute", "Containers"),
    "AmazonEKS": ("Compute", "Containers"),
    "AmazonS3": ("Storage", "Object Storage"),
    "AmazonEFS": ("Storage", "File Storage"),
    "AmazonGlacier": ("Storage", "Backup Storage"),
    "AWSBackup": ("Storage", "Backup Storage"),
    "AmazonRDS": ("Databases", "Relational Databases"),
    "AmazonDynamoDB": ("Databases", "NoSQL Databases"),
    "AmazonElastiCache": ("Databases", "Caching"),
    "AmazonRedshift": ("Databases", "Data Warehouses"),
    "AWSGlue": ("Analytics", "Data Processing"),
    "AmazonAthena": ("Analytics", "Analytics Platforms"),
    "AmazonKinesis": ("Analytics", "Streaming Analytics"),
    "AWSQueueService": ("Integration", "Messaging"),
    "AmazonSNS": ("Integration", "Messaging"),
    "AWSEvents": ("Integration", "Messaging"),
    "AmazonApiGateway": ("Integration", "API Management"),
    "AmazonStates": ("Integration", "Workflow Orchestration"),
    "AmazonCloudWatch": ("Management and Governance", "Observability"),
    "AWSCloudTrail": ("Management and Governance", "Compliance"),
    "AWSConfig": ("Management and Governance", "Compliance"),
    "AWSCostExplorer": ("Management and Governance", "Cost Management"),
    "AWSSupportBusiness": ("Management and Governance", "Support"),
    "AWSSupportEnterprise": ("Management and Governance", "Support"),
    "AWSCloudShell": ("Developer Tools", "Development Environments"),
    "AWSMigrationHubRefactorSpaces": ("Migration", "Resource Migration"),
    "awskms": ("Security", "Secret Management"),
    "AWSSecretsManager": ("Security", "Secret Management"),
    "AmazonGuardDuty": ("Security", "Threat Detection and Response"),
    "AWSIoT": ("Internet of Things", "IoT Platforms"),
    "AWSDataTransfer": ("Networking", "Network Connectivity"),
    "AmazonVPC": ("Networking", "Network Infrastructure"),
    "AmazonCloudFront": ("Networking", "Content Delivery"),
    "AmazonRoute53": ("Networking", "Network Routing"),
    "AWSELB": ("Networking", "Application Networking"),
    "AmazonSageMaker": ("AI and Machine Learning", "Machine Learning"),
    "AmazonBedrock": ("AI and Machine Learning", "Generative AI"),
}
GCP: dict[str, tuple[str, str]] = {
    "Compute Engine": ("Compute", "Virtual Machines"),
    "Kubernetes Engine": ("Compute", "Containers"),
    "Cloud Run": ("Compute", "Serverless Compute"),
    "Cloud Functions": ("Compute", "Serverless Compute"),
    "Cloud Storage": ("Storage", "Object Storage"),
    "BigQuery": ("Databases", "Data Warehouses"),
    "Cloud SQL": ("Databases", "Relational Databases"),
    "Cloud Spanner": ("Databases", "Relational Databases"),
    "Stackdriver Logging": ("Management and Governance", "Observability"),
    "Cloud Logging": ("Management and Governance", "Observability"),
    "Cloud Monitoring": ("Management and Governance", "Observability"),
    "Stackdriver Monitoring": ("Management and Governance", "Observability"),
    "Security Command Center": ("Security", "Security Posture Management"),
    "Cloud Pub/Sub": ("Integration", "Messaging"),
    "Networking": ("Networking", "Network Infrastructure"),
    "Vertex AI": ("AI and Machine Learning", "AI Platforms"),
}
OCI: dict[str, tuple[str, str]] = {
    "COMPUTE": ("Compute", "Virtual Machines"),
    "DATABASE": ("Databases", "Relational Databases"),
    "MYSQL": ("Databases", "Relational Databases"),
    "BLOCK_STORAGE": ("Storage", "Block Storage"),
    "OBJECT_STORAGE": ("Storage", "Object Storage"),
    "NETWORK": ("Networking", "Network Infrastructure"),
    "TELEMETRY": ("Management and Governance", "Observability"),
    "OBJECTSTORE": ("Storage", "Object Storage"),
    "ORACLE_STREAMING_SERVICE": ("Analytics", "Streaming Analytics"),
}
# Azure rows are categorized by MeterCategory, so each ServiceName has exactly one category
AZURE: dict[str, tuple[str, str]] = {
    "Virtual Machines": ("Compute", "Virtual Machines"),
    "Container Instances": ("Compute", "Containers"),
    "Azure App Service": ("Web", "Application Platforms"),
    "Functions": ("Compute", "Serverless Compute"),
    "Storage": ("Storage", "Storage Platforms"),
    "SQL Database": ("Databases", "Relational Databases"),
    "SQL Managed Instance": ("Databases", "Relational Databases"),
    "Azure Database for MySQL": ("Databases", "Relational Databases"),
    "Azure Database for PostgreSQL": ("Databases", "Relational Databases"),
    "Azure Cosmos DB": ("Databases", "NoSQL Databases"),
    "Advanced Data Security": ("Security", "Security Posture Management"),
    "Advanced Threat Protection": ("Security", "Threat Detection and Response"),
    "Key Vault": ("Security", "Secret Management"),
    "Bandwidth": ("Networking", "Network Connectivity"),
    "Load Balancer": ("Networking", "Application Networking"),
    "Virtual Network": ("Networking", "Network Infrastructure"),
    "Log Analytics": ("Management and Governance", "Observability"),
    "Azure Monitor": ("Management and Governance", "Observability"),
    "Azure Databricks": ("Analytics", "Data Processing"),
    "Azure Machine Learning": ("AI and Machine Learning", "Machine Learning"),
}


def category_sql(code: str, table: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(ServiceCategory, ServiceSubcategory) SQL expressions for the service code expression ``code``."""
    cat = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v[0])}" for k, v in table.items())
    sub = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v[1])}" for k, v in table.items())
    return f"CASE {code} {cat} ELSE 'Other' END", f"CASE {code} {sub} ELSE 'Other (Other)' END"
