"""Trust in the numbers: invoice reconciliation (``reconcile``, ``invoices``)."""
