"""Pass and refusal counts of the conformance suite by family, and every refusal with its reason.

Run from the repository root: ``.venv/bin/python tests/conformance/report.py``.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.conformance import load_cases, run_all


def main() -> None:
    by_family: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    refused: list[tuple[str, str, str]] = []
    for case, outcome in run_all(load_cases()):
        by_family[case.family][outcome.status] += 1
        if outcome.status != "pass":
            refused.append((case.family, case.sql, " ".join(outcome.detail.split())[:160]))
    total: collections.Counter[str] = collections.Counter()
    print("| family | pass | refused | other |")
    print("| --- | ---: | ---: | ---: |")
    for family in sorted(by_family):
        counts = by_family[family]
        total.update(counts)
        other = sum(n for status, n in counts.items() if status not in ("pass", "refused"))
        print(f"| {family} | {counts['pass']} | {counts['refused']} | {other} |")
    other = sum(n for status, n in total.items() if status not in ("pass", "refused"))
    print(f"| total | {total['pass']} | {total['refused']} | {other} |")
    for family, sql, detail in refused:
        print(f"- [{family}] {sql} -> {detail}")


if __name__ == "__main__":
    main()
