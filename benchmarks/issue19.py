"""Issue 19: parse once, no overhead over DuckDB, columnar hours - measured whole process against
whole process on one simulated fleet, over windows of 1, 7 and 30 days.

Why: ``logpipe query run`` must cost no more than DuckDB running the same translated SQL on the same
files (what a user would pick instead), a full scan of gzip JSON cannot beat ``zcat``, and the
compacted hours (``logpipe compact``) are how a query gets below that floor: fewer bytes, on DuckDB
and on Athena.

What it does, in one run:

1. Generates a seeded simulated store of ``--days`` days at ``--rate`` under ``benchmarks/.data/issue19``
   (reused when the marker file says it is the same one).
2. Counts the bad records once (the first ``query run`` over all days: the cold row), then compacts
   every closed hour and merges every closed day (``logpipe compact``), timing both.
3. For each window (1, 7, 30 days, ending at the data's end), round by round (interleaved), the
   median of ``--repeat`` rounds of these whole processes, wall time and peak RSS:
   - ``logpipe query run errors_by_service`` over raw hours (``LOGPIPE_COMPACT_READ=false``);
   - DuckDB (a Python process importing only duckdb) running the very SQL logpipe runs - the macros,
     the ``logs`` view and the translated statement with its bound values - on the same raw files;
   - ``zcat FILES | grep -c '"level":"ERROR"'`` on the same raw files;
   - ``logpipe query run errors_by_service`` over the compacted hours and days (a day the window covers
     whole is read from its day file), and DuckDB on the same Parquet files with the same SQL (the
     files come from logpipe's own plan: ``duckdb_spec``);
   - the bytes each form reads, and what Athena would scan (``query explain``).
4. A ``logpipe run`` cycle (first run: ``first_run_backfill`` = the window) over ``--cycle-days``, in
   three forms (``CYCLE_FORMS``: raw hours; hours compacted before, the queries alone; the shipped
   configuration, which compacts the cycle's hours first), whole process, through a harness (``HARNESS``) that times every
   call into the duckdb package - its C extension and, since DuckDB 2.0, its Python relation layer -
   (the share of the cycle inside the engine) and counts how often each raw object is handed to a
   DuckDB scan.
Before it starts it byte-compiles logpipe's sources (``compile_sources``): an installed wheel is
compiled by pip, an editable install under ``PYTHONDONTWRITEBYTECODE`` would compile from source in
every process.

5. Writes ``benchmarks/results/issue19-run.md`` (after every stage: a run cut short keeps what it
   measured) with the machine, its load, the command and the numbers; every round's figures go to
   ``issue19-rounds.json`` beside the data. The dated history with its readings is ``issue19.md``,
   written by hand from such runs: the script never writes over it (it did, up to 2026-12-04).

A smaller run for a quick look: ``--days 2 --rate 0.05 --repeat 1 --windows 1 --cycle-days 1 --data /tmp/x``
(about two minutes).

Usage:  .venv/bin/python benchmarks/issue19.py [--days 30] [--rate 0.2] [--repeat 3] [--windows 1,7,30]
        [--cycle-days 1,7] [--cycle-repeat 1] [--data DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "benchmarks" / ".data" / "issue19"
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
PY = sys.executable
QUERY = "errors_by_service"


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(days: int, rate: float, seed: int) -> dict[str, Any]:
    from logpipe.config import StoreConfig
    from logpipe.simulate import simulate
    from logpipe.store import Store

    DATA.mkdir(parents=True, exist_ok=True)
    (DATA.parent / ".gitignore").write_text("*\n", encoding="utf-8")
    folder, marker = DATA / "store", DATA / "store.json"
    wanted = {"days": days, "rate": rate, "seed": seed, "start": START.isoformat()}
    if marker.exists() and folder.exists():
        saved = json.loads(marker.read_text(encoding="utf-8"))
        if saved.get("params") == wanted:
            print(f"reusing {folder} ({saved['records']:,} records)", file=sys.stderr)
            return saved
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    store = Store(StoreConfig(root=str(folder), prefix="logs", cache_dir=str(DATA / "cache")))
    print(f"generating {days} days at rate {rate} into {folder} ...", file=sys.stderr)
    summary = simulate(store, START, START + dt.timedelta(days=days), seed=seed, rate=rate,
                       progress=lambda done, total: print(f"  hour {done}/{total}", file=sys.stderr)
                       if done % 48 == 0 else None)
    saved = {"params": wanted, "records": summary.records, "bad_records": summary.bad_records,
             "objects": summary.objects, "bytes_written": summary.bytes_written, "raw_bytes": summary.raw_bytes,
             "seconds": round(summary.seconds, 1)}
    marker.write_text(json.dumps(saved), encoding="utf-8")
    return saved


def write_config(folder: Path, backfill: str = "24h", compact_enabled: bool = True, store: Path | None = None,
                 cache: Path | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "logpipe.toml"
    path.write_text(f"""
