"""How DuckDB reads the store's objects: the ``read_json`` call with the contract's schema, and the
connection settings every DuckDB connection of logpipe gets.

Shared by the engine (the ``logs_raw`` view) and the bad-record count (which reads the same files).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from logpipe.config import EngineConfig
from logpipe.schema import PARTITION_COLUMNS, RAW_COLUMNS

MAX_OBJECT_SIZE = 16 * 1024 * 1024  # one record (JSON object) may be this large before it is "bad"


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _columns_struct() -> str:
    return "{" + ", ".join(f"{sql_string(c)}: 'VARCHAR'" for c in RAW_COLUMNS) + "}"


def read_json_sql(files: Sequence[str], filename: bool = False) -> str:
    """``read_json`` over exact files with the contract's schema (every raw column VARCHAR)."""
    listed = "[" + ", ".join(sql_string(f) for f in files) + "]"
    extra = ", filename=true" if filename else ""
    return (f"read_json({listed}, format='newline_delimited', compression='gzip', "
            f"columns={_columns_struct()}, hive_partitioning=true, hive_types_autocast=false, "
            f"ignore_errors=true, maximum_object_size={MAX_OBJECT_SIZE}{extra})")


def empty_raw_sql() -> str:
    """A query with the raw table's columns and no rows (a window with no objects)."""
    cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {quoted(c)}" for c in (*RAW_COLUMNS, *PARTITION_COLUMNS))
    return f"SELECT {cols} WHERE false"


def all_null_predicate() -> str:
    """True for the row ``read_json(ignore_errors)`` makes of a line it could not read."""
    return "coalesce(" + ", ".join(quoted(c) for c in RAW_COLUMNS) + ") IS NULL"


def connect(settings: EngineConfig, threads: int = 0) -> Any:
    """An in-memory DuckDB connection in UTC, with ``[engine] threads`` and ``memory_limit``."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone='UTC'")
        if threads or settings.threads:
            con.execute(f"SET threads={int(threads or settings.threads or 1)}")
        if settings.memory_limit:
            con.execute(f"SET memory_limit={sql_string(settings.memory_limit)}")
    except Exception:
        con.close()
        raise
    return con


__all__ = ["MAX_OBJECT_SIZE", "all_null_predicate", "connect", "empty_raw_sql", "quoted", "read_json_sql",
           "sql_string"]
