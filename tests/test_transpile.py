"""Each rewrite of logpipe.engines.transpile.REWRITES, run on real DuckDB against Trino's answer."""

from __future__ import annotations

import duckdb
import pytest

from logpipe.engines.transpile import (
    REWRITES,
    java_replacement_to_re2,
    joda_to_strftime,
    parse,
    to_athena_positional,
    to_duckdb,
)


def one_row(sql: str) -> tuple:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    return con.execute(to_duckdb(sql)).fetchone()


# (rewrite name, Athena SQL, what Trino returns)
CASES = [
    ("integer_division", "SELECT 7/2, (-7)/2, CAST('9' AS integer)/2, 7/2.0", (3, -3, 4, 3.5)),
    ("regexp_extract_no_match", r"SELECT regexp_extract('abc', 'x(\d)', 1), regexp_extract('abc', 'a(x*)', 1), regexp_extract('a1', 'a(\d)', 1)", (None, "", "1")),
    ("regexp_replace_backrefs", r"SELECT regexp_replace('user 42 id', '(\d+)', '<$1>'), regexp_replace('ab', '(a)(b)', '$2$1\$')", ("user <42> id", "ba$")),
    ("json_extract_scalar_object", """SELECT json_extract_scalar('{"a":{"b":1}}', '$.a'), json_extract_scalar('{"a":5}', '$.a'), json_extract_scalar('nope', '$.a'), json_extract_scalar('{"a":[1]}', '$.a')""", (None, "5", None, None)),
    ("weighted_approx_percentile", "SELECT approx_percentile(x, w, 0.5) FROM (VALUES (1, 1), (10, 5)) AS t(x, w)", (10,)),
    ("date_minus_interval", "SELECT CAST(DATE '2024-01-02' - INTERVAL '1' DAY AS varchar), CAST(DATE '2024-01-31' + INTERVAL '1' MONTH AS varchar)", ("2024-01-01", "2024-02-29")),
    ("varchar_length", "SELECT CAST('abcdef' AS varchar(3))", ("abc",)),
    ("format_datetime", "SELECT format_datetime(TIMESTAMP '2024-01-02 03:04:05.678', 'yyyy-MM-dd''T''HH:mm:ss.SSS EEE')", ("2024-01-02T03:04:05.678 Tue",)),
    ("url_extract_path", "SELECT url_extract_path('https://a.com:80/x/y?q=1#f'), url_extract_path('not a url')", ("/x/y", None)),
    ("array_match_lambdas", "SELECT any_match(ARRAY['a.c', 'zz'], p -> regexp_like('abc', p)), any_match(CAST(ARRAY[] AS array(varchar)), p -> regexp_like('abc', p)), all_match(ARRAY[2, 3], x -> x > 2), none_match(ARRAY[2, 3], x -> x > 5)", (True, False, False, True)),
    ("count_if_bigint", "SELECT typeof(count_if(x > 1)) FROM (VALUES 1, 2, 3) AS t(x)", ("BIGINT",)),
    ("utf8_byte_length", "SELECT length(to_utf8('h\u00e9llo')), length('h\u00e9llo')", (6, 5)),
]


@pytest.mark.parametrize(("name", "sql", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rewrite_matches_trino(name: str, sql: str, expected: tuple) -> None:
    assert one_row(sql) == expected


def test_every_rewrite_has_a_case() -> None:
    assert {r.name for r in REWRITES} == {c[0] for c in CASES}


def test_rewrites_are_needed_plain_sqlglot_is_wrong() -> None:
    import sqlglot

    con = duckdb.connect()
    plain = sqlglot.transpile("SELECT 7/2, regexp_extract('abc', 'x(y)', 1)", read="athena", write="duckdb")[0]
    assert con.execute(plain).fetchone() != (3, None)


def test_helpers() -> None:
    assert java_replacement_to_re2("$1-${2}\\$") == "\\1-\\2$"
    assert joda_to_strftime("yyyy-MM-dd HH:mm") == "%Y-%m-%d %H:%M"


def test_placeholders_become_dollar_names_and_positional_for_athena() -> None:
    tree = parse("SELECT * FROM logs WHERE service = :s AND dt BETWEEN :a AND :b LIMIT :l")
    assert "$s" in to_duckdb(tree) and "$l" in to_duckdb(tree)
    sql, order = to_athena_positional(tree)
    assert sql.count("?") == 4 and order == ["s", "a", "b", "l"]


def test_logs_view_transpiles_and_runs() -> None:
    from logpipe.schema import RAW_COLUMNS, logs_view_sql

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    cols = ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in RAW_COLUMNS)
    con.execute(f"CREATE TABLE raw AS SELECT {cols}, '2024-01-01' AS dt, '05' AS hour")
    con.execute("UPDATE raw SET container_name = 'ecs-checkout-12-0123456789abcdef01', log = 'WARNING: slow'")
    row = con.execute(f"SELECT service, level, CAST(ts AS VARCHAR) FROM ({to_duckdb(logs_view_sql('raw'))})").fetchone()
    assert row == ("checkout", "WARN", "2024-01-01 05:00:00+00")
