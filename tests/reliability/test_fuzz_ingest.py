"""Every sample under every kind of corruption: refused with a message naming the file, or staged
with the clean file's totals; never a traceback; a refused file leaves the store as it was."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from finops_core import store
from finops_core.ingest import IngestError, ingest
from tests.reliability import fuzz


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[fuzz.Outcome]:
    # every (sample, mutation) pair once, then seeded random ones
    return fuzz.run(len(fuzz.CLEAN) * len(fuzz.MUTATIONS) + 10, seed=20261202, work=tmp_path_factory.mktemp("fuzz"))


def test_no_mutant_crashes_ingest(outcomes: list[fuzz.Outcome]) -> None:
    crashes = [o for o in outcomes if o.kind == "crash"]
    assert not crashes, "\n\n".join(f"{o.sample} / {o.mutation}: {o.detail}" for o in crashes)


def test_ordinary_export_variants_give_the_clean_totals(outcomes: list[fuzz.Outcome]) -> None:
    # a BOM, CR LF line ends, gzip and trailing blank lines are what real exports look like
    for o in outcomes:
        if o.mutation in ("bom", "crlf", "gzip", "blank_lines"):
            assert o.kind == "equal", (o.sample, o.mutation, o.detail)
        if o.mutation in ("utf16", "empty", "dup_header"):
            assert o.kind == "refused", (o.sample, o.mutation, o.detail)


def test_refusals_say_where(outcomes: list[fuzz.Outcome]) -> None:
    refused = [o for o in outcomes if o.kind == "refused"]
    kinds = Counter(o.kind for o in outcomes)
    assert kinds["refused"] >= len(outcomes) // 3 and kinds["equal"] >= len(outcomes) // 5, kinds
    located = [o for o in refused if "row " in o.detail]
    # all but whole-file problems (empty, unreadable, wrong format) name the row
    assert len(located) >= 0.6 * len(refused), [o.detail for o in refused if "row " not in o.detail][:10]


def test_a_refused_file_leaves_the_store_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ingest([fuzz.SAMPLES / "aws-cur2-fixture.csv"], root)
    before = store.current_version(root)
    rng = random.Random(7)
    for mutation in ("truncate", "shift", "dup_header", "currency", "flip", "utf16"):
        for sample in ("aws-cur2-fixture.csv", "azure-mca-fixture-actual.csv"):
            path = fuzz.write_mutant(sample, mutation, rng, tmp_path / f"{mutation}-{sample}")
            try:
                ingest([path], root)
            except IngestError:
                pass
            else:  # it read as a valid file: the new version must still be whole
                store.connect(root).execute("SELECT count(*) FROM costs").fetchall()
                before = store.current_version(root)
            assert store.current_version(root) == before
            assert not list((root / "versions").glob(".staging-*"))
    with store.writer_lock(root):  # the lock is free for the next writer
        pass
