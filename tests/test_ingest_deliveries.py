"""Deliveries, not files: an export split into parts keeps every part's rows, whether the parts come
in one command or several and in any order; a restated delivery replaces the stored one as a whole;
the Azure actual + amortized pair is one delivery whichever order or command it arrives in."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest

from finops_core import store
from finops_core.ingest import IngestError, ingest
from tests.test_ingest import AWS_LEGACY, AZ_ACTUAL, AZ_AMORTIZED, CUR2, OCI, _cli, raw_rows, totals


def _split(src: Path, folder: Path, parts: int, stem: str = "cur") -> list[Path]:
    """``src`` as ``parts`` files named the way CUR names a split month (``<report>-00001.csv``)."""
    with src.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(body) // parts)
    out = []
    for i in range(parts):
        path = folder / f"{stem}-{i + 1:05d}.csv"
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerows([header, *body[i * size : (i + 1) * size]])
        out.append(path)
    return out


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, float, float]]:
    root = tmp_path_factory.mktemp("whole")
    ingest([AWS_LEGACY], root)
    return totals(root)


def test_a_cur_month_split_in_three_parts_given_in_one_command_keeps_every_row(
    tmp_path: Path, whole: dict[str, tuple[int, float, float]]
) -> None:
    parts = _split(AWS_LEGACY, tmp_path / "export", 3)
    report = ingest(list(reversed(parts)), tmp_path / "store")
    assert totals(tmp_path / "store") == whole
    assert whole["USD"][0] == 1281
    assert sum(r.rows for r in report.inputs) == 1281
    (delivery,) = store.manifest(tmp_path / "store")["deliveries"].values()
    assert sorted(p["name"] for p in delivery["parts"]) == [p.name for p in parts]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
def test_a_cur_month_split_in_three_parts_given_in_three_commands_keeps_every_row(
    tmp_path: Path, whole: dict[str, tuple[int, float, float]], order: tuple[int, int, int]
) -> None:
    parts = _split(AWS_LEGACY, tmp_path / "export", 3)
    for i in order:
        ingest([parts[i]], tmp_path / "store")
    assert totals(tmp_path / "store") == whole
    again = ingest([parts[order[0]]], tmp_path / "store")  # a stored part is recognised, not re-added
    assert not again.published and totals(tmp_path / "store") == whole


def test_a_restated_delivery_of_two_parts_replaces_a_stored_delivery_of_three(
    tmp_path: Path, whole: dict[str, tuple[int, float, float]]
) -> None:
    root = tmp_path / "store"
    ingest(_split(AWS_LEGACY, tmp_path / "first", 3), root)
    restated = _split(AWS_LEGACY, tmp_path / "restated", 2)
    with restated[1].open(newline="") as fh:
        rows = list(csv.reader(fh))
    cost = rows[0].index("lineItem/UnblendedCost")
    dropped = float(rows[-1][cost] or 0)
    with restated[1].open("w", newline="") as fh:
        csv.writer(fh).writerows(rows[:-1])  # the restatement lost one line item
    code, out = _cli("ingest", *map(str, restated), "--store", str(root))
    assert code == 0
    n, billed, effective = totals(root)["USD"]
    assert effective == pytest.approx(billed)  # no commitments in this sample
    assert n == whole["USD"][0] - 1
    assert billed == pytest.approx(whole["USD"][1] - dropped, abs=1e-9)
    (delivery,) = store.manifest(root)["deliveries"].values()
    assert sorted(p["name"] for p in delivery["parts"]) == ["cur-00001.csv", "cur-00002.csv"]
    assert "replaced" in out and "3 parts" in out and "2 parts" in out and "-1 rows" in out


def test_a_part_of_a_restated_delivery_given_alone_replaces_the_stored_part_of_that_number(tmp_path: Path) -> None:
    """A part whose number is already stored is a restatement: the delivery is replaced, not doubled."""
    root = tmp_path / "store"
    parts = _split(AWS_LEGACY, tmp_path / "first", 3)
    ingest(parts, root)
    again = _split(AWS_LEGACY, tmp_path / "second", 3)
    rows = raw_rows(again[0])
    with again[0].open("w", newline="") as fh:  # restated: one line item fewer
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows[:-1])
    ingest([again[0]], root)
    assert totals(root)["USD"][0] == len(rows) - 1


def _pair_totals(tmp_path: Path) -> dict[str, tuple[int, float, float]]:
    ingest([AZ_ACTUAL, AZ_AMORTIZED], tmp_path / "pair")
    return totals(tmp_path / "pair")


@pytest.mark.parametrize("order", list(itertools.permutations([AZ_ACTUAL, AZ_AMORTIZED])))
def test_azure_actual_and_amortized_in_separate_commands_equal_the_pair_in_one(
    tmp_path: Path, order: tuple[Path, Path]
) -> None:
    want = _pair_totals(tmp_path)
    root = tmp_path / "store"
    for path in order:
        ingest([path], root)
    assert totals(root) == want
    assert want["USD"][1] == pytest.approx(19.05, abs=0.01)  # the 3.25 reservation purchase is kept


def test_output_says_what_was_added_with_row_and_cost_deltas(tmp_path: Path) -> None:
    root = tmp_path / "store"
    parts = _split(AWS_LEGACY, tmp_path / "export", 2)
    _cli("ingest", str(parts[0]), "--store", str(root))
    code, out = _cli("ingest", str(parts[1]), "--store", str(root))
    added = len(raw_rows(parts[1]))
    assert code == 0 and "added" in out and f"+{added} rows" in out and "2 parts" in out


def _as_legacy(root: Path) -> None:
    """Rewrite the current version as a release before deliveries wrote it: files named
    ``<source>--<account>--NNN.parquet``, no ``deliveries`` in the manifest."""
    vdir = store.version_dir(root)
    doc = json.loads((vdir / "manifest.json").read_text())
    renames: dict[str, str] = {}
    for period, info in doc["partitions"].items():
        for name in info["files"]:
            source, account, *_ = name.split("--")
            renames[f"{period}/{name}"] = f"{period}/{source}--{account}--000.parquet"
            (vdir / f"billing_period={period}" / name).rename(
                vdir / f"billing_period={period}" / renames[f"{period}/{name}"].split("/")[1]
            )
        info["files"] = [renames[f"{period}/{n}"].split("/")[1] for n in info["files"]]
    for s in doc["sources"]:
        s["files"] = [renames[f] for f in s["files"]]
    del doc["deliveries"]
    (vdir / "manifest.json").write_text(json.dumps(doc))


def test_a_store_written_before_deliveries_is_read_and_restated(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ingest([CUR2, OCI], root)
    _as_legacy(root)
    oci = totals(root)["USD"][0] - 12
    assert ingest([CUR2], root).published is False  # still recognised as stored
    parts = _split(CUR2, tmp_path / "restated", 2, stem="cur2")
    code, out = _cli("ingest", *map(str, parts), "--store", str(root))
    assert code == 0 and "replaced the stored delivery (1 part, 12 rows) with 2 parts (12 rows)" in out
    assert totals(root)["USD"][0] == oci + 12
    kept = store.manifest(root)["deliveries"]
    store.rebuild(root)
    assert store.manifest(root)["deliveries"] == kept


def test_a_stored_part_given_again_beside_restated_parts_stays_in_the_new_delivery(tmp_path: Path) -> None:
    root = tmp_path / "store"
    parts = _split(AWS_LEGACY, tmp_path / "first", 3)
    ingest(parts, root)
    restated = _split(AWS_LEGACY, tmp_path / "restated", 3)
    rows = raw_rows(restated[1])
    with restated[1].open("w", newline="") as fh:  # part 2 restated, part 1 unchanged, part 3 gone
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows[:-1])
    report = ingest(restated[:2], root)
    assert [r.skipped for r in report.inputs] == [True, False]
    assert totals(root)["USD"][0] == len(raw_rows(parts[0])) + len(rows) - 1
    (delivery,) = store.manifest(root)["deliveries"].values()
    assert sorted(p["name"] for p in delivery["parts"]) == ["cur-00001.csv", "cur-00002.csv"]


def test_part_names_follow_the_providers_conventions() -> None:
    from finops_core.ingest.deliveries import part_id

    assert part_id(Path("x/report-00002.csv.gz")) == ("report-*", "00002")  # CUR 2.0 / Data Exports
    assert part_id(Path("x/my-report-3.csv.gz")) == ("my-report-*", "3")  # legacy CUR
    assert part_id(Path("run-1/part_0_0001.csv")) == ("run-1/part_*", "0_0001")  # Azure partitioned export
    assert part_id(Path("cost-2023-11.csv")) == ("cost-2023-11", None)  # a date is not a part number
    assert part_id(Path("EA_AmortizedCost.csv"), series_words=True) == part_id(
        Path("EA_ActualCost.csv"), series_words=True
    )


def test_azure_partitioned_exports_in_folders_are_one_delivery(tmp_path: Path) -> None:
    """Azure writes a partitioned export as part_N_0001.csv files in a run folder per export."""
    want = _pair_totals(tmp_path)
    parts = []
    for src, folder in ((AZ_ACTUAL, "actual-run1"), (AZ_AMORTIZED, "amortized-run1")):
        for i, path in enumerate(_split(src, tmp_path / folder, 2)):
            parts.append(path.rename(path.with_name(f"part_{i}_0001.csv")))
    ingest(parts[:3], tmp_path / "store")  # the amortized export's second part comes later, alone
    ingest(parts[3:], tmp_path / "store")
    assert totals(tmp_path / "store") == want
    (delivery,) = store.manifest(tmp_path / "store")["deliveries"].values()
    assert sorted(p["series"] for p in delivery["parts"]) == ["actual", "actual", "amortized", "amortized"]


def test_a_cur_manifest_stands_for_the_parts_it_lists(
    tmp_path: Path, whole: dict[str, tuple[int, float, float]]
) -> None:
    assembly = "3f1c-assembly"
    parts = _split(AWS_LEGACY, tmp_path / "report" / "20231101-20231201" / assembly, 3, stem="report")
    manifest = tmp_path / "report" / "20231101-20231201" / "report-Manifest.json"
    keys = [f"prefix/report/20231101-20231201/{assembly}/{p.name}" for p in parts]
    manifest.write_text(json.dumps({"assemblyId": assembly, "reportKeys": keys}))
    ingest([manifest], tmp_path / "store")
    assert totals(tmp_path / "store") == whole
    parts[2].unlink()
    with pytest.raises(
        IngestError,
        match=r"report-Manifest.json: the CUR manifest lists 3 part\(s\); not found beside it: report-00003.csv",
    ):
        ingest([manifest], tmp_path / "other")


def test_many_deliveries_are_summed_up_in_one_line() -> None:
    from finops_core.ingest.deliveries import Change, describe_changes

    usd = {"BilledCost": 2.0, "EffectiveCost": 1.0}
    changes = [Change("focus", f"2026-{m:02d}", "A", "new", 0, 1, 0, 10, {}, {"USD": usd}) for m in range(1, 10)]
    changes.append(Change("focus", "2026-10", "A", "replaced", 2, 1, 10, 7, {"USD": usd}, {"USD": usd}))
    (line,) = describe_changes(changes)
    assert line.startswith("10 deliveries, 2026-01 to 2026-10 (9 new, 1 replaced; the manifest lists each): +87 rows")
    assert "USD BilledCost +18.000000 EffectiveCost +9.000000" in line
    assert len(describe_changes(changes[:3])) == 3
