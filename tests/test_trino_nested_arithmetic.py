"""Nested integer arithmetic compiles to a statement that grows linearly with the nesting.

Trino's overflow check ("integer addition overflow: a + b") once repeated each operand in the
statement at every level, so a sum of a dozen terms (the shipped ``log_volume``, ``noisiest_lines``
and ``datadog_forwarded`` queries have such expressions) never finished compiling. These chains are
long enough that the old form could not finish within the test timeout.
"""

from __future__ import annotations

import json


def test_a_long_integer_sum_answers(cli) -> None:
    terms = " + ".join(str(i) for i in range(1, 41))
    result = cli("query", "sql", "--engine", "duckdb", "--format", "json", f"SELECT {terms} AS total")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0]) == {"total": sum(range(1, 41))}


def test_a_long_mixed_chain_over_rows_answers(cli) -> None:
    chain = " + ".join(["x * 2 - 1"] * 20)
    result = cli("query", "sql", "--engine", "duckdb", "--format", "json",
                 f"SELECT sum({chain}) AS total FROM (VALUES 1, 2, 3) t(x)")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0]) == {"total": sum(20 * (2 * x - 1) for x in (1, 2, 3))}


def test_overflow_deep_in_a_chain_is_trinos_error(cli) -> None:
    chain = " + ".join(["0"] * 20)
    result = cli("query", "sql", "--engine", "duckdb", f"SELECT 2147483647 + {chain} + 1")
    assert result.exit_code != 0
    assert "integer addition overflow: 2147483647 + 1" in result.stderr


def test_a_sum_of_lengths_and_literals_needs_no_overflow_check(cli) -> None:
    """Issue 19: integer arithmetic whose operands are bounded (string lengths, literals, coalesce and
    sums of those) cannot overflow, so it is DuckDB's plain operation - the range check bound each
    operand again and made log_volume's sum of 24 lengths 3-4x slower to plan and to run. An operation
    whose bound reaches past its type is still checked."""
    from logpipe.engines.transpile import to_duckdb

    sizes = ("SELECT coalesce(length(to_utf8(a)) + 9, 0) + coalesce(length(b) + 12, 0) + 2147483647 AS n "
             "FROM (VALUES ('ab', 'é'), (NULL, 'xyz')) t(a, b)")
    assert "lp_int" not in to_duckdb(sizes).lower()
    result = cli("query", "sql", "--engine", "duckdb", "--format", "json", sizes)
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"n": 2 + 9 + 1 + 12 + 2147483647}, {"n": 0 + 3 + 12 + 2147483647}]
    big = "SELECT length(a) * 3037000500 * 3037000500 AS n FROM (VALUES 'ab') t(a)"
    assert "lp_int" in to_duckdb(big).lower()
    result = cli("query", "sql", "--engine", "duckdb", big)
    assert result.exit_code != 0 and "bigint multiplication overflow" in result.stderr
