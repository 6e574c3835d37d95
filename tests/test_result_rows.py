"""``logpipe query run`` writing text takes DuckDB's Python values instead of its Arrow table when every
column is of a plain type (``logpipe.engines.base.PLAIN_TYPES``): the same text, byte for byte, as
from the Arrow table, the same redaction, and the same Arrow table when one is asked for after all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
from support.configs import config_for
from support.records import SHIPPED

from logpipe.cli.results import as_arrow, render, render_rows
from logpipe.engines.base import Rows, plain_type
from logpipe.queries.runner import run_query, run_sql

# Every plain type, with the values that tell conversions apart: NULL, NaN, infinities, -0.0, the
# limits of the integers, a float32 that is not a short decimal, text that CSV and JSON must quote.
EDGES = """
SELECT * FROM (VALUES
  ('plain', true, (-128)::TINYINT, (-32768)::SMALLINT, (-2147483648)::INTEGER, (-9223372036854775808)::BIGINT,
   255::UTINYINT, 65535::USMALLINT, 4294967295::UINTEGER, 18446744073709551615::UBIGINT,
   0.1::FLOAT, 'nan'::DOUBLE, 1.50::DECIMAL(5,2), 123456789012345678.123::DECIMAL(38,3), DATE '1969-12-31',
   TIMESTAMP '1969-12-31 23:59:59.999999', TIMESTAMPTZ '2024-01-01 05:06:07.000123+02'),
  ('edge "quoted", comma' || chr(10) || 'newline é ☃', false, 127::TINYINT, 32767::SMALLINT, 2147483647::INTEGER,
   9223372036854775807::BIGINT, 0::UTINYINT, 0::USMALLINT, 0::UINTEGER, 0::UBIGINT, 'inf'::FLOAT, '-inf'::DOUBLE,
   (-0.01)::DECIMAL(5,2), 0::DECIMAL(38,3), DATE '2024-02-29', TIMESTAMP '2024-01-01 00:00:00',
   TIMESTAMPTZ '1900-01-01 00:00:00+00'),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '-0.0'::FLOAT, (-0.0)::DOUBLE, NULL, NULL, NULL, NULL,
   NULL)
) AS t(s, b, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, d, big, day, ts, tstz)
"""


@pytest.fixture
def con() -> Any:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone='UTC'")
    yield con
    con.close()


class _Result:
    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.table = None


def test_every_plain_type_writes_the_same_text_from_rows_as_from_arrow(con: Any) -> None:
    relation = con.sql(EDGES)
    types = [str(t) for t in relation.types]
    assert all(plain_type(t) for t in types), types
    rows = Rows(list(relation.columns), types, relation.fetchall())
    table = con.sql(EDGES).to_arrow_table()
    for fmt in ("csv", "json", "markdown"):
        assert render_rows(rows.names, [list(r) for r in rows.rows], fmt) == render(table, fmt), fmt
    # the Arrow table made from the rows (parquet, a frame) is DuckDB's own
    made = as_arrow(_Result(rows))
    assert made.schema == table.schema
    assert made.to_pylist() == table.to_pylist() or repr(made.to_pylist()) == repr(table.to_pylist())  # NaN != NaN


@pytest.mark.parametrize("sql", ["SELECT [1, 2] AS l", "SELECT {'a': 1} AS s", "SELECT INTERVAL 1 MONTH AS i",
                                 "SELECT uuid() AS u", "SELECT 'x'::BLOB AS b", "SELECT 1::HUGEINT AS h",
                                 "SELECT TIME '01:02:03' AS t", "SELECT TIMESTAMP_NS '2024-01-01 00:00:00' AS t",
                                 "SELECT MAP {'k': 'v'} AS m"])
def test_other_types_are_not_plain(con: Any, sql: str) -> None:
    assert not all(plain_type(str(t)) for t in con.sql(sql).types)


def test_rows_are_redacted_like_the_arrow_table(tmp_store: Any) -> None:
    config = config_for(tmp_store)
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 1, tzinfo=UTC)
    sql = "SELECT 'password=hunter2 at ops@example.com' AS said, 1 AS n, CAST(NULL AS varchar) AS nothing"
    as_rows = run_sql(config, sql, start, end, rows=True)
    as_table = run_sql(config, sql, start, end)
    assert as_rows.rows is not None and as_rows.table is None and as_table.table is not None
    assert "hunter2" not in repr(as_rows.rows.rows) and "ops@example.com" not in repr(as_rows.rows.rows)
    assert [list(r) for r in as_rows.rows.rows] == [list(r.values()) for r in as_table.table.to_pylist()]
    assert as_rows.num_rows == as_table.num_rows == 1


@pytest.mark.slow
def test_every_shipped_query_writes_the_same_text_from_rows(tmp_store: Any) -> None:
    from logpipe.simulate import simulate

    end = datetime(2024, 1, 1, 6, tzinfo=UTC)
    simulate(tmp_store, end - timedelta(hours=2), end, seed=5, rate=0.1)
    config = config_for(tmp_store)
    params: dict[str, dict[str, str]] = {"trace_lines": {"id": "x"}, "pattern_lines": {"patterns": "x"}}
    for name in SHIPPED:
        as_rows = run_query(config, name, end - timedelta(hours=2), end, params.get(name), rows=True)
        as_table = run_query(config, name, end - timedelta(hours=2), end, params.get(name))
        assert as_rows.rows is not None and as_rows.table is None, name  # every shipped query's columns are plain
        for fmt in ("csv", "json", "markdown"):
            assert render_rows(as_rows.rows.names, [list(r) for r in as_rows.rows.rows], fmt) == \
                render(as_table.table, fmt), (name, fmt)
        assert as_rows.stats.bad_records == as_table.stats.bad_records, name


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_a_value_written_again_is_written_the_same_and_equal_values_of_other_types_apart(fmt: str) -> None:
    """The text formats remember each value's text (logpipe.cli.results._cells): ``True`` is not ``1``,
    ``1.0`` is not ``1``, an instant repeated is the same text, a list is written each time."""
    from decimal import Decimal

    at = datetime(2026, 1, 5, 3, tzinfo=UTC)
    rows = [[True, at, [1, 2]], [1, at, [1, 2]], [1.0, at.replace(tzinfo=None), None], [Decimal("1.00"), at, []]]
    text = render_rows(["v", "t", "l"], rows, fmt)
    cells = [line.replace("| ", "").replace(" |", "").split("," if fmt == "csv" else " ") for line in text.splitlines()]
    assert [c[0] for c in cells[-4:]] == ["true", "1", "1.0", "1.00"]
    assert text.count("2026-01-05T03:00:00Z") == 3 and text.count("2026-01-05T03:00:00") == 4
