"""Writing a query's result exactly as the engine gave it: table, csv, json (lines), markdown, parquet.

The rows come from the engine's Arrow table (``QueryResult.table``), not from a pandas frame: a NULL
stays NULL (pandas would make an integer column float and a NULL in a list 0 or NaN), a BIGINT sum
stays an integer, a DECIMAL keeps its digits and scale. Parquet gets the Arrow table itself; the text
formats write each value from its Python value:

========== ======================= ==================== ================================
value      json                    csv                  table / markdown
========== ======================= ==================== ================================
NULL       null                    (empty)              (empty)
decimal    the number as written   as written           as written
double     the number; "NaN" and   repr; NaN, Infinity  same as csv
           "Infinity" as strings
timestamp  ISO 8601 text           ISO 8601             ISO 8601
array/map  JSON array/object       its JSON text        its JSON text
========== ======================= ==================== ================================
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
import sys
from collections.abc import Callable
from typing import Any

from logpipe.errors import UsageError


def as_arrow(result: Any) -> Any:
    """The engine's Arrow table, or one made from its rows (with the Arrow types DuckDB gives those
    column types) or (an engine that gave only a frame) from the frame."""
    import pyarrow as pa

    if getattr(result, "table", None) is not None:
        return result.table
    found = getattr(result, "rows", None)
    if found is not None:
        types = [_arrow_type(pa, kind) for kind in found.types]
        columns = [list(column) for column in zip(*found.rows, strict=True)] if found.rows else [[] for _ in types]
        return pa.table([pa.array(c, type=t) for c, t in zip(columns, types, strict=True)], names=list(found.names))
    return pa.Table.from_pandas(result.frame, preserve_index=False)


def _arrow_type(pa: Any, kind: str) -> Any:
    """The Arrow type DuckDB gives a plain column type (logpipe.engines.base.PLAIN_TYPES, DECIMAL)."""
    if kind.startswith("DECIMAL("):
        precision, scale = (int(n) for n in kind[len("DECIMAL("):-1].split(","))
        return pa.decimal128(precision, scale)
    return {"VARCHAR": pa.string(), "BOOLEAN": pa.bool_(), "TINYINT": pa.int8(), "SMALLINT": pa.int16(),
            "INTEGER": pa.int32(), "BIGINT": pa.int64(), "UTINYINT": pa.uint8(), "USMALLINT": pa.uint16(),
            "UINTEGER": pa.uint32(), "UBIGINT": pa.uint64(), "FLOAT": pa.float32(), "DOUBLE": pa.float64(),
            "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us"),
            "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC")}[kind]


def _interval_text(value: dt.timedelta) -> str:
    total_ms = round(value / dt.timedelta(milliseconds=1))
    sign = "-" if total_ms < 0 else ""
    total_ms = abs(total_ms)
    days, rest = divmod(total_ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{sign}{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _interval_text(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _is_decimal(value: Any) -> bool:
    """``isinstance(value, decimal.Decimal)`` without importing ``decimal`` (~1 ms of a short
    ``query run``): a Decimal exists only once its module was imported (DuckDB imports it for a DECIMAL)."""
    module = sys.modules.get("decimal")
    return module is not None and isinstance(value, module.Decimal)


def _json_value(value: Any) -> str:
    """One value as JSON text, exactly: decimals keep their digits, lists and maps stay structures."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return json.dumps(_scalar_text(value))
        return repr(value)
    if _is_decimal(value):
        return str(value) if value.is_finite() else json.dumps(str(value))
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_json_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list) and value and all(isinstance(item, tuple) and len(item) == 2 for item in value):
        return _json_value(dict(value))  # a map inside a list or row: Arrow gives its (key, value) pairs
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json_value(v) for v in value) + "]"
    return json.dumps(_scalar_text(value), ensure_ascii=False)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_UNIT = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}


