#!/usr/bin/env bash
# Builds a small demo, exports it, and runs the FinOps Foundation's FOCUS 1.2 validator on it.
# Passes when no rule fails except the validator defect listed in docs/focus-conformance.md
# (InvoiceId-C-004-C: checked on its own although it is one branch of an OR; any non-empty
# dataset with InvoiceId values fails it, and one without fails its twin InvoiceId-C-005-C).
set -euo pipefail
cd "$(dirname "$0")/.."
validator=${FOCUS_VALIDATE:-../shared/tools/focus-validate}
work=$(mktemp -d)
export FINOPS_STATE="$work/state"  # the demo command would otherwise create demo users in data/state
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m finops_core demo --store "$work/store" --rows 60000 --end 2026-10-15 >/dev/null 2>&1
.venv/bin/python -m finops_core export --store "$work/store" --out "$work/focus.parquet" 2>/dev/null
"$validator" "$work/focus.parquet" >"$work/report.txt" 2>&1 || true
summary=$(grep 'focus-validator 1.2:' "$work/report.txt" || true)
[ -n "$summary" ] || { cat "$work/report.txt"; echo "focus-conformance: the validator did not run" >&2; exit 1; }
failed=$(grep -oE '^❌ [A-Za-z0-9-]+' "$work/report.txt" | cut -c5- | sort -u)
unexpected=$(echo "$failed" | grep -vxE 'InvoiceId-C-004-C|' || true)
echo "$summary"
[ -n "$failed" ] && echo "failed rules: $(echo $failed)"
if [ -n "$unexpected" ]; then
  grep -E "$(echo "$unexpected" | paste -sd'|')" "$work/report.txt"
  echo "focus-conformance: FAILED ($(echo $unexpected))" >&2
  exit 1
fi
echo "focus-conformance: ok (only the documented validator defect, if any)"
