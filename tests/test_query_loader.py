"""Saved-query files: the header format, errors with file and line, shipped queries load."""

from __future__ import annotations

from pathlib import Path

import pytest

from logpipe.config import Config
from logpipe.errors import QueryError, UsageError
from logpipe.queries.loader import get_query, load_queries, parse_query_text

GOOD = """-- name: sample
-- description: A sample, with a comma.
-- Free text comment lines are fine.
-- schedule: every 15m
-- window: 2h
-- param service: string, default=null, description=Only this service, please
-- param limit: int, default=20
-- param levels: list(enum(ERROR|FATAL)), default=ERROR,FATAL
-- param since: timestamp, required
-- metric ErrorCount: column=errors, unit=Count, dimensions=service,level
SELECT service, level, count(*) AS errors FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end AND level IN (:levels) AND (:service IS NULL OR service = :service)
GROUP BY 1, 2 LIMIT :limit
"""


def test_parses_header() -> None:
    q = parse_query_text(GOOD, Path("sample.sql"))
    assert (q.name, q.schedule, q.window, q.header_lines) == ("sample", "every 15m", "2h", 10)
    params = {p.name: p for p in q.params}
    assert params["service"].default is None and params["service"].description == "Only this service, please"
    assert params["limit"].default == 20
    assert params["levels"].default == ["ERROR", "FATAL"] and params["levels"].choices == ("ERROR", "FATAL")
    assert params["since"].required
    assert q.metrics[0].dimensions == ("service", "level") and q.metrics[0].unit == "Count"
    assert q.sql.startswith("SELECT")


@pytest.mark.parametrize(("line", "bad", "message"), [
    (7, "-- param limit: integer, default=20", "unknown parameter type"),
    (7, "-- param limit: int, default=many", "default 'many' is not valid"),
    (4, "-- schedule: 61 * * * *", "schedule"),
    (10, "-- metric ErrorCount: column=errors, unit=Things", "not a CloudWatch unit"),
    (5, "-- windw: 2h", "unknown header key 'windw'"),
])
def test_errors_name_file_and_line(line: int, bad: str, message: str) -> None:
    lines = GOOD.splitlines()
    lines[line - 1] = bad
    with pytest.raises(QueryError, match=rf"sample\.sql:{line}: .*{message}"):
        parse_query_text("\n".join(lines), Path("sample.sql"))


def test_undeclared_placeholder_and_syntax_error() -> None:
    with pytest.raises(QueryError, match=r"x\.sql:3: ':nope' is not a declared parameter"):
        parse_query_text("-- name: x\n-- description: d\nSELECT :nope", Path("x.sql"))
    with pytest.raises(QueryError, match=r"x\.sql:3: SQL syntax error"):
        parse_query_text("-- name: x\n-- description: d\nSELECT FROM WHERE (", Path("x.sql"))
    with pytest.raises(QueryError, match="differs from the file name"):
        parse_query_text("-- name: y\n-- description: d\nSELECT 1", Path("x.sql"))


def test_shipped_and_project_dirs(tmp_path: Path) -> None:
    (tmp_path / "sample.sql").write_text(GOOD)
    config = Config.model_validate({"queries": {"dirs": [str(tmp_path)]}})
    queries = load_queries(config)
    assert {"errors_by_service", "top_error_messages", "sample"} <= set(queries)
    with pytest.raises(UsageError, match="did you mean errors_by_service"):
        get_query(config, "errors_by_servce")


@pytest.mark.parametrize(("sql", "said"), [
    ("SELECT count(*) FROM logs WHERE", "<sql>:1: SQL syntax error: WHERE is incomplete"),
    ("SELECT * FROM logs ORDER BY", "ORDER BY is incomplete"),
    ("SELECT service FROM logs WHERE level =", "= is incomplete"),
    ("SELECT FROM logs", "SELECT has no columns"),
    ("SELECT service FROM logs GROUP BY", "GROUP BY has nothing to group by"),
    ("SELECT service,\nlevel, FROM logs", "<sql>:2: SQL syntax error: a comma before FROM (Athena does not accept"),
    ("SELECT service FROM logs WHERE level IN ('ERROR',)", "a comma before )"),
    ("SELECT 'abc FROM logs", "is not closed"),
])
def test_syntax_errors_speak_sql_and_refuse_what_athena_refuses(sql: str, said: str) -> None:
    """No sqlglot class names in a syntax error; what sqlglot accepts and Trino does not (a trailing
    comma, an empty SELECT or GROUP BY) is refused here rather than run locally and fail on Athena."""
    from logpipe.engines.parsing import parse

    with pytest.raises(QueryError) as raised:
        parse(sql, source="<sql>")
    assert said in str(raised.value) and "<class" not in str(raised.value)
