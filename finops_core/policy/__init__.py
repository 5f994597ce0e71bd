"""Tag policy as code: a YAML policy (``rules``, judged by ``judge``), checked against the billing data (``billing``) and
against a Terraform plan before it is applied (``plan``)."""
