"""Query results as Arrow tables: typed columns for the console's table, chart, downloads and the
kept results of scheduled runs.

Why Arrow: it keeps each column's type (timestamps with their zone, 64-bit integers, lists) through
Parquet and into JSON, where a pandas round trip would turn a NULL integer into a float. Engines still
hand back pandas frames; ``from_frame`` converts once, here.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


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
