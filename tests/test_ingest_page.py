"""AppTest of the admin Ingest page: upload, publish, refusal, and that only admins get the page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from finops_core import store
from tests.test_ingest import OCI
from tests.test_pages import _app


def test_admin_uploads_an_export_and_a_bad_file_is_refused(
    demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    shutil.copytree(demo_store, root)  # the session's demo store stays as other tests expect it
    before = store.current_version(root)
    at = _app(root, monkeypatch, user="admin")
    at.switch_page("views/ingest.py").run()
    assert not at.exception and at.title[0].value == "Ingest"
    assert "No ingested sources yet" in at.info[0].value
    at.file_uploader[0].set_value((OCI.name, OCI.read_bytes(), "text/csv")).run()
    at.button[0].click().run()
    assert not at.exception
    assert "oci, 506 rows published" in at.success[0].value
    assert store.current_version(root) != before
    assert at.dataframe[0].value["rows"].to_list() == [506]
    published = store.current_version(root)
    bad = OCI.read_text().replace("0.012264277499950943", "0.01226,4277", 1).encode()
    at.file_uploader[0].set_value(("bad.csv", bad, "text/csv")).run()
    at.button[0].click().run()
    assert "bad.csv" in at.error[0].value and ("line 2" in at.error[0].value or "row 1" in at.error[0].value)
    assert store.current_version(root) == published


def test_only_admins_get_the_ingest_page(demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo_store, monkeypatch, user="finops")
    with pytest.raises(ValueError):
        at.switch_page("views/ingest.py")


def test_admin_edits_sources_yaml_and_syncs_from_the_page(
    demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_sync import FOCUS13

    root = tmp_path / "store"
    shutil.copytree(demo_store, root)
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "focus-1.3.csv").write_bytes(FOCUS13.read_bytes())
    monkeypatch.setenv("FINOPS_SOURCES", str(tmp_path / "sources.yaml"))
    at = _app(root, monkeypatch, user="admin")
    at.switch_page("views/ingest.py").run()
    at.text_area(key="sources_yaml").set_value("sources:\n  - name: f\n    url: ftp://x\n").run()
    next(b for b in at.button if b.label == "Save sources").click().run()
    assert "line 3: field url: 'ftp://x': scheme ftp://" in at.error[0].value
    assert not (tmp_path / "sources.yaml").exists()
    at.text_area(key="sources_yaml").set_value(
        f"sources:\n  - name: focus\n    url: {folder}\n    format: focus\n"
    ).run()
    next(b for b in at.button if b.label == "Save sources").click().run()
    assert "Saved 1 source(s)" in at.success[0].value
    next(b for b in at.button if b.label == "Sync all sources now").click().run()
    assert not at.exception
    assert any("focus: 1 seen, 1 ingested" in s.value for s in at.success)
    runs = at.dataframe[-1].value  # newest first (the session's state database may hold other tests' runs)
    assert runs["source"].to_list()[0] == "focus" and runs["status"].to_list()[0] == "ok"
