"""``sync`` against a real S3-compatible server (moto's server, started here on 127.0.0.1) and a
local folder: the providers' delivery layouts built from the small real exports in tests/data,
the newest delivery per export and month, a no-op second sync, a corrupt file refused with its
location while the others publish, a killed sync that leaves the store as it was, the lock."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import polars as pl
import pytest
from moto.server import ThreadedMotoServer

from finops_core import store
from finops_core.cli import main
from finops_core.ingest import ingest
from finops_core.sync import history, remote, runner, sources
from finops_core.sync.sources import Source
from tests.test_ingest import totals

DATA = Path(__file__).parent / "data"
CUR2 = DATA / "ingest" / "aws-cur2-fixture.csv"
AZ_AMORTIZED = DATA / "ingest" / "finops-toolkit-EA_AmortizedCost_Small.csv"
FOCUS13 = DATA / "focus-1.3" / "focus-1.3-cost-and-usage.csv"
CONTRACTS = DATA / "focus-1.3" / "focus-1.3-contract-commitment.csv"
RUN_A, RUN_B = "20261005T031500Z-4f1c", "20261006T031500Z-9a2e"
AZ_RUN = "5b1e4c2a-0d7e-4a57-9c41-2f6c1f9d3e10"
BUCKET = "billing-exports"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ENDPOINT_URL_S3=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    yield url
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FINOPS_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


Put = Callable[[str, bytes], None]


def _target(kind: str, tmp_path: Path, s3_url: str | None) -> tuple[str, Put]:
    """A source URL and a function that writes a file under it (local folder or S3 bucket prefix)."""
    if kind == "local":
        root = tmp_path / "exports"

        def put_local(rel: str, data: bytes) -> None:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)

        return str(root), put_local
    client = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
    prefix = f"t{random.randrange(1 << 30)}"
    if BUCKET not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=BUCKET)

    def put_s3(rel: str, data: bytes) -> None:
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{rel}", Body=data)

    return f"s3://{BUCKET}/{prefix}", put_s3


def _cur2_run(put: Put, base: str, run: str, data: bytes) -> None:
    """A CUR 2.0 (Data Exports, "create new file" versioning) run: its data file, then its manifest."""
    export, period = "finops-cur2", "BILLING_PERIOD=2026-10"
    key = f"cur/{export}/data/{period}/{run}/{export}-00001.csv"
    put(key, data)
    manifest = {"executionId": run, "dataFiles": [f"{base}/{key}"], "billingPeriod": {"start": "2026-10-01"}}
    put(f"cur/{export}/metadata/{period}/{run}/{export}-Manifest.json", json.dumps(manifest).encode())


def _partial_cur2() -> bytes:
    """The CUR 2.0 fixture without its last line item: the month as an earlier run saw it."""
    lines = CUR2.read_bytes().splitlines(keepends=True)
    return b"".join(lines[:-1])


def _corrupt_focus(tmp_path: Path) -> bytes:
    frame = pl.read_csv(FOCUS13, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("12,5")).otherwise(pl.col("BilledCost")).alias("BilledCost")
    )
    out = tmp_path / "corrupt.csv"
    frame.write_csv(out)
    return out.read_bytes()


def _layout(put: Put, base: str, tmp_path: Path) -> None:
    _cur2_run(put, base, RUN_A, _partial_cur2())
    put(f"azure/ea-costs/20230901-20230930/{AZ_RUN}/part_0_0001.csv", AZ_AMORTIZED.read_bytes())
    put("focus/focus-1.3-cost-and-usage.csv", FOCUS13.read_bytes())
    put("focus/focus-1.3-contract-commitment.csv", CONTRACTS.read_bytes())
    put("focus-other/export-2026-10.csv", _corrupt_focus(tmp_path))


def _expected(tmp_path: Path, cur2: bytes) -> dict[str, tuple[int, float, float]]:
    """The totals of ingesting the deliveries that should be live, each on its own, summed."""
    parts = {"cur.csv": cur2, "part_0_0001.csv": AZ_AMORTIZED.read_bytes(), "f.csv": FOCUS13.read_bytes()}
    out: dict[str, list[float]] = {}
    for i, (name, data) in enumerate(parts.items()):
        path = tmp_path / f"expect-{i}" / name
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        ingest([path], tmp_path / f"expect-store-{i}")
        for cur, t in totals(tmp_path / f"expect-store-{i}").items():
            acc = out.setdefault(cur, [0, 0.0, 0.0])
            acc[0], acc[1], acc[2] = acc[0] + t[0], acc[1] + t[1], acc[2] + t[2]
    return {cur: (int(t[0]), round(t[1], 6), round(t[2], 6)) for cur, t in out.items()}


def _rounded(root: Path) -> dict[str, tuple[int, float, float]]:
    return {cur: (t[0], round(t[1], 6), round(t[2], 6)) for cur, t in totals(root).items()}


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_sync_takes_the_newest_delivery_skips_what_it_has_and_refuses_a_corrupt_file(
    kind: str, tmp_path: Path, state_dir: Path, s3_server: str
) -> None:
    url, put = _target(kind, tmp_path, s3_server)
    _layout(put, url, tmp_path)
    root = tmp_path / "store"
    src = Source("exports", url)
    (first,) = runner.sync([src], root)
    assert first.status == "refused" and first.ingested == 4 and len(first.refused) == 1
    bad = f"{url}/focus-other/export-2026-10.csv"
    assert f"{bad}: row 3 (file line 3): column BilledCost: '12,5' is not a number" in first.refused[0]
    assert _rounded(root) == _expected(tmp_path / "a", _partial_cur2())  # the corrupt file published nothing
    version = store.current_version(root)

    time.sleep(1.1)  # object stores keep modification times to the second
    _cur2_run(put, url, RUN_B, CUR2.read_bytes())  # the provider restates the month
    (second,) = runner.sync([src], root)
    assert second.ingested == 1 and second.skipped == 4  # run A superseded, the rest unchanged
    assert store.current_version(root) != version
    assert _rounded(root) == _expected(tmp_path / "b", CUR2.read_bytes())  # run B replaced run A
    replaced = [s for s in store.manifest(root)["sources"] if s.get("replaces")]
    assert [s["name"] for s in replaced] == ["finops-cur2-00001.csv"]

    version = store.current_version(root)
    (third,) = runner.sync([src], root)
    assert third.ingested == 0 and store.current_version(root) == version  # a no-op
    runs = history.runs()
    assert runs["status"].to_list() == ["refused", "refused", "refused"]  # the corrupt file is still there
    assert runs["ingested"].to_list() == [0, 1, 4] and runs["finished"].null_count() == 0


def test_cur2_runs_given_together_publish_only_the_newest(tmp_path: Path, state_dir: Path) -> None:
    url, put = _target("local", tmp_path, None)
    _cur2_run(put, url, RUN_A, _partial_cur2())
    _cur2_run(put, url, RUN_B, CUR2.read_bytes())
    os.utime(Path(url) / f"cur/finops-cur2/metadata/BILLING_PERIOD=2026-10/{RUN_A}/finops-cur2-Manifest.json", (1, 1))
    (o,) = runner.sync([Source("cur", url)], tmp_path / "store")
    assert o.status == "ok" and o.ingested == 1 and o.skipped == 1
    ingest([CUR2], tmp_path / "plain")
    assert _rounded(tmp_path / "store") == _rounded(tmp_path / "plain")


def test_a_manifest_listing_a_missing_file_refuses_that_delivery_only(tmp_path: Path, state_dir: Path) -> None:
    url, put = _target("local", tmp_path, None)
    _cur2_run(put, url, RUN_A, CUR2.read_bytes())
    manifest = Path(url) / f"cur/finops-cur2/metadata/BILLING_PERIOD=2026-10/{RUN_A}/finops-cur2-Manifest.json"
    doc = json.loads(manifest.read_text())
    doc["dataFiles"].append(doc["dataFiles"][0].replace("-00001", "-00002"))
    manifest.write_text(json.dumps(doc))
    put("focus/f.csv", FOCUS13.read_bytes())
    (o,) = runner.sync([Source("mixed", url)], tmp_path / "store")
    assert o.status == "refused" and "not found: finops-cur2-00002.csv" in o.refused[0]
    assert o.ingested == 1 and store.current_version(tmp_path / "store") is not None


def _export_hash(root: Path, tmp: Path) -> str:
    out = tmp / f"export-{random.randrange(1 << 30)}.csv"
    assert main(["export", "--store", str(root), "--out", str(out)]) == 0
    return hashlib.sha256(out.read_bytes()).hexdigest()


def test_a_killed_sync_leaves_the_store_unchanged_and_does_not_block_the_next(
    tmp_path: Path, state_dir: Path, s3_server: str
) -> None:
    url, put = _target("s3", tmp_path, s3_server)
    _cur2_run(put, url, RUN_A, _partial_cur2())
    root = tmp_path / "store"
    runner.sync([Source("exports", url)], root)
    time.sleep(1.1)
    _cur2_run(put, url, RUN_B, CUR2.read_bytes())
    put(f"azure/ea-costs/20230901-20230930/{AZ_RUN}/part_0_0001.csv", AZ_AMORTIZED.read_bytes())
    put("focus/focus-1.3-cost-and-usage.csv", FOCUS13.read_bytes())
    before, version = _export_hash(root, tmp_path), store.current_version(root)
    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "finops_core", "sync", url, "--store", str(root)]
    env = os.environ | {"PYTHONPATH": str(repo)}
    started = time.monotonic()  # how long a whole sync takes here, to spread the kills over it
    probe = tmp_path / "probe"
    subprocess.run([*cmd[:-1], str(probe)], cwd=repo, env=env, check=True, capture_output=True)
    whole = time.monotonic() - started
    rng = random.Random(17)
    pristine = tmp_path / "pristine"
    shutil.copytree(root, pristine)
    outcomes = []
    for trial in range(4):
        shutil.rmtree(root)
        shutil.copytree(pristine, root)
        last = int(history.runs()["id"].max() or 0)  # type: ignore[arg-type]
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        begun = time.monotonic()
        while history.runs().filter((pl.col("id") > last) & (pl.col("status") == "running")).is_empty():
            assert proc.poll() is None and time.monotonic() - begun < 120, f"trial {trial}: the sync never started"
            time.sleep(0.05)
        left = max(0.2, whole - (time.monotonic() - begun))  # what is left of a whole sync, spread over
        time.sleep(left * rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL, f"trial {trial}: the sync finished before the kill"
        if store.current_version(root) == version:
            assert _export_hash(root, tmp_path) == before  # killed before its publish: nothing of it shows
            outcomes.append("unchanged")
        else:  # killed after its publish, while recording the run: the whole new version, never a part
            assert _rounded(root) == _rounded(probe)
            outcomes.append("complete")
    assert "unchanged" in outcomes
    shutil.rmtree(root)
    shutil.copytree(pristine, root)
    (o,) = runner.sync([Source(url, url)], root)  # the lock died with its process
    assert o.status == "ok" and o.ingested == 3 and store.current_version(root) != version
    assert not list((root / "versions").glob(".staging-*"))
    assert history.runs()["status"].to_list().count("interrupted") == 4  # the next sync marked the killed runs
    assert _rounded(root) == _rounded(probe)


def test_a_second_sync_is_refused_while_one_holds_the_lock(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "store"
    with runner.sync_lock(root), pytest.raises(runner.SyncError, match=r"another sync is running \(pid \d+ since"):
        runner.sync([Source("x", str(tmp_path))], root)
    assert main(["sync", str(tmp_path), "--store", str(root)]) == 0  # free again


def test_a_missing_filesystem_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # as if gcsfs were not installed
    with pytest.raises(
        remote.RemoteError, match=r"gs://b/p: gs:// needs the Python package gcsfs \(pip install gcsfs\)"
    ):
        remote.filesystem("gs://b/p")


def test_a_source_that_cannot_be_listed_fails_alone(tmp_path: Path, state_dir: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "f.csv").write_bytes(FOCUS13.read_bytes())
    a, b = runner.sync([Source("missing", str(tmp_path / "nope")), Source("good", str(good))], tmp_path / "store")
    assert a.status == "failed" and "no such folder" in a.error and b.status == "ok" and b.ingested == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "sources:\n  - name: a\n    url: s3://b/p\n    schedule: hourly\n",
            r"line 4: field schedule: 'hourly' is not",
        ),
        ("sources:\n  - name: a\n    url: ftp://b/p\n", r"line 3: field url: 'ftp://b/p': scheme ftp://"),
        ("sources:\n  - url: s3://b/p\n", r"line 2: field name: missing"),
        ("sources:\n  - name: a\n    url: s3://b\n  - name: a\n    url: s3://c\n", r"line 4: field name: 'a' already"),
        ("sources:\n  - name: a\n    url: s3://b\n    format: cur\n", r"line 4: field format: 'cur' is not one of"),
        ("sources:\n  - name: a\n    url: s3://b\n    bucket: x\n", r"line 4: field bucket: unknown"),
        ("sources:\n  - name: a\n    url: https://x@b/p\n", r"line 3: field url: 'https://x@b/p': scheme"),
        ("sources:\n  - name: a\n    url: az://c/p?sig=abc\n", r"line 3: field url: holds a credential"),
        ("digests:\n  - send: fax\n    schedule: weekly Mon 07:00\n", r"line 2: field send: 'fax'"),
        ("sources: [\n", r"sources.yaml: line 2: not valid YAML"),
    ],
)
def test_sources_yaml_errors_name_file_line_and_field(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(sources.SourcesError, match=message):
        sources.parse(text, tmp_path / "sources.yaml")


def test_sources_yaml_schedules(tmp_path: Path) -> None:
    from datetime import datetime

    text = (
        "sources:\n  - name: cur\n    url: s3://b/cur\n    format: aws-cur\n    schedule: every 6h\n"
        "  - name: az\n    url: az://c/exports\n    schedule: daily 06:30\n"
        "digests:\n  - scope: team=payments\n    send: webhook\n    format: slack\n    schedule: weekly Mon 07:00\n"
    )
    config = sources.save(text, tmp_path / "sources.yaml")
    assert sources.load(tmp_path / "sources.yaml") == config
    cur, az = config.sources
    now = datetime(2026, 12, 2, 12, 0)  # a Wednesday
    assert cur.schedule.due(None, now) and not cur.schedule.due(datetime(2026, 12, 2, 7, 0), now)
    assert cur.schedule.due(datetime(2026, 12, 2, 5, 59), now)
    assert az.schedule.due(datetime(2026, 12, 1, 7, 0), now) and not az.schedule.due(datetime(2026, 12, 2, 6, 31), now)
    weekly = config.digests[0].schedule
    assert weekly.due(datetime(2026, 11, 30, 6, 0), now) and not weekly.due(datetime(2026, 11, 30, 7, 1), now)


def test_the_worker_syncs_due_sources_and_sends_due_digests_once(tmp_path: Path, state_dir: Path) -> None:
    from datetime import datetime

    from finops_core.sync import worker

    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "f.csv").write_bytes(FOCUS13.read_bytes())
    text = (
        f"sources:\n  - name: focus\n    url: {folder}\n    schedule: every 1h\n"
        "digests:\n  - scope: team=payments\n    send: webhook\n    format: slack\n    schedule: weekly Mon 07:00\n"
    )
    config = sources.parse(text, tmp_path / "sources.yaml")
    root, said, sent = tmp_path / "store", [], []
    monday = datetime(2026, 11, 30, 7, 5)

    def send(argv: list[str]) -> int:
        sent.append(argv)
        return 0

    worker.tick(root, config, monday, said.append, run_cli=send)
    assert store.current_version(root) is not None and said[0].startswith("sync focus: ok, 1 seen, 1 ingested")
    assert sent == [
        [
            "digest",
            "--store",
            str(root),
            "--send",
            "webhook",
            "--format",
            "slack",
            "--user",
            "worker",
            "--scope",
            "team=payments",
        ]
    ]
    worker.tick(root, config, monday.replace(minute=30), said.append, run_cli=send)
    assert len(sent) == 1 and len(history.runs()) == 1  # neither is due again within the hour / week
    assert main(["worker", "--store", str(root), "--sources-file", str(tmp_path / "none.yaml"), "--once"]) == 0