[store]
root = "{store or DATA / 'store'}"
prefix = "logs"
cache_dir = "{cache or DATA / 'cache'}"
[state]
url = "sqlite:///{folder / 'state.db'}"
[engine]
max_window = "400d"
[metrics]
sinks = ["local"]
[service]
first_run_backfill = "{backfill}"
max_catchup_windows = 800
[compact]
enabled = {str(compact_enabled).lower()}
max_hours_per_run = 2000
""", encoding="utf-8")
    return path


# The forms of a ``logpipe run`` cycle, each from a copy of the warm state (verdicts of every raw object known):
# - raw: compaction off, the view reads the raw hours (``LOGPIPE_COMPACT_READ=false``);
# - compacted: compaction off, every hour of the cycle compacted before (by ``logpipe compact``): the
#   queries alone over Parquet hours;
# - default: the shipped configuration (compaction on) over a store whose cycle days are not compacted
#   yet - a first run, or a run after a stop: the compact job rewrites the closed hours first, then the
#   queries read them. Its store is a copy (hard links) of the benchmark's with the cycle's days of
#   Parquet files removed and both watermarks moved back to the cycle's start.
CYCLE_FORMS = {"raw": "raw", "compacted": "parquet", "default": "default"}


def prepare_cycle(folder: Path, form: str, days: int, end: dt.datetime) -> tuple[Path, dict[str, str] | None]:
    """A cycle's folder (its config, its copy of the warm state, for ``default`` its own store and cache);
    returns the config's path and the environment the cycle runs with."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    warm = DATA / "work" / "state.db"
    if form != "default":
        path = write_config(folder, backfill=f"{days * 24}h", compact_enabled=False)
        shutil.copy(warm, folder / "state.db")
        return path, ({"LOGPIPE_COMPACT_READ": "false"} if form == "raw" else None)
    store, cache = folder / "store", folder / "cache"
    shutil.copytree(DATA / "store", store, copy_function=os.link)  # the compactor writes new files, never in place
    shutil.copytree(DATA / "cache", cache)
    from logpipe.layout import Layout

    start = end - dt.timedelta(days=days)
    layout = Layout("logs")
    for tree, mark_key in ((layout.compacted_prefix, layout.watermark_key()),
                           (layout.daily_prefix, layout.daily_watermark_key())):
        for day in range(days):
            shutil.rmtree(store / tree / f"dt={(start + dt.timedelta(days=day)):%Y-%m-%d}", ignore_errors=True)
        mark = store / mark_key
        body = json.loads(mark.read_text(encoding="utf-8"))
        mark.unlink()  # a link to the benchmark's own: written anew
        body["watermark"] = iso(start)
        mark.write_text(json.dumps(body), encoding="utf-8")
    shutil.copy(warm, folder / "state.db")
    # the warm verdicts name the objects by URL: the same objects, under this store's root
    with sqlite3.connect(folder / "state.db") as con:
        con.execute("UPDATE object_verdicts SET url = replace(url, ?, ?)", (f"{DATA / 'store'}/", f"{store}/"))
    return write_config(folder, backfill=f"{days * 24}h", compact_enabled=True, store=store, cache=cache), None


