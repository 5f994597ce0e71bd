"""Property: a corrupted export is either refused with a message naming the file (and the row or
line for row-level damage) or ingested with exactly the totals of the intact file; a refused file
never changes the store."""

from __future__ import annotations

import atexit
import csv
import gzip
import io
import shutil
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops_core import store
from finops_core.ingest import IngestError, ingest
from tests.test_ingest import CUR2, OCI, totals

ROWS = list(csv.reader(io.StringIO(CUR2.read_text())))
HEADER, BODY = ROWS[0], ROWS[1:]
NUMERIC_OR_DATE = [
    i
    for i, name in enumerate(HEADER)
    if name.endswith(("_date", "_cost", "_rate", "_amount", "_commitment", "_to_date", "_fee_for_billing_period"))
    or name.endswith("_recurring_fee")
]
# bytes a damaged field may get: anything but a digit (a digit for a digit is a different, valid number)
NOISE = [chr(c) for c in range(32, 127) if not chr(c).isdigit()] + ["\x00", "\xe9"]

_BASE = Path(tempfile.mkdtemp(prefix="ingest-prop-"))
atexit.register(shutil.rmtree, _BASE, True)  # made at import (hypothesis needs module-level data)
ingest([OCI], _BASE / "base")
ingest([CUR2], _BASE / "intact")
BASE_TOTALS = totals(_BASE / "base")
INTACT = {
    cur: tuple(
        round(a + b, 9) if isinstance(a, float) else a + b
        for a, b in zip(v, BASE_TOTALS.get(cur, (0, 0.0, 0.0)), strict=True)
    )
    for cur, v in totals(_BASE / "intact").items()
}


def _write(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8", errors="surrogateescape")


@st.composite
def corruption(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """(kind, file suffix, file bytes)."""
    kind = draw(st.sampled_from(["truncate", "flip", "drop_column", "shift_row", "extra_field"]))
    rows = [list(r) for r in ROWS]
    if kind == "truncate":
        data = gzip.compress(_write(rows))
        return kind, ".csv.gz", data[: draw(st.integers(0, len(data) - 1))]
    if kind == "drop_column":
        j = draw(st.integers(0, len(HEADER) - 1))
        return kind, ".csv", _write([r[:j] + r[j + 1 :] for r in rows])
    r = draw(st.integers(1, len(BODY)))
    if kind == "flip":
        cols = [j for j in NUMERIC_OR_DATE if rows[r][j]]
        j = draw(st.sampled_from(cols))
        pos = draw(st.integers(0, len(rows[r][j]) - 1))
        rows[r][j] = rows[r][j][:pos] + draw(st.sampled_from(NOISE)) + rows[r][j][pos + 1 :]
    elif kind == "shift_row":  # a field lost, the rest of the row moved left, the count kept
        j = draw(st.integers(0, len(HEADER) - 1))
        rows[r] = rows[r][:j] + rows[r][j + 1 :] + [""]
    else:
        rows[r].insert(draw(st.integers(0, len(HEADER))), "x")
    return kind, ".csv", _write(rows)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(corruption())
def test_corrupted_export_is_refused_with_a_location_or_ingested_identically(case: tuple[str, str, bytes]) -> None:
    kind, suffix, data = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        shutil.copytree(_BASE / "base", root)
        before = store.current_version(root)
        path = Path(tmp) / f"cur2-damaged{suffix}"
        path.write_bytes(data)
        try:
            ingest([path], root)
        except IngestError as exc:
            msg = str(exc)
            assert str(path) in msg, msg
            if kind in ("flip", "shift_row", "extra_field"):
                assert "row " in msg or "line " in msg or "header" in msg, msg
            assert store.current_version(root) == before
            assert totals(root) == BASE_TOTALS
            assert not list((root / "versions").glob(".staging-*"))
            return
        assert totals(root) == INTACT, (kind, data[:200])
        assert pl.read_parquet(store.partition_files(root)).height == sum(v[0] for v in INTACT.values())
