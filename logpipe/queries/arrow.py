"""Query results as Arrow tables: typed columns for the console's table, chart, downloads and the
kept results of scheduled runs.

Why Arrow: it keeps each column's type (timestamps with their zone, 64-bit integers, lists) through
Parquet and into JSON, where a pandas round trip would turn a NULL integer into a float. Engines still
hand back pandas frames; ``from_frame`` converts once, here.
"""

from __future__ import annotations

import array
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:  # pandas only for a frame to convert: the kept results of a run cycle never need it
    import pandas as pd


def from_frame(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table; a column Arrow cannot type (mixed objects) becomes text."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        columns = {}
        for name in frame.columns:
            try:
                columns[str(name)] = pa.array(frame[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                columns[str(name)] = pa.array([None if v is None else str(v) for v in frame[name]], pa.string())
        return pa.table(columns)


def text_array(values: Sequence[str | None], arrow_type: pa.DataType) -> pa.Array:
    """A string (or large string) column of ``values``, built from its buffers.

    Why not ``pa.array``: every ``pa.array`` call makes pyarrow import pandas (about a third of a
    second, once per process) to see whether it was given a Series; a run cycle redacting one result
    would pay that for nothing else."""
    encoded: list[bytes] = []
    offsets = array.array("q" if pa.types.is_large_string(arrow_type) else "i", [0])
    validity = bytearray((len(values) + 7) // 8)
    nulls = 0
    for i, value in enumerate(values):
        size = 0
        if value is None:
            nulls += 1
        else:
            encoded.append(value.encode("utf-8"))
            size = len(encoded[-1])
            validity[i // 8] |= 1 << (i % 8)
        offsets.append(offsets[-1] + size)
    return pa.Array.from_buffers(arrow_type, len(values), [pa.py_buffer(bytes(validity)),
                                                          pa.py_buffer(offsets.tobytes()),
                                                          pa.py_buffer(b"".join(encoded))], nulls)


def result_rows(result: Any) -> list[dict[str, Any]]:
    """A QueryResult's rows as dicts, from the engine's Arrow table when it gave one (Athena: its
    frame). A zoned timestamp comes back naive, in UTC: Arrow keeps the UTC instant whatever the
    zone, and a zoned column's ``to_pylist`` makes pyarrow import pandas (a third of a second, once
    per process) to build its datetimes. The naive column is a view of the zoned one's integers (the
    same UTC instants): a ``cast`` would import ``pyarrow.compute``, ~25 ms of a run cycle's first
    detection."""
    table = getattr(result, "table", None)
    if table is None:
        return list(result.frame.to_dict("records"))
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            naive = pa.timestamp(f.type.unit)
            table = table.set_column(i, pa.field(f.name, naive, f.nullable),
                                     pa.chunked_array([c.view(naive) for c in table.column(i).chunks], type=naive))
    return list(table.to_pylist())


def table_of(result: Any) -> pa.Table:
    """A QueryResult's rows as Arrow: the engine's own table when it gave one (exact types, NULLs kept),
    else its frame converted."""
    table = getattr(result, "table", None)
    return table if table is not None else from_frame(result.frame)


def to_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def from_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def type_name(arrow_type: pa.DataType) -> str:
    """A short, stable name of a column's type for people and the API (``timestamp``, ``int64``...)."""
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_integer(arrow_type):
        return str(arrow_type)
    if pa.types.is_floating(arrow_type):
        return "double" if arrow_type.bit_width == 64 else "float"
    if pa.types.is_decimal(arrow_type):
        return "decimal"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"array<{type_name(arrow_type.value_type)}>"
    if pa.types.is_null(arrow_type):
        return "null"
    return str(arrow_type)


def columns_of(table: pa.Table) -> list[tuple[str, str]]:
    return [(field.name, type_name(field.type)) for field in table.schema]


def is_time(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type))


def is_number(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
                or pa.types.is_decimal(arrow_type))


def head(table: pa.Table, rows: int) -> pa.Table:
    return table.slice(0, rows) if table.num_rows > rows else table


__all__ = ["columns_of", "from_frame", "from_parquet", "head", "is_number", "is_time", "table_of", "to_parquet", "type_name"]
