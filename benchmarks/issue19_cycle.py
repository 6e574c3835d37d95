"""Issue 19, the ``logpipe run`` cycle alone: where its time goes, for one or two code trees, interleaved.

Why a script of its own: ``benchmarks/issue19.py`` measures the cycle after a whole benchmark (store,
cold run, compaction, windows: half an hour). This one takes a store that benchmark already built
(``--data``: its ``store/``, ``cache/`` and the warm ``work/state.db``) and runs only its section 3 -
the 1-day cycle from a copy of the warm state, through the same harness - round by round for each code
tree given (e.g. a checkout of main and a worktree), so that a change's effect is read on the same
machine in the same minutes. Besides the harness's wall split (inside / outside DuckDB) it reports the
main thread's CPU seconds outside DuckDB, which moves much less than wall time on a shared machine.

Usage:  .venv/bin/python benchmarks/issue19_cycle.py --data /work/data/i19 [--tree DIR ...] [--form compacted,raw,default] [--days 1]
        [--rounds 3] [--now 2026-02-04T00:30:00Z]
(a tree is put first on PYTHONPATH; this interpreter runs it: give trees whose dependencies match. Each
tree's ``logpipe`` is byte-compiled first, as ``issue19.py`` does: on a machine with PYTHONDONTWRITEBYTECODE
a tree never compiled would compile every module it imports from source in every cycle, ~0.15 s of the
cycle's time outside DuckDB that an installed logpipe never pays.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import issue19  # noqa: E402  (the benchmark's own config, harness and timing)

# The harness, also counting the main thread's CPU seconds inside DuckDB's calls and in all.
HARNESS = (issue19.HARNESS
           .replace('spent = {"engine": 0.0}', 'spent = {"engine": 0.0, "engine_cpu": 0.0}')
           .replace("        began = time.perf_counter()\n        try:",
                    "        began = time.perf_counter()\n        cpu = time.thread_time()\n        try:")
           .replace('                spent["engine"] += time.perf_counter() - began',
                    '                spent["engine"] += time.perf_counter() - began\n'
                    '                if threading.current_thread() is threading.main_thread():\n'
                    '                    spent["engine_cpu"] += time.thread_time() - cpu')
           .replace("began = time.perf_counter()\nfrom logpipe.cli import main",
                    "began = time.perf_counter()\ncpu0 = time.thread_time()\nfrom logpipe.cli import main")
           .replace('print("HARNESS " + json.dumps({"wall": wall, "engine": spent["engine"],',
                    'print("HARNESS " + json.dumps({"wall": wall, "engine": spent["engine"], '
                    '"main_cpu": time.thread_time() - cpu0, "engine_cpu": spent["engine_cpu"],'))


def run_cycle(tree: Path, form: str, folder: Path, harness: Path, now: str, days: int) -> dict[str, Any]:
    end = dt.datetime.fromisoformat(now.replace("Z", "+00:00")) - dt.timedelta(minutes=30)
    config, form_env = issue19.prepare_cycle(folder, form, days, end)
    env = {"PYTHONPATH": str(tree), **(form_env or {})}
    run = issue19.timed([sys.executable, str(harness), "--config", str(config), "run", "--now", now,
                         "--format", "json"], env, cwd=tree)
    h = issue19.harness_figures(run["stderr"])
    report = json.loads(run["stdout"])
    return {"wall": run["wall"], "cpu": run["cpu"], "rss_mb": run["rss_mb"], "h_wall": h["wall"],
            "engine": h["engine"], "outside": h["wall"] - h["engine"],
            "outside_pct": 100 * (1 - h["engine"] / h["wall"]),
            "main_cpu_outside": h["main_cpu"] - h["engine_cpu"],
            "windows": sum(len(j["windows"]) for j in report), "failed": [j["job"] for j in report if j["failed"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a store issue19.py built (its --data)")
    parser.add_argument("--tree", action="append", default=[], help="a code tree to run (default: this one)")
    parser.add_argument("--form", default="compacted,raw,default",
                        help="cycle forms (issue19.CYCLE_FORMS; parquet: the same as compacted)")
    parser.add_argument("--days", type=int, default=1, help="the cycle's days (first_run_backfill)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--now", default="2026-02-04T00:30:00Z", help="the cycle's now (the data's end + 30 min)")
    args = parser.parse_args()
    issue19.DATA = Path(args.data)
    trees = [Path(t).resolve() for t in args.tree] or [ROOT]
    work = issue19.DATA / "cycle-compare"
    work.mkdir(exist_ok=True)
    harness = work / "harness.py"
    harness.write_text(HARNESS, encoding="utf-8")
    for tree in trees:  # as an installed wheel is (issue19.compile_sources, for each tree)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "logpipe")], check=True)
    forms = ["compacted" if f == "parquet" else f for f in args.form.split(",")]
    for form in forms:
        if form not in issue19.CYCLE_FORMS:
            parser.error(f"--form {form}: one of {', '.join(issue19.CYCLE_FORMS)}")
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _round in range(args.rounds):
        for form in forms:
            for index, tree in enumerate(trees):
                run = run_cycle(tree, form, work / f"{form}-{index}", harness, args.now, args.days)
                runs.setdefault((str(tree), form), []).append(run)
                print(json.dumps({"tree": str(tree), "form": form, **{k: (round(v, 2) if isinstance(v, float) else v)
                                                                       for k, v in run.items()}}), flush=True)
    print("| tree | form | wall s | CPU s | inside DuckDB s | outside s (share) | main-thread CPU outside s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for (tree, form), rs in runs.items():
        def med(key: str, rs: list[dict[str, Any]] = rs) -> float:
            return statistics.median(r[key] for r in rs)
        print(f"| {tree} | {form} | {med('h_wall'):.2f} | {med('cpu'):.2f} | {med('engine'):.2f} | "
              f"{med('outside'):.2f} ({med('outside_pct'):.0f} %) | {med('main_cpu_outside'):.2f} |")


if __name__ == "__main__":
    main()