def timed(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """Wall seconds, CPU seconds (user + sys, children included) and peak RSS (GNU time) of one whole
    process; its stdout and stderr."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        began = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", out.name, *argv], capture_output=True,
                              text=True, env={**os.environ, **(env or {})}, cwd=cwd)
        wall = time.perf_counter() - began
        last = (Path(out.name).read_text().strip().splitlines() or ["0 0 0"])[-1].split()
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed: {proc.stderr[-2000:]}")
    rss_kb, user, system = int(last[0]), float(last[1]), float(last[2])
    return {"wall": wall, "cpu": user + system, "rss_mb": rss_kb / 1024, "stdout": proc.stdout, "stderr": proc.stderr}


# -- a whole logpipe process that also says where its time went ------------------------------------------

HARNESS = """
import json, os, sys, threading, time
import duckdb
from duckdb import _seam

spent = {"engine": 0.0}
local = threading.local()
lock = threading.Lock()


def timed(fn):
    def wrapper(*args, **kwargs):
        if getattr(local, "depth", 0):
            return fn(*args, **kwargs)
        local.depth = 1
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            local.depth = 0
            with lock:
                spent["engine"] += time.perf_counter() - began
    return wrapper


# every call into DuckDB's C extension from Python (statements, results, connections; an Arrow table
# registered as a view and dropped again: the run cycle's object cache hands each query its objects that
# way, ~1 ms of DuckDB's catalog work a query that was counted outside the engine)
C = duckdb.DuckDBPyConnection
for name in ("execute", "executemany", "fetchall", "fetchone", "fetchmany", "fetch_arrow_table", "df", "fetchdf",
             "from_arrow", "close", "arrow", "register", "unregister"):
    if hasattr(C, name):
        setattr(C, name, timed(getattr(C, name)))
for name in ("submit", "bind", "result_arrow"):
    setattr(_seam, name, timed(getattr(_seam, name)))
duckdb.connect = timed(duckdb.connect)
# DuckDB 2.0's own Python layer is the engine too: its relation API (con.sql(...).to_arrow_table(), .df(),
# .fetchall() on a relation) builds and reads statements in Python before and after the C calls above
# (the guard keeps a call made inside another from counting twice)
try:
    import types
    from duckdb import _relation
except ImportError:  # an older duckdb: the C extension is the whole engine
    _relation = None
if _relation is not None:
    for name in getattr(_relation, "CONNECTION_METHODS", {}):
        setattr(C, name, timed(getattr(C, name)))
    R = _relation.DuckDBPyRelation
    for name, value in list(vars(R).items()):
        if isinstance(value, types.FunctionType) and not name.startswith("_"):
            setattr(R, name, timed(value))

# how many times each raw object is handed to a DuckDB scan (queries, bad-record counts, compaction)
import logpipe.engines.raw_sql as raw_sql
import logpipe.engines.bad_records as bad_records
reads = {}


def count(files):
    for f in files:
        reads[f] = reads.get(f, 0) + 1


real_read_json = raw_sql.read_json_sql


def read_json_sql(files, filename=False):
    count(files)
    return real_read_json(files, filename)


for module in ("logpipe.engines.raw_sql", "logpipe.engines.duckdb", "logpipe.engines.bad_records",
               "logpipe.engines.compact", "logpipe.engines.object_cache"):
    __import__(module)
    if hasattr(sys.modules[module], "read_json_sql"):
        setattr(sys.modules[module], "read_json_sql", read_json_sql)
real_scan = bad_records.BadRecordCounter._scan_all


def scan_all(self, files, threads=0, lateness_s=600):
    count(files)
    return real_scan(self, files, threads, lateness_s)


bad_records.BadRecordCounter._scan_all = scan_all

began = time.perf_counter()
from logpipe.cli import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code or 0
wall = time.perf_counter() - began
raw = {f: n for f, n in reads.items() if f.endswith(".gz")}
print("HARNESS " + json.dumps({"wall": wall, "engine": spent["engine"], "code": code, "objects_read": len(raw),
                               "max_reads": max(raw.values(), default=0),
                               "mean_reads": sum(raw.values()) / max(len(raw), 1)}), file=sys.stderr)
"""


def harness_figures(stderr: str) -> dict[str, Any]:
    for line in reversed(stderr.splitlines()):
        if line.startswith("HARNESS "):
            return dict(json.loads(line.removeprefix("HARNESS ")))
    return {}


# -- the DuckDB contender: the SQL logpipe runs, in a process that imports only duckdb ------------------

DUCKDB_SCRIPT = """
import json, sys, duckdb
spec = json.load(open(sys.argv[1]))
con = duckdb.connect(":memory:")
con.execute("SET TimeZone='UTC'")
for sql in spec["setup"]:
    con.execute(sql)
rows = con.execute(spec["sql"], spec["params"] or None).fetchall()
print(len(rows))
"""


def duckdb_spec(config_path: Path, start: dt.datetime, end: dt.datetime, compacted: bool) -> dict[str, Any]:
    """The macros, views and statement logpipe's DuckDB engine runs for the window, with its files."""
    from logpipe.config import load_config
    from logpipe.engines.duckdb import DuckDBEngine, compile_duckdb
    from logpipe.engines.registry import open_engine
    from logpipe.queries.loader import get_query
    from logpipe.queries.runner import bind_statement, lateness_of

    os.environ["LOGPIPE_COMPACT_READ"] = "true" if compacted else "false"
    try:
        config = load_config(str(config_path))
    finally:
        os.environ.pop("LOGPIPE_COMPACT_READ", None)
    statement = bind_statement(get_query(config, QUERY), start, end, {}, lateness_of(config))
    sql, values = compile_duckdb(statement)
    # with the verdicts (warm: remembered in the state database), as logpipe runs it: the files known
    # clean are read without the filter for unreadable rows
    engine = open_engine(config, "duckdb")
    assert isinstance(engine, DuckDBEngine)
    engine.compacted = compacted
    plan, _ = engine.plan(statement)
    recorder: list[str] = []

    class Recorder:
        def execute(self, text: str, *args: Any) -> None:
            recorder.append(text)

        def close(self) -> None:
            pass

    import logpipe.engines.duckdb as duck

    real = duck.open_connection
    duck.open_connection = lambda *a, **k: Recorder()  # type: ignore[assignment]
    try:
        engine.connect(plan.files, [p for p, _ in plan.parquet], plan.clean_files, sql)
    finally:
        duck.open_connection = real  # type: ignore[assignment]
    params = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in values.items()}
    # timestamps bind as TIMESTAMPTZ values: keep them typed by casting in the statement's parameters
    setup = list(recorder)  # the macros logpipe creates (only those the SQL calls), the views
    for name, value in values.items():
        if isinstance(value, dt.datetime):
            sql = sql.replace(f"${name}", f"CAST(${name} AS TIMESTAMPTZ)")
    raw_files = plan.files
    return {"setup": setup, "sql": sql, "params": params, "files": raw_files,
            "parquet": [p for p, _ in plan.parquet], "bytes": sum(e.obj.size for e in plan.entries if e.file)
            + sum(s for _, s in plan.parquet)}


