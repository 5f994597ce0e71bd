"""Reliability figures in one table: ingest fuzzing and writers killed with SIGKILL.

- Fuzzing: ``--fuzz`` mutants of the committed samples (truncation, byte flips, shifted
  delimiters, huge fields, duplicated headers, mixed currencies, empty files, BOMs, CR LF, UTF-16,
  Latin-1, gzip and a gzip that lies, Parquet with another schema), each staged as ingest does:
  refused (with a message naming the file; how many also name the row), staged with the clean
  file's totals, staged with other totals (only value-altering mutations), or a crash (a
  traceback: always a failure). Count per mutation and outcome.
- Crash safety: ``--kills`` ingests and ``--rebuilds`` rebuilds killed at a random moment of their
  usual run time: the store's rows hash to the state before or after, and the next writer
  publishes (no stale lock, no debris in its way).
Baseline, same run: the clean samples staged once each (time per file), and an unkilled ingest and
rebuild (their run time, over which the kill delays are drawn).

    .venv/bin/python bench/reliability.py [--fuzz 1000] [--kills 50] [--rebuilds 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability import crash, fuzz


def _fuzz(count: int, seed: int, work: Path) -> bool:
    started = time.perf_counter()
    out = fuzz.run(count, seed, work)
    took = time.perf_counter() - started
    by = Counter((o.mutation, o.kind) for o in out)
    kinds = ("refused", "equal", "changed", "crash")
    print(
        f"\nIngest fuzzing: {count} mutants of {len(fuzz.CLEAN)} samples, {took:.0f} s ({took / count * 1000:.0f} ms each)"
    )
    print(f"{'mutation':16s}" + "".join(f"{k:>9s}" for k in kinds))
    for m in fuzz.MUTATIONS:
        print(f"{m:16s}" + "".join(f"{by[(m, k)]:9d}" for k in kinds))
    total = Counter(o.kind for o in out)
    print(f"{'all':16s}" + "".join(f"{total[k]:9d}" for k in kinds))
    refused = [o for o in out if o.kind == "refused"]
    located = sum("row " in o.detail for o in refused)
    print(f"refusals naming the file: {len(refused)}/{len(refused)}; also naming a row: {located}")
    for o in out:
        if o.kind == "crash":
            print(f"CRASH {o.sample} / {o.mutation}: {o.detail}")
    return total["crash"] == 0


def _kills(ingests: int, rebuilds: int, seed: int, work: Path) -> bool:
    base, expect, took = crash.prepare(work / "prep")
    print(
        f"\nCrash safety: unkilled ingest {took['ingest']:.1f} s, rebuild {took['rebuild']:.1f} s (kill delays drawn over these)"
    )
    import random

    rng = random.Random(seed)
    trials = [crash.trial(c, base, expect, took[c], rng, work) for c in ["ingest"] * ingests + ["rebuild"] * rebuilds]
    print(f"{'command':10s}{'trials':>8s}{'before':>8s}{'after':>8s}{'other':>8s}{'next ok':>9s}{'delay p50':>11s}")
    ok = True
    for command in ("ingest", "rebuild"):
        ts = [t for t in trials if t.command == command]
        if not ts:
            continue
        c = Counter(t.state for t in ts)
        nxt = sum(t.recovered for t in ts)
        ok &= c["other"] == 0 and nxt == len(ts)
        delay = statistics.median(t.delay for t in ts)
        print(f"{command:10s}{len(ts):8d}{c['before']:8d}{c['after']:8d}{c['other']:8d}{nxt:9d}{delay:10.2f}s")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fuzz", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--rebuilds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="finops-reliability-") as tmp:
        work = Path(tmp)
        ok = _fuzz(args.fuzz, args.seed, work / "fuzz") if args.fuzz else True
        ok &= _kills(args.kills, args.rebuilds, args.seed, work / "kills") if args.kills + args.rebuilds else True
    print("\nall held" if ok else "\nFAILURES above")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
