"""Parse once (issue 19): saved queries are loaded and translated once per process, bound per run,
and the CLI starts without importing the heavy libraries it does not need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from sqlglot import exp

from logpipe.cli.app import COMMANDS, cli
from logpipe.config import Config
from logpipe.engines.duckdb import compile_duckdb
from logpipe.errors import LogpipeError
from logpipe.queries.catalog import CATALOG_FILE, query_catalog
from logpipe.queries.loader import forget_loaded, load_queries, load_query_file
from logpipe.queries.runner import athena_only, bind_statement

REPO_ROOT = Path(__file__).resolve().parents[1]
DAY = datetime(2024, 5, 1, tzinfo=UTC)
QUERY = """-- name: sample
-- description: A sample.
-- param pattern: string, default=time(out|d out)
SELECT service, count(*) AS n FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end AND regexp_like(message, :pattern)
GROUP BY 1
"""


def test_a_file_is_parsed_once_until_it_changes(tmp_path: Path) -> None:
    forget_loaded()
    path = tmp_path / "sample.sql"
    path.write_text(QUERY)
    first = load_query_file(path)
    assert load_query_file(path) is first  # the same object: not read or parsed again
    assert first.tree is not None
    path.write_text(QUERY.replace("A sample.", "A changed sample."))
    os.utime(path, ns=(first_mtime := path.stat().st_mtime_ns, first_mtime + 10**9))
    changed = load_query_file(path)
    assert changed is not first and changed.description == "A changed sample."


def test_binding_copies_the_parsed_tree(tmp_path: Path) -> None:
    path = tmp_path / "sample.sql"
    path.write_text(QUERY)
    query = load_query_file(path)
    one = bind_statement(query, DAY, DAY + timedelta(hours=1), {})
    two = bind_statement(query, DAY, DAY + timedelta(hours=1), {})
    assert one.tree is not two.tree and one.tree is not query.tree
    assert one.text == query.sql


def test_the_translation_is_reused_and_the_window_only_bound(tmp_path: Path) -> None:
    path = tmp_path / "sample.sql"
    path.write_text(QUERY)
    query = load_query_file(path)
    sql_1, values_1 = compile_duckdb(bind_statement(query, DAY, DAY + timedelta(hours=1), {}))
    sql_2, values_2 = compile_duckdb(bind_statement(query, DAY + timedelta(days=3), DAY + timedelta(days=3, hours=1), {}))
    assert sql_1 == sql_2
    assert values_1["dt_start"] == "2024-05-01" and values_2["dt_start"] == "2024-05-04"
    # A value the translation depends on (the regex, translated for RE2) gives its own translation.
    derived_1 = {k: v for k, v in values_1.items() if k.startswith("lp_derived")}
    _, values_3 = compile_duckdb(bind_statement(query, DAY, DAY + timedelta(hours=1), {"pattern": "refused"}))
    derived_3 = {k: v for k, v in values_3.items() if k.startswith("lp_derived")}
    if derived_1:  # the pattern is bound as a derived value: it must follow the parameter
        assert derived_3 != derived_1
    assert values_3.get("pattern", "refused") == "refused"


def test_a_file_checked_before_is_not_parsed_again_in_a_new_process(tmp_path: Path) -> None:
    """With the cache folder, a file whose exact text passed every check is loaded in a new process
    without sqlglot: its tree is parsed (and checked) only if an engine asks for it."""
    cache = str(tmp_path / "cache")
    path = tmp_path / "sample.sql"
    path.write_text(QUERY)
    forget_loaded()
    first = load_query_file(path, cache)
    assert first.tree is not None  # parsed and checked; the verdict remembered
    forget_loaded()  # as a new process would
    again = load_query_file(path, cache)
    assert again.tree is None and again == first  # the same header, params and SQL
    sql_first, _ = compile_duckdb(bind_statement(first, DAY, DAY + timedelta(hours=1), {}))
    remembered = bind_statement(again, DAY + timedelta(days=1), DAY + timedelta(days=1, hours=1), {})
    sql_again, values = compile_duckdb(remembered)
    assert sql_again == sql_first and values["dt_start"] == "2024-05-02"
    assert not remembered.parsed  # the translation needed no tree
    # A value the translation depends on (the regex): translated again, from the text parsed now.
    other = bind_statement(again, DAY, DAY + timedelta(hours=1), {"pattern": "refus(ed|al)"})
    compile_duckdb(other)
    assert other.parsed and other.tree.find(exp.Placeholder) is not None


def test_a_file_changed_after_its_check_is_checked_again(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    path = tmp_path / "sample.sql"
    path.write_text(QUERY)
    forget_loaded()
    load_query_file(path, cache)
    path.write_text(QUERY.replace("SELECT service", "COPY (SELECT service").replace("GROUP BY 1", "GROUP BY 1) TO 'x.csv'"))
    forget_loaded()
    with pytest.raises(LogpipeError, match="refused COPY"):
        load_query_file(path, cache)


def test_a_statement_of_text_alone_is_checked_when_parsed() -> None:
    from logpipe.engines.binding import BoundStatement

    statement = BoundStatement(None, {}, {}, DAY, DAY + timedelta(hours=1), source="evil.sql",
                               text="COPY (SELECT * FROM logs) TO 'x.csv'")
    with pytest.raises(LogpipeError, match="refused COPY"):
        _ = statement.tree
    with pytest.raises(LogpipeError, match="refused COPY"):
        compile_duckdb(statement)


def test_the_lazy_command_table_matches_the_commands() -> None:
    group = cli
    ctx = click.Context(group)
    assert sorted(group.list_commands(ctx)) == sorted(COMMANDS)
    for name, (_modules, short) in COMMANDS.items():
        command = group.get_command(ctx, name)
        assert command is not None, name
        assert command.get_short_help_str(limit=80) == short, name


def _modules_after(*argv: str, cwd: Path) -> set[str]:
    code = ("import sys\nfrom logpipe.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "import json\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_help_and_query_list_import_no_heavy_library(tmp_path: Path) -> None:
    heavy = {"pandas", "duckdb", "boto3", "botocore", "matplotlib", "datadog_api_client", "pyarrow", "sqlalchemy",
             "fastapi"}
    assert not heavy & _modules_after("--help", cwd=tmp_path)
    first = _modules_after("query", "list", cwd=tmp_path)  # fills the catalogue (parses and translates)
    assert "sqlglot" in first
    again = _modules_after("query", "list", cwd=tmp_path)
    assert not (heavy | {"sqlglot"}) & again


def _write_config(folder: Path, extra: str = "") -> None:
    """A logpipe.toml keeping the store, cache and state in ``folder``, plus ``extra`` TOML."""
    (folder / "logpipe.toml").write_text(f"""