def zcat_grep(files: list[str]) -> list[str]:
    """``zcat FILES | grep -c``, the files passed through xargs (a month of objects is too long for one
    command line)."""
    listing = DATA / f"files-{len(files)}.txt"
    listing.write_text("\0".join(files), encoding="utf-8")
    return ["bash", "-c", f"xargs -0 zcat < {shlex.quote(str(listing))} | grep -c '\"level\":\"ERROR\"'"]


def machine() -> dict[str, str]:
    import duckdb

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError):
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "ram": mem, "python": platform.python_version(),
            "duckdb": duckdb.__version__, "os": platform.platform()}


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def compile_sources() -> None:
    """Byte-compile logpipe's sources, as installing a wheel does (pip compiles every module).

    Why: an editable install on a machine with PYTHONDONTWRITEBYTECODE set (this one) compiles every
    imported module from source in every process, ~0.05 s a process that no installed logpipe pays.
    Python still reads the compiled files when it may not write them."""
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "logpipe")], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--windows", default="1,7,30", help="window lengths in days")
    parser.add_argument("--cycle-days", default="1,7", help="logpipe run cycles (first run over N days)")
    parser.add_argument("--cycle-repeat", type=int, default=1, help="rounds of each run cycle")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "issue19-run.md"))
    parser.add_argument("--data", default=None, help="where the simulated store and work files go "
                        "(default benchmarks/.data/issue19)")
    args = parser.parse_args()
    global DATA
    DATA = Path(args.data) if args.data else DATA
    loads = [("start", load())]
    compile_sources()
    data = generate(args.days, args.rate, args.seed)
    end = START + dt.timedelta(days=args.days)
    work = DATA / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(DATA / "store" / "logs-parquet", ignore_errors=True)
    shutil.rmtree(DATA / "store" / "logs-parquet-daily", ignore_errors=True)
    shutil.rmtree(DATA / "cache", ignore_errors=True)
    config_path = write_config(work)
    logpipe = [PY, "-m", "logpipe", "--config", str(config_path)]
    raw_env = {"LOGPIPE_COMPACT_READ": "false"}

    # 1. the cold run (bad records counted, verdicts remembered) and the compaction
    cold = timed([*logpipe, "query", "run", QUERY, "--since", iso(START), "--until", iso(end), "--force",
                  "--format", "csv"], raw_env)
    compact = timed([*logpipe, "compact", "--until", iso(end + dt.timedelta(hours=2)), "--format", "json"])
    hours = json.loads(compact["stdout"])["hours"]
    raw_total = sum(h["raw_bytes"] for h in hours if h["action"] == "written")
    parquet_total = sum(h["parquet_bytes"] for h in hours if h["action"] == "written")
    days_merged = [d for d in json.loads(compact["stdout"]).get("days", []) if d["action"] == "written"]
    compact["days"] = len(days_merged)
    compact["day_bytes"] = sum(d["parquet_bytes"] for d in days_merged)
    loads.append(("after compaction", load()))

    # 2. windows
    results: dict[int, dict[str, list[dict[str, Any]]]] = {}
    explain: dict[int, dict[str, Any]] = {}
    specs: dict[tuple[int, bool], Path] = {}
    script = DATA / "duckdb_only.py"
    script.write_text(DUCKDB_SCRIPT, encoding="utf-8")
    for days in [int(d) for d in args.windows.split(",")]:
        start = end - dt.timedelta(days=days)
        for compacted in (False, True):
            spec = duckdb_spec(config_path, start, end, compacted)
            path = DATA / f"spec-{days}-{'parquet' if compacted else 'raw'}.json"
            path.write_text(json.dumps(spec), encoding="utf-8")
            specs[(days, compacted)] = path
        raw_files = json.loads(specs[(days, False)].read_text())["files"]
        window = ["--since", iso(start), "--until", iso(end), "--force", "--format", "csv"]
        contenders = {
            "logpipe query run, raw hours": ([*logpipe, "query", "run", QUERY, *window], raw_env),
            "duckdb, same SQL and raw files": ([PY, str(script), str(specs[(days, False)])], None),
            "zcat | grep -c, raw files": (zcat_grep(raw_files), None),
            "logpipe query run, compacted hours": ([*logpipe, "query", "run", QUERY, *window], None),
            "duckdb, same SQL and Parquet files": ([PY, str(script), str(specs[(days, True)])], None),
        }
        results[days] = {name: [] for name in contenders}
        for _round in range(args.repeat):
            for name, (argv, env) in contenders.items():
                results[days][name].append(timed(argv, env))
        out = timed([*logpipe, "query", "explain", QUERY, "--since", iso(start), "--until", iso(end)])
        from logpipe.config import load_config
        from logpipe.queries.runner import explain_query

        result = explain_query(load_config(str(config_path)), QUERY, start, end)
        explain[days] = {"raw": result.bytes_scanned, "duckdb_compacted": result.compacted_bytes,
                         "athena_compacted": result.athena_compacted_bytes, "hours": result.compacted_hours,
                         "days": result.compacted_days,
                         "explain_wall": out["wall"]}
        loads.append((f"after the {days}-day window", load()))
        write_report(args, data, cold, compact, raw_total, parquet_total, results, explain, [], loads)

    # 3. run cycles, through the harness (the share of time inside DuckDB, the reads of each object)
    harness = DATA / "harness.py"
    harness.write_text(HARNESS, encoding="utf-8")
    cycles: list[dict[str, Any]] = []
    for days in [int(d) for d in args.cycle_days.split(",") if d]:
        for form, folder_name in CYCLE_FORMS.items():
            runs = []
            for _round in range(args.cycle_repeat):
                # verdicts are remembered per state database: each run copies the warm one, none pays the count
                path, env = prepare_cycle(DATA / f"cycle-{days}-{folder_name}", form, days, end)
                run = timed([PY, str(harness), "--config", str(path), "run", "--now",
                             iso(end + dt.timedelta(minutes=30)), "--format", "json"], env)
                report = json.loads(run["stdout"]) if run["stdout"].strip().startswith(("[", "{")) else []
                jobs = report if isinstance(report, list) else report.get("jobs", [])
                run["windows"] = sum(len(j.get("windows", [])) for j in jobs)
                run["failed"] = [j["job"] for j in jobs if j.get("failed")]
                run.update({f"h_{k}": v for k, v in harness_figures(run["stderr"]).items()})
                runs.append(run)
            cycles.append({"days": days, "form": form, "runs": runs})
            loads.append((f"after the {days}-day cycle ({form})", load()))
            write_report(args, data, cold, compact, raw_total, parquet_total, results, explain, cycles, loads)
    write_report(args, data, cold, compact, raw_total, parquet_total, results, explain, cycles, loads)


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def code_revision() -> str:
    """The commit the benchmark ran (and whether the tree had changes): a result names its code."""
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    return commit + (" with uncommitted changes" if git("status", "--porcelain", "--", "logpipe") else "")


