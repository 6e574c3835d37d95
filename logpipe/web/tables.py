"""Result tables for the browser: JSON rows, the automatic chart, and the downloads.

Values come from Arrow (``logpipe.queries.arrow``), so a NULL stays ``null``, a 64-bit integer stays
an integer and a timestamp is ISO 8601 in UTC - in the table, the JSON download and the chart alike.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from logpipe.queries.arrow import columns_of, is_number, is_time, to_parquet

DOWNLOADS = {"csv": "text/csv; charset=utf-8", "json": "application/json",
             "parquet": "application/vnd.apache.parquet"}
MAX_CHART_SERIES = 12


def json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        # exact, and no longer than it needs: seconds, milliseconds or microseconds
        spec = "seconds" if not moment.microsecond else ("milliseconds" if moment.microsecond % 1000 == 0
                                                         else "microseconds")
        return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def table_json(table: pa.Table, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    """``{"columns": [{"name", "type"}], "rows": [[...], ...]}`` for rows ``offset .. offset+limit``."""
    part = table.slice(offset, limit) if (offset or limit is not None) else table
    columns = columns_of(table)
    data = part.to_pydict()
    rows = [[json_value(data[name][i]) for name, _ in columns] for i in range(part.num_rows)]
    return {"columns": [{"name": n, "type": t} for n, t in columns], "rows": rows,
            "offset": offset, "total": table.num_rows}


def _epoch_seconds(value: Any) -> float | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    return None


def chart_spec(table: pa.Table) -> dict[str, Any] | None:
    """A time-series chart of a result that has a time column and a number column, else None.

    The first time column is x; each number column is a series, or - when the result also has a
    text column with a few values (a service, a level) - the first number column split by it."""
    schema = table.schema
    time_cols = [f.name for f in schema if is_time(f.type)]
    number_cols = [f.name for f in schema if is_number(f.type)]
    if not time_cols or not number_cols or table.num_rows == 0:
        return None
    x_name = time_cols[0]
    data = table.to_pydict()
    split = None
    for f in schema:
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            distinct = {v for v in data[f.name] if v is not None}
            if 1 < len(distinct) <= MAX_CHART_SERIES:
                split = f.name
                break
    sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    xs: set[float] = set()
    for i in range(table.num_rows):
        x = _epoch_seconds(data[x_name][i])
        if x is None:
            continue
        xs.add(x)
        if split:
            value = data[number_cols[0]][i]
            if value is not None:
                sums[f"{data[split][i]}"][x] += float(value)
        else:
            for name in number_cols:
                value = data[name][i]
                if value is not None:
                    sums[name][x] += float(value)
    if not xs:
        return None
    ordered = sorted(xs)
    labels = sorted(sums)[:MAX_CHART_SERIES]
    series = [{"label": label, "values": [sums[label].get(x) for x in ordered]} for label in labels]
    title = f"{number_cols[0]} by {split}" if split else ", ".join(number_cols)
    return {"x": ordered, "x_label": x_name, "series": series, "title": title}


def _csv_ready(table: pa.Table) -> pa.Table:
    """Nested values (lists, structs) as JSON text: CSV has no nesting."""
    columns = []
    for column in table.columns:
        if pa.types.is_nested(column.type):
            column = pa.array([None if v is None else json.dumps(json_value(v)) for v in column.to_pylist()],
                              pa.string())
        columns.append(column)
    return pa.table(dict(zip(table.column_names, columns, strict=True)))


def download(table: pa.Table, fmt: str) -> bytes:
    """The table as CSV (header row, ISO timestamps), a JSON array of objects, or Parquet."""
    if fmt == "parquet":
        return to_parquet(table)
    if fmt == "json":
        data = table.to_pylist()
        return json.dumps([{k: json_value(v) for k, v in row.items()} for row in data],
                          ensure_ascii=False).encode("utf-8")
    if fmt == "csv":
        sink = io.BytesIO()
        pacsv.write_csv(_csv_ready(table), sink)
        return sink.getvalue()
    raise ValueError(f"unknown download format {fmt!r}: use one of {', '.join(DOWNLOADS)}")


__all__ = ["DOWNLOADS", "chart_spec", "download", "json_value", "table_json"]
