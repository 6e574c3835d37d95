"""What short commands import, and the state read that needs no SQLAlchemy (issue 19).

``logpipe --help`` and ``query list`` (start-up under 0.3 s) and a warm ``query run`` (every object's
verdict remembered: within 1.1x of DuckDB on the same files) must not pay for libraries they do not
use. Checked on ``sys.modules`` of a child process, never on time. The verdicts such a run reads
with the standard library's sqlite3 are the ones SQLAlchemy reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.records import rec

from logpipe.state.db import open_state, plain_sqlite_file, sqlite_reader
from logpipe.store import gzip_lines
from logpipe.store.integrity import ObjectCheck
from logpipe.store.verdicts import ObjectVerdict, VerdictStore

REPO_ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 1, 1, 5, tzinfo=UTC)

# Runs ``logpipe ARGS`` in this process, then writes the exit code and which of the modules named are loaded.
PROBE = """
import json, os, runpy, sys
os.environ["LOGPIPE_NORMAL_EXIT"] = "1"  # the probe reads sys.modules after the command: not ended early
watched, out = json.loads(sys.argv[1]), sys.argv[2]
sys.argv = ["logpipe", *sys.argv[3:]]
code = 0
try:
    runpy.run_module("logpipe", run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
with open(out, "w") as handle:
    json.dump({"code": code, "loaded": sorted(m for m in watched if m in sys.modules)}, handle)
"""

NEVER_AT_START = ["pandas", "numpy", "pyarrow", "sqlalchemy", "alembic", "duckdb", "sqlglot", "boto3", "botocore",
                  "matplotlib", "jinja2", "apscheduler", "pydantic_settings", "pydantic"]
# sqlglot and APScheduler: the saved query's file was checked by an earlier run and its DuckDB
# translation remembered (the cache folder), so nothing parses SQL or a cron line again.
NEVER_IN_A_WARM_RUN = ["pandas", "numpy", "pyarrow", "sqlalchemy", "alembic", "pydantic_settings", "boto3", "botocore",
                       "matplotlib", "jinja2", "sqlglot", "apscheduler", "pydantic"]
# pydantic: the configuration was validated by an earlier run and its snapshot remembered
# (logpipe.config_cache).


def loaded(tmp_path: Path, watched: list[str], *args: str, env: dict[str, str] | None = None) -> list[str]:
    out = tmp_path / "probe.json"
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(watched), str(out), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})})
    result = json.loads(out.read_text())
    assert result["code"] == 0, proc.stderr
    return list(result["loaded"])


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A store with two hours of records (one bad line), and the config that reads it."""
    from logpipe.config import StoreConfig
    from logpipe.store import Store

    store = Store(StoreConfig(root=str(tmp_path / "store"), prefix="logs", cache_dir=str(tmp_path / "cache")))
    for hour in range(2):
        at = T0 + timedelta(hours=hour)
        store.write_object(store.layout.object_key(at, seq=1),
                           gzip_lines([rec(at + timedelta(minutes=m), f"r{hour}-{m}") for m in range(5)] + [b"not json"]))
    path = tmp_path / "logpipe.toml"
    path.write_text(f'[store]\nroot = "{tmp_path / "store"}"\ncache_dir = "{tmp_path / "cache"}"\n'
                    f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n')
    return path


@pytest.mark.parametrize("args", [["--help"], ["query", "--help"], ["query", "run", "--help"], ["query", "list"]])
def test_help_and_query_list_import_no_heavy_library(tmp_path: Path, config_file: Path, args: list[str]) -> None:
    loaded(tmp_path, [], "--config", str(config_file), "query", "list")  # the catalogue written (cache folder)
    assert loaded(tmp_path, NEVER_AT_START, "--config", str(config_file), *args) == []


def test_a_warm_query_run_writing_text_imports_no_sqlalchemy_pyarrow_or_pandas(tmp_path: Path, config_file: Path) -> None:
    window = ["--since", "2024-01-01T05:00:00Z", "--until", "2024-01-01T07:00:00Z"]
    run = ["--config", str(config_file), "query", "run", "errors_by_service", *window]
    # The first run checks and counts the new objects, and remembers their verdicts (SQLAlchemy writes them).
    assert "sqlalchemy" in loaded(tmp_path, ["sqlalchemy"], *run, "--format", "csv")
    for fmt in ("csv", "json", "table"):
        assert loaded(tmp_path, NEVER_IN_A_WARM_RUN, *run, "--format", fmt) == []


def test_a_query_run_writing_text_to_a_pipe_imports_no_rich(tmp_path: Path, config_file: Path) -> None:
    """Nothing is styled on a pipe: the stats line goes out plain (logpipe.cli.common.say), and rich's
    ~25 ms import is paid only where it draws something (a table, a terminal, FORCE_COLOR)."""
    run = ["--config", str(config_file), "query", "run", "errors_by_service",
           "--since", "2024-01-01T05:00:00Z", "--until", "2024-01-01T07:00:00Z"]
    plain = {"FORCE_COLOR": "", "TTY_COMPATIBLE": ""}
    assert loaded(tmp_path, ["rich"], *run, "--format", "csv", env=plain) == []
    assert loaded(tmp_path, ["rich"], *run, "--format", "json", env=plain) == []
    assert loaded(tmp_path, ["rich"], *run, "--format", "table", env=plain) == ["rich"]  # a table is rich's


# -- the verdicts read with sqlite3 ------------------------------------------------------------------


def verdict(n: int, **extra: Any) -> ObjectVerdict:
    check = ObjectCheck(clean=n % 2 == 0, lost={"truncated": n} if n % 2 else {}, members=1 + n % 3,
                        problems={"truncated": "cut at byte 9"} if n % 2 else {}, kept_lines=n)
    return ObjectVerdict(url=f"/store/logs/dt=2024-01-01/hour=05/obj-{n}.gz", size=100 + n, version=f"v{n}",
                         hour_ms=1_704_085_200_000, check=check, **extra)


def test_verdicts_read_with_sqlite3_are_those_sqlalchemy_reads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    written = [verdict(0), verdict(1, bad_lines={"not_json": 2}, misplaced=1, records=7, lateness_s=600),
               verdict(2, bad_lines={}, misplaced=0, records=3, lateness_s=0)]
    VerdictStore(open_state(url)).save(written)
    keys = [v.key for v in written] + [("/store/other.gz", 1, "v")]
    by_sqlalchemy = VerdictStore(open_state(url)).lookup(keys)
    lazy = VerdictStore(url)
    by_sqlite3 = lazy.lookup(keys)
    assert lazy._engine is None  # answered without opening the engine
    assert by_sqlite3 == by_sqlalchemy == {v.key: v for v in written}


def test_a_state_sqlite3_cannot_read_as_it_is_is_opened_by_open_state(tmp_path: Path) -> None:
    # missing: created and migrated, as before
    new = f"sqlite:///{tmp_path}/new/state.db"
    assert sqlite_reader(new) is None
    lazy = VerdictStore(new)
    assert lazy.lookup([verdict(0).key]) == {}
    assert lazy._engine is not None and (tmp_path / "new" / "state.db").exists()
    # not at the newest revision: migrated by open_state before it is read
    import sqlite3

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as con:
        con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        con.execute("INSERT INTO alembic_version VALUES ('0001_baseline')")
    assert sqlite_reader(f"sqlite:///{old}") is None


@pytest.mark.parametrize(("url", "file"), [
    ("sqlite:////var/lib/state.db", "/var/lib/state.db"),
    ("sqlite+pysqlite:////var/lib/state.db", "/var/lib/state.db"),
    ("sqlite:///state.db", os.path.abspath("state.db")),
    ("sqlite://", None), ("sqlite:///:memory:", None), ("sqlite:///file:x.db?mode=ro&uri=true", None),
    ("sqlite:////a%20b/state.db", None), ("postgresql://u:p@h/db", None), ("sqlite+aiosqlite:////x.db", None),
])
def test_only_a_plain_sqlite_file_is_read_without_sqlalchemy(url: str, file: str | None) -> None:
    assert plain_sqlite_file(url) == file