def write_report(args: Any, data: dict[str, Any], cold: dict[str, Any], compact: dict[str, Any], raw_total: int,
                 parquet_total: int, results: dict[int, dict[str, list[dict[str, Any]]]], explain: dict[int, dict[str, Any]],
                 cycles: list[dict[str, Any]], loads: list[tuple[str, str]]) -> None:
    """The report as far as the run got (written after every stage: a run cut short keeps its rounds)."""
    info = machine()
    lines = ["# Benchmark: issue 19 - parse once, no overhead over DuckDB, columnar hours", "",
             f"Command: `.venv/bin/python benchmarks/issue19.py --days {args.days} --rate {args.rate} "
             f"--repeat {args.repeat} --windows {args.windows} --cycle-days {args.cycle_days} "
             f"--cycle-repeat {args.cycle_repeat}`", "",
             f"Code: {code_revision()}", "",
             "| machine | |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines += [f"| load average (1/5/15 min) {when} | {value} |" for when, value in loads]
    lines += [f"| date | {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC |", "",
              "The machine is shared (2 cores, another session running its own work): wall times move with the "
              "load; CPU seconds (user + sys of the whole process tree) move less.", "",
              f"Data: {data['records']:,} simulated records ({data['bad_records']:,} bad) in {data['objects']:,} gzip "
              f"objects, {data['bytes_written'] / 1e6:,.0f} MB compressed, over {args.days} days at rate {args.rate}, "
              f"seed {args.seed}.", "",
              f"Cold `query run` over all {args.days} days (every object checked and its bad records counted once, "
              f"remembered in the state database): {cold['wall']:.1f} s wall, {cold['cpu']:.1f} s CPU, "
              f"peak {cold['rss_mb']:.0f} MB.", "",
              f"`logpipe compact` of all {args.days} days: {compact['wall']:.1f} s wall, {compact['cpu']:.1f} s CPU, "
              f"peak {compact['rss_mb']:.0f} MB; {raw_total / 1e6:,.1f} MB of gzip JSON became "
              f"{parquet_total / 1e6:,.1f} MB of Parquet (the derived ts/service/level columns added); "
              f"{compact.get('days', 0)} closed days merged into day files of {compact.get('day_bytes', 0) / 1e6:,.1f} MB "
              "(the hour files kept).", "",
              f"`{QUERY}`, whole processes, median of {args.repeat} rounds (contenders interleaved in each round). "
              "Ratio: wall time against DuckDB running the same statements (recorded from logpipe: views, the "
              "macros it creates, the translated query with its bound values) on the same files of the same form; "
              "`zcat | grep` against DuckDB on the raw files.", ""]
    for days, by_name in results.items():
        lines += [f"### {days} day{'s' if days > 1 else ''}", "",
                  "| contender | wall s (median) | CPU s (median) | peak RSS MB | ratio (wall) | ratio (CPU) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        base = {False: by_name["duckdb, same SQL and raw files"], True: by_name["duckdb, same SQL and Parquet files"]}
        for name, runs in by_name.items():
            compacted = "Parquet" in name or "compacted" in name
            against = base[compacted and "zcat" not in name]
            lines.append(f"| {name.replace('|', chr(92) + '|')} | {_med(runs, 'wall'):.2f} | {_med(runs, 'cpu'):.2f} | {_med(runs, 'rss_mb'):.0f} | "
                         f"{_med(runs, 'wall') / _med(against, 'wall'):.2f} | "
                         f"{_med(runs, 'cpu') / max(_med(against, 'cpu'), 0.01):.2f} |")
        raw_q = by_name["logpipe query run, raw hours"]
        comp_q = by_name["logpipe query run, compacted hours"]
        walls = ", ".join(f"{r['wall']:.2f}" for r in raw_q)
        e = explain.get(days)
        lines += ["", f"- compacted vs raw, `query run`: {_med(raw_q, 'wall') / _med(comp_q, 'wall'):.1f}x faster "
                  f"(wall), {_med(raw_q, 'cpu') / max(_med(comp_q, 'cpu'), 0.01):.1f}x less CPU. "
                  f"Raw rounds (wall s): {walls}."]
        if e:
            lines += [f"- bytes read: raw {e['raw'] / 1e6:,.1f} MB; DuckDB on the compacted hours "
                      f"{e['duckdb_compacted'] / 1e6:,.1f} MB (Parquet files whole, {e['hours']} hours, "
                      f"{e.get('days', 0)} whole days of them from day files); Athena on the "
                      f"Parquet table about {e['athena_compacted'] / 1e6:,.2f} MB ({e['raw'] / max(e['athena_compacted'], 1):,.0f}x "
                      "fewer bytes scanned than on the JSON table)."]
        lines.append("")
    if cycles:
        lines += ["### `logpipe run` cycle (first run over the window: every scheduled job, its windows; warm verdicts)",
                  "", "Through a harness that times every call into the duckdb package from logpipe (its C extension: "
                  "statements, results, connections; and DuckDB 2.0's Python relation layer around them) and counts how often each raw object is handed to a DuckDB scan "
                  "(queries, bad-record counts, compaction). Forms: raw (compaction off, the raw hours read); compacted "
                  "(compaction off, every hour compacted before: the queries alone over Parquet hours); default (the "
                  "shipped configuration, compaction on, over days not compacted yet: the compact job first, then the "
                  "queries over its hours).", "",
                  "| days | form | windows | wall s | CPU s | peak RSS MB | inside DuckDB | outside | objects read | "
                  "reads per object (mean / max) | failed jobs |",
                  "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for c in cycles:
            for r in c["runs"]:
                share = r.get("h_engine", 0) / r["h_wall"] if r.get("h_wall") else 0
                lines.append(f"| {c['days']} | {c['form']} | {r['windows']} | {r['wall']:.1f} | {r['cpu']:.1f} | "
                             f"{r['rss_mb']:.0f} | {r.get('h_engine', 0):.1f} s ({share:.0%}) | {1 - share:.0%} | "
                             f"{r.get('h_objects_read', 0):,} | {r.get('h_mean_reads', 0):.1f} / {r.get('h_max_reads', 0)} | "
                             f"{', '.join(r['failed']) or '-'} |")
        lines.append("")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    # every round's figures, beside the data (gitignored), to check or re-render the table
    raw = {"results": {str(d): {n: [{k: v for k, v in r.items() if k not in ("stdout", "stderr")} for r in runs]
                                for n, runs in by.items()} for d, by in results.items()},
           "explain": {str(d): e for d, e in explain.items()}, "loads": loads,
           "cycles": [{**c, "runs": [{k: v for k, v in r.items() if k not in ("stdout", "stderr")} for r in c["runs"]]}
                      for c in cycles]}
    (DATA / "issue19-rounds.json").write_text(json.dumps(raw, indent=1, default=str), encoding="utf-8")
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
