"""Hostile text is data: filter values, tag keys and file names never become SQL, HTML or paths."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from finops_core import drilldown, governance, store
from finops_core.ingest import IngestError
from finops_core.ingest.uploads import safe_name, write_uploads
from finops_core.query import CostQuery, Scope
from finops_core.schema import C

HOSTILE = [
    "x' OR '1'='1",
    "payments'; DROP TABLE daily; --",
    '") UNION SELECT 1 --',
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "[click](http://evil.example)",
    '=HYPERLINK("http://x")',
    "\\x00",
    "%s %d {0}",
]
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_filter_values_match_nothing(demo_store: Path, value: str) -> None:
    con = store.connect(demo_store)
    whole = CostQuery(date(2000, 1, 1), date(2100, 1, 1))
    for dim in (C.x_Team, C.ServiceName, C.SubAccountId, C.ResourceId, C.RegionId):
        q = whole.with_filter(dim, (value,))
        assert drilldown.total(con, q).height == 0
    rows, count = drilldown.line_items(con, whole.with_filter(C.ResourceId, (value,)), 0, 50)  # the raw rows
    assert rows.height == count == 0
    # a hostile scope is a scope that matches nothing, not a way around it
    scoped = CostQuery(whole.start, whole.end, scope=Scope(teams=(value,)))
    assert drilldown.cost_by_dimension(con, scoped).height == 0
    assert con.execute("SELECT count(*) FROM daily").fetchone()[0] > 0  # type: ignore[index]


@pytest.mark.parametrize("key", ["team' OR 1=1 --", 'a"b', "../x"])
def test_hostile_tag_keys_are_refused_or_empty(demo_store: Path, key: str) -> None:
    con = store.connect(demo_store)
    q = CostQuery(date(2000, 1, 1), date(2100, 1, 1))
    try:
        table = governance.typo_table(con, q, key)
    except ValueError as exc:  # an unknown key is named in the error
        assert key in str(exc)
    else:
        assert table.height == 0


def test_hostile_cli_filter_is_data(demo_store: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "finops_core", "query", "--store", str(demo_store), "--filter", "x_Team=x' OR '1'='1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in out.stderr
    assert out.returncode in (0, 2)
    assert "payments" not in out.stdout


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("../../etc/cron.d/evil.csv", "evil.csv"),
        ("C:\\Users\\me\\cur-00001.csv.gz", "cur-00001.csv.gz"),
        ("a\x00b.csv", "ab.csv"),
        ("report.csv", "report.csv"),
    ],
)
def test_upload_names_stay_inside_the_folder(tmp_path: Path, name: str, want: str) -> None:
    assert safe_name(name) == want
    (path,) = write_uploads(tmp_path, [(name, b"x")])
    assert path.parent == tmp_path and path.name == want


@pytest.mark.parametrize("name", ["..", ".", "", "dir/..", "/"])
def test_unusable_upload_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(IngestError, match="not a usable file name"):
        write_uploads(tmp_path, [(name, b"x")])


def test_two_uploads_with_one_name_are_both_kept(tmp_path: Path) -> None:
    paths = write_uploads(tmp_path, [("cur-00001.csv", b"first"), ("cur-00001.csv", b"second")])
    assert [p.read_bytes() for p in paths] == [b"first", b"second"]
    assert [p.name for p in paths] == ["cur-00001.csv", "cur-00001.csv"]
