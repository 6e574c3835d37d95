"""What redaction costs the template miner, and whether it changes its accuracy.

Redaction is part of masking (``logpipe.redact.mask_secrets`` runs before a line is mined). This
runs the miner over every Loghub 2k sample twice per round, with and without that step (the step
replaced by the identity in the same process), interleaved, ``--rounds`` rounds, best rate kept:

* GA / PA: grouping and parsing accuracy (``benchmarks/patterns.py``'s definitions and data);
* cold lines/s: the 2k lines once (every pattern new: the slow path on nearly every line);
* stream lines/s: the 2k lines replayed 10 times with fresh numbers (the caches at work).

Usage: .venv/bin/python benchmarks/redaction_cost.py [--data ../shared/data/loghub] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import patterns as P

import logpipe.patterns.masking as K
import logpipe.patterns.miner as M
from logpipe.patterns.miner import TemplateMiner

REAL = (M.mask_secrets, K.mask_secrets)


def _set(on: bool) -> None:
    if on:
        M.mask_secrets, K.mask_secrets = REAL
    else:
        M.mask_secrets = K.mask_secrets = lambda text, **_: text  # type: ignore[assignment]


def measure(lines: list[str], truth: list[str], stream: list[str]) -> dict[str, Any]:
    miner = TemplateMiner()
    t0 = time.perf_counter()
    results = miner.add_many(lines)
    cold = time.perf_counter() - t0
    ids = [miner.resolve(r.pattern_id) for r in results]
    final = {p.pattern_id: p.template for p in miner.patterns()}
    warm_miner = TemplateMiner()
    t0 = time.perf_counter()
    warm_miner.add_many(stream)
    warm = time.perf_counter() - t0
    return {"ga": P.grouping_accuracy(truth, ids), "pa": P.parsing_accuracy(truth, [final[i] for i in ids]),
            "cold": len(lines) / cold, "warm": len(stream) / warm}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=P._default_data())
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    names = [p.name for p in sorted(args.data.iterdir()) if p.is_dir()]
    print("| set | GA without | GA with | PA without | PA with | cold lines/s without | with | "
          "stream lines/s without | with |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        lines, truth = P.load(args.data, name)
        stream = P.replay(lines, 10)
        best: dict[bool, dict[str, Any]] = {}
        for _ in range(args.rounds):
            for on in (False, True):
                _set(on)
                got = measure(lines, truth, stream)
                seen = best.setdefault(on, got)
                seen["cold"], seen["warm"] = max(seen["cold"], got["cold"]), max(seen["warm"], got["warm"])
        _set(True)
        o, n = best[False], best[True]
        print(f"| {name} | {o['ga']:.3f} | {n['ga']:.3f} | {o['pa']:.3f} | {n['pa']:.3f} | {o['cold']:,.0f} | "
              f"{n['cold']:,.0f} | {o['warm']:,.0f} | {n['warm']:,.0f} |", flush=True)
    print(f"\nMachine: {platform.platform()}, Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
