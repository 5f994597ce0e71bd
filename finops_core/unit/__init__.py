"""Unit economics: business metrics (``metrics``) and allocated cost per unit (``cost``)."""
