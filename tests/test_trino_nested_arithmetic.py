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