def _values(column: Any) -> list[Any]:
    """A column's Python values. A zoned timestamp column is converted here, as UTC datetimes (the same
    instants; the text formats write them in UTC): pyarrow's own conversion imports pandas for its
    time zones, half a second of a short query's whole process."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_timestamp(kind) and kind.tz and kind.unit in _UNIT:
        unit = _UNIT[kind.unit]
        # a view of each chunk's integers (a cast would import pyarrow.compute, a tenth of the start-up)
        ints = [v for chunk in column.chunks for v in chunk.view(pa.int64()).to_pylist()]
        return [None if v is None else _EPOCH + dt.timedelta(**{unit: v}) for v in ints]
    return list(column.to_pylist())


def _rows(table: Any) -> list[list[Any]]:
    """The rows of an Arrow table as Python values, maps as dicts."""
    import pyarrow as pa

    columns = []
    for column in table.columns:
        values = _values(column)
        if pa.types.is_map(column.type):
            values = [None if v is None else dict(v) for v in values]
        columns.append(values)
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return _json_value(value)
    return _scalar_text(value)


def _cells() -> Callable[[Any], str]:
    """``_cell`` remembering the text of each value it has written (by type and value: ``True`` is not
    ``1``). Why: a result repeats its values (an hour bucket once per service and level), and writing
    an instant's ISO text is most of writing a row: a month's 3,282 rows took 10 ms."""
    memo: dict[tuple[type, Any], str] = {}

    def cell(value: Any) -> str:
        if value is None:
            return ""
        kind = value.__class__
        if kind is str:
            return value  # as _scalar_text
        if kind is int:  # (not bool: its own class)
            return str(value)
        try:
            key = (kind, value)
            text = memo.get(key)
        except TypeError:  # a list or dict
            return _cell(value)
        if text is None:
            text = memo[key] = _cell(value)
        return text

    return cell


def render(table: Any, fmt: str) -> str:
    """A text format of an Arrow table (csv, json lines, markdown)."""
    return render_rows(list(table.column_names), _rows(table), fmt)


def _names_and_rows(result: Any) -> tuple[list[str], list[list[Any]]]:
    """A result's column names and rows as Python values: its rows as the engine gave them (no Arrow
    table then, and no pyarrow), else from its Arrow table."""
    found = getattr(result, "rows", None)
    if found is not None:
        return list(found.names), [list(row) for row in found.rows]
    table = as_arrow(result)
    return list(table.column_names), _rows(table)


def render_rows(names: list[str], rows: list[list[Any]], fmt: str) -> str:
    """A text format (csv, json lines, markdown) of rows of Python values."""
    if fmt == "json":
        return "".join("{" + ",".join(f"{json.dumps(n, ensure_ascii=False)}:{_json_value(v)}" for n, v in zip(names, row, strict=True))
                       + "}\n" for row in rows)
    if fmt in ("csv", "table"):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        cell = _cells()
        writer.writerows([cell(v) for v in row] for row in rows)
        return out.getvalue()
    if fmt == "markdown":
        def md(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(md(n) for n in names) + " |", "| " + " | ".join("---" for _ in names) + " |"]
        cell = _cells()
        lines += ["| " + " | ".join(md(cell(v)) for v in row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    raise UsageError(f"unknown format {fmt!r}")


def write_result(result: Any, fmt: str, output: str | None, console: Any, stdout: Any) -> None:
    """Write a QueryResult in ``fmt`` to ``output`` (a file) or the terminal."""
    if fmt == "parquet":
        if not output:
            raise UsageError("--format parquet writes a binary file: give --output FILE.parquet")
        import pyarrow.parquet as pq

        pq.write_table(as_arrow(result), output)
        return
    names, rows = _names_and_rows(result)
    if fmt == "table" and not output:
        from rich.table import Table

        view = Table(show_lines=False)
        for name in names:
            view.add_column(str(name), overflow="fold")
        for row in rows:
            view.add_row(*(_cell(v) for v in row))
        console.print(view)
        return
    text = render_rows(names, rows, fmt)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        stdout.write(text)
        stdout.flush()


__all__ = ["as_arrow", "render", "render_rows", "write_result"]