[store]
root = "{folder / 'logs'}"
cache_dir = "{folder / 'cache'}"
[state]
url = "sqlite:///{folder / 'state.db'}"
""" + extra)


def test_a_remembered_translation_runs_without_the_translator(tmp_path: Path) -> None:
    """The second ``query run`` of a saved query takes its DuckDB text from the cache folder: the
    Trino-to-DuckDB translator (a tenth of a second of imports) is not even imported."""
    _write_config(tmp_path)
    argv = ("query", "run", "errors_by_service", "--since", "2h", "--format", "csv")
    assert "logpipe.engines.transpile" in _modules_after(*argv, cwd=tmp_path)
    again = _modules_after(*argv, cwd=tmp_path)
    assert "duckdb" in again and not {"logpipe.engines.transpile", "logpipe.engines.trino.compiler"} & again


def test_a_run_cycle_imports_neither_pandas_nor_matplotlib_nor_pydantic_when_warm(tmp_path: Path) -> None:
    """``logpipe run`` (every job: compaction, the queries, the detectors, the digest without a
    destination) reads DuckDB's Arrow results directly: pandas' import (a third of a second) and
    matplotlib's (half a second) were a tenth of a 1-day cycle. Checked on a simulated store with bad
    lines (redacted results, detectors' rows, the digest's previous day)."""
    _write_config(tmp_path, '[service]\nfirst_run_backfill = "2h"\n')
    subprocess.run([sys.executable, "-m", "logpipe", "simulate", "--hours", "2"], cwd=tmp_path, check=True,
                   capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=120)
    loaded = _modules_after("run", "--format", "json", cwd=tmp_path)
    assert {"duckdb", "logpipe.detectors.run", "logpipe.digest.build"} <= loaded  # the cycle did run them
    assert not {"pandas", "matplotlib"} & loaded
    # pydantic (~0.1 s): `simulate` validated the configuration and remembered its snapshot
    # (logpipe.config_cache); the service, detectors and digest import Config for typing only
    assert "pydantic" not in loaded


def test_the_catalogue_matches_the_files_and_follows_changes(tmp_path: Path) -> None:
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "sample.sql").write_text(QUERY)
    config = Config.model_validate({"queries": {"dirs": [str(folder)]}, "store": {"cache_dir": str(tmp_path / "c")}})
    listed = query_catalog(config)
    loaded = load_queries(config)
    assert set(listed) == set(loaded)
    for name, query in loaded.items():
        entry = listed[name]
        assert (entry.description, entry.schedule) == (query.description, query.schedule)
        assert entry.params == [(p.name, p.type, p.required) for p in query.params]
        assert entry.athena_only == athena_only(query)
    assert (tmp_path / "c" / CATALOG_FILE).is_file()
    path = folder / "sample.sql"
    path.write_text(QUERY.replace("A sample.", "Now different."))
    os.utime(path, ns=(path.stat().st_mtime_ns, path.stat().st_mtime_ns + 10**9))
    assert query_catalog(config)["sample"].description == "Now different."


def test_translations_are_remembered_between_processes(tmp_path: Path, monkeypatch) -> None:
    """A second process (the in-process caches emptied) reads the translation from the cache folder:
    the same DuckDB text and values, and the translator is not called; another text is translated."""
    import logpipe.engines.duckdb as duck
    import logpipe.engines.transpile as transpile

    duck._COMPILED.clear()  # as in a new process
    duck._view_duckdb.cache_clear()
    path = tmp_path / "sample.sql"
    path.write_text(QUERY)
    query = load_query_file(path)
    cache = str(tmp_path / "cache")
    first = compile_duckdb(bind_statement(query, DAY, DAY + timedelta(hours=1), {}), cache)
    view = duck._logs_view_duckdb(duck.RAW_TABLE, cache)
    assert list((tmp_path / "cache" / "translations").glob("*.json"))
    duck._COMPILED.clear()
    duck._view_duckdb.cache_clear()

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("translated again")

    monkeypatch.setattr(transpile, "compile_for_duckdb", refuse)
    monkeypatch.setattr(transpile, "to_duckdb", refuse)
    assert compile_duckdb(bind_statement(query, DAY, DAY + timedelta(hours=1), {}), cache) == first
    assert duck._logs_view_duckdb(duck.RAW_TABLE, cache) == view
    other = load_query_file(_write(tmp_path / "other.sql", QUERY.replace("-- name: sample", "-- name: other")
                                   .replace("count(*)", "count(*) + 1")))
    try:
        compile_duckdb(bind_statement(other, DAY, DAY + timedelta(hours=1), {}), cache)
    except AssertionError as exc:
        assert "translated again" in str(exc)
    else:
        raise AssertionError("a changed text was answered from the cache")
    duck._COMPILED.clear()
    duck._view_duckdb.cache_clear()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_cache_folder_keeps_its_most_recently_used_files(tmp_path: Path, monkeypatch) -> None:
    """Each kind's folder is kept to MAX_FILES, the least recently used going first; a file read long
    after it was written counts as used then."""
    import os
    import time

    from logpipe.engines import translation_cache

    monkeypatch.setattr(translation_cache, "MAX_FILES", 10)
    monkeypatch.setattr(translation_cache, "PRUNE_EVERY", 5)
    monkeypatch.setattr(translation_cache, "_saves", {})
    folder = tmp_path / "cache"
    past = time.time() - 3 * 86_400
    for n in range(10):
        translation_cache.save(folder, ["k", n], n, "quality")
        file = translation_cache._file(folder, ["k", n], "quality")
        os.utime(file, (past + n, past + n))  # written days ago, in this order
    assert translation_cache.load(folder, ["k", 0], "quality") == 0  # the oldest, read now: used
    for n in range(10, 16):
        translation_cache.save(folder, ["k", n], n, "quality")  # the save at count 10 prunes
    kept = {n for n in range(16) if translation_cache.load(folder, ["k", n], "quality") == n}
    # pruned at the 11th save (11 files) down to 9: the two least recently used went (1, 2); at the
    # 16th (14 files) down to 9 again: the next five (3 to 7). The one read stays throughout.
    assert kept == {0, 8, 9, *range(10, 16)}
    assert len(list((folder / "quality").glob("*.json"))) == 9
