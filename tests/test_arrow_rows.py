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
