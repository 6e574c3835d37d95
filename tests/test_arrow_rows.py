"""Arrow helpers that keep pandas out of a run cycle: text columns built from their buffers and
result rows read from Arrow, checked against pyarrow's own constructors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logpipe.queries.arrow import result_rows, text_array


@pytest.mark.parametrize("arrow_type", [pa.string(), pa.large_string()])
@settings(deadline=None)  # the first pa.array imports pandas
@given(values=st.lists(st.one_of(st.none(), st.text()), max_size=40))
def test_text_array_equals_pyarrows_own(arrow_type: pa.DataType, values: list[str | None]) -> None:
    built = text_array(values, arrow_type)
    built.validate(full=True)
    assert built.equals(pa.array(values, type=arrow_type))
    assert built.null_count == values.count(None)


class _Result:
    def __init__(self, table: Any) -> None:
        self.table = table


def test_result_rows_read_zoned_timestamps_as_utc_instants() -> None:
    instant = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    table = pa.table({
        "utc": pa.array([instant, None], pa.timestamp("us", tz="UTC")),
        "paris": pa.array([instant, None], pa.timestamp("us", tz="Europe/Paris")),
        "naive": pa.array([instant.replace(tzinfo=None), None], pa.timestamp("ms")),
        "n": pa.array([3, None], pa.int64()),
        "s": pa.array(["a", None], pa.string()),
    })
    rows = result_rows(_Result(table))
    naive = instant.replace(tzinfo=None)
    assert rows == [{"utc": naive, "paris": naive, "naive": naive, "n": 3, "s": "a"},
                    {"utc": None, "paris": None, "naive": None, "n": None, "s": None}]


def test_result_rows_of_a_zoned_column_in_several_chunks_need_no_compute_module() -> None:
    """The zoned column is read through a view of its integers (no cast: pyarrow.compute stays out of a
    run cycle), chunk by chunk, sliced chunks and NULLs kept."""
    import subprocess
    import sys

    code = """
import sys, duckdb, pyarrow as pa
from logpipe.queries.arrow import result_rows
con = duckdb.connect(); con.execute("SET TimeZone='Europe/Paris'")
t = con.sql("SELECT TIMESTAMPTZ '2026-01-05 23:30:00+00' AS ts, 1 AS n UNION ALL SELECT NULL, 2").to_arrow_table()
col = t.column(0)
parts = pa.chunked_array([*col.chunks, col.chunks[0].slice(0, 1)], type=col.type)
class R: table = pa.table({"ts": parts})
rows = result_rows(R)
assert [r["ts"].isoformat() if r["ts"] else None for r in rows] == ["2026-01-05T23:30:00", None, "2026-01-05T23:30:00"], rows
assert "pyarrow.compute" not in sys.modules and "pandas" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True)
