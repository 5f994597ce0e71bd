"""The operating cadence: variance analysis and the weekly digest (docs/variance.md, docs/digest.md)."""
