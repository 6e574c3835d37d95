"""The translation's machinery: parsing, placeholders, the rewrite table, refusals, the logs view.

What each function answers is held against Trino's own tests in tests/conformance/ (test_conformance);
this file covers what a saved query needs around that.
"""

from __future__ import annotations

import duckdb
import pytest

from logpipe.config import EngineConfig
from logpipe.engines.duckdb import open_connection
from logpipe.engines.transpile import (
    REWRITES,
    athena_only_reason,
    functions_used,
    parse,
    to_athena,
    to_athena_positional,
    to_duckdb,
)
from logpipe.engines.trino.regexps import Pattern, replacement, translate
from logpipe.errors import AthenaOnlyError


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = open_connection(EngineConfig())
    yield connection
    connection.close()


def one_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    return con.execute(to_duckdb(sql)).fetchone()


def test_the_issue_cases_answer_as_trino(con: duckdb.DuckDBPyConnection) -> None:
    row = one_row(con, r"""SELECT 7/2, regexp_extract('abc', 'x(\d)', 1), split_part('a/b', '/', 3), substr('abc', 0),
        date_diff('day', TIMESTAMP '2024-01-01 12:00', TIMESTAMP '2024-01-02 11:00'), try_cast('12.5' AS bigint),
        CAST(37.7E0 AS varchar), replace('ab', '', '-'), contains(ARRAY[1, NULL], 2), strpos('a/b/c', '/', 2)""")
    assert row == (3, None, None, "", 0, None, "3.77E1", "-a-b-", None, 4)


def test_placeholders_become_dollar_names_and_positional_for_athena() -> None:
    tree = parse("SELECT * FROM logs WHERE service = :s AND dt BETWEEN :a AND :b LIMIT :l")
    assert "$s" in to_duckdb(tree) and "$l" in to_duckdb(tree)
    sql, order = to_athena_positional(tree)
    assert sql.count("?") == 4 and order == ["s", "a", "b", "l"]


def test_athena_receives_the_query_as_written() -> None:
    text = "SELECT DECIMAL '1.50', TIMESTAMP '2024-01-01 00:00:00 UTC', strpos(a, 'x', 2), split(a, ',', 2) FROM logs"
    assert to_athena(parse(text)).lower() == text.lower()


def test_an_unknown_function_is_refused_by_name() -> None:
    with pytest.raises(AthenaOnlyError, match=r"soundex\(\).*runs on Athena only"):
        to_duckdb("SELECT soundex(message) FROM logs")
    assert "soundex" in (athena_only_reason(parse("SELECT soundex(message) FROM logs")) or "")
    assert athena_only_reason(parse("SELECT lower(message) FROM logs")) is None


def test_a_zone_other_than_utc_is_refused_where_it_would_show(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(AthenaOnlyError, match="time zone"):
        to_duckdb("SELECT TIMESTAMP '2024-01-01 00:00 +07:09'")
    # ...but its fields, taken in its own zone, are exact.
    assert one_row(con, "SELECT hour(TIMESTAMP '2024-01-01 03:00 +07:09'), TIMESTAMP '2024-01-01 03:00 +07:09' AT TIME ZONE 'UTC' "
                        "= TIMESTAMP '2023-12-31 19:51 UTC'") == (3, True)
    with pytest.raises(duckdb.Error, match="runs on Athena only"):
        one_row(con, "SELECT hour(from_iso8601_timestamp(x)) FROM (VALUES '2024-01-01T03:00:00-11:00') t(x)")
    assert one_row(con, "SELECT hour(from_iso8601_timestamp(x)) FROM (VALUES '2024-01-01T03:00:00Z') t(x)") == (3,)


def test_regex_translation() -> None:
    assert translate(r"(?<year>\d{4})-\s").re2 == r"(?P<year>\d{4})-[\t\n\x0B\f\r ]"
    assert translate(r"a(b)?|c").optional == {1}
    assert replacement("$1-${y}\\$", Pattern("", groups=2, names={"y": 2})) == "\\1-\\2$"
    with pytest.raises(AthenaOnlyError):
        to_duckdb(r"SELECT regexp_like(message, '(?<=a)b') FROM logs")


def test_functions_used_and_the_table() -> None:
    assert functions_used(parse("SELECT lower(a), count(*) FROM logs GROUP BY 1")) == ["lower", "count"]
    assert {"regexp_extract", "date_diff", "url_extract_host", "approx_percentile", "json_extract_scalar"} <= set(REWRITES)


def test_logs_view_transpiles_and_runs(con: duckdb.DuckDBPyConnection) -> None:
    from logpipe.schema import RAW_COLUMNS, logs_view_sql

    cols = ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in RAW_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE logs_raw AS SELECT {cols}, '2024-01-01' AS dt, '05' AS hour")
    con.execute("UPDATE logs_raw SET container_name = 'ecs-checkout-12-0123456789abcdef01', log = 'WARNING: slow'")
    row = con.execute(f"SELECT service, level, CAST(ts AS VARCHAR) FROM ({to_duckdb(logs_view_sql('logs_raw'))})").fetchone()
    assert row == ("checkout", "WARN", "2024-01-01 05:00:00+00")


GROUPED = "FROM (VALUES ('a', 'x', 1), ('a', 'y', 2), ('b', 'x', 4)) AS t(k, v, n)"


@pytest.mark.parametrize(("grouping", "expected"), [
    ("ROLLUP (k, v)", [("a", "x", 1, 0), ("a", "y", 2, 0), ("a", None, 3, 1), ("b", "x", 4, 0), ("b", None, 4, 1),
                       (None, None, 7, 3)]),
    ("CUBE (k, v)", [("a", "x", 1, 0), ("a", "y", 2, 0), ("a", None, 3, 1), ("b", "x", 4, 0), ("b", None, 4, 1),
                     (None, "x", 5, 2), (None, "y", 2, 2), (None, None, 7, 3)]),
    ("GROUPING SETS ((k), (v), ())", [("a", None, 3, 1), ("b", None, 4, 1), (None, "x", 5, 2), (None, "y", 2, 2),
                                      (None, None, 7, 3)]),
    ("k, ROLLUP (v)", [("a", "x", 1, 0), ("a", "y", 2, 0), ("a", None, 3, 1), ("b", "x", 4, 0), ("b", None, 4, 1)]),
])
def test_grouping_sets_answer_as_the_standard_says(con: duckdb.DuckDBPyConnection, grouping: str,
                                                   expected: list[tuple]) -> None:
    """ROLLUP, CUBE and GROUPING SETS run locally (they were refused): the sets the SQL standard (and
    Trino) expands them to, NULL where a set leaves a column out, and grouping()'s bit set (the last
    argument the lowest bit) as a BIGINT."""
    sql = f"SELECT k, v, sum(n) AS total, grouping(k, v) AS g {GROUPED} GROUP BY {grouping} ORDER BY k, v"
    assert con.execute(to_duckdb(sql)).fetchall() == expected
    assert con.execute(f"SELECT typeof(g) FROM ({to_duckdb(sql)}) LIMIT 1").fetchone() == ("BIGINT",)
