"""DuckDB: the saved queries on one machine, over the store's gzip JSON lines.

Only the window's objects are read: the store lists the window's hour partitions (the one layout of
logpipe.layout) and DuckDB gets that file list, reading the gzip files itself with all its threads.
On an ``s3://`` store the object store copies the window's objects into its download cache first
(httpfs is a download and fails offline). Lines DuckDB cannot read are counted by reason by
``logpipe.engines.bad_records``, never silently dropped.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from logpipe.config import EngineConfig
from logpipe.engines.bad_records import BadRecordCounter
from logpipe.engines.base import Progress, QueryStats
from logpipe.engines.binding import BoundStatement, prepare_tree
from logpipe.engines.raw_sql import connect, empty_raw_sql, quoted, read_json_sql, readable_directories
from logpipe.engines.transpile import placeholders, rewrite_for_duckdb, to_duckdb
from logpipe.errors import EngineError
from logpipe.schema import PARTITION_COLUMNS, RAW_COLUMNS, logs_view_sql
from logpipe.store import Store

RAW_TABLE = "logs_raw"


def compile_duckdb(statement: BoundStatement) -> tuple[str, dict[str, Any]]:
    """The DuckDB text of a statement and the named values it binds (``$name``)."""
    tree = prepare_tree(statement.tree, statement.values, statement.types)
    used = placeholders(tree)
    sql = rewrite_for_duckdb(tree).sql(dialect="duckdb")
    return sql, {name: statement.values[name] for name in used}


class DuckDBEngine:
    """Runs statements on an in-memory DuckDB whose ``logs`` view covers one window of the store."""

    name = "duckdb"

    def __init__(self, settings: EngineConfig, store: Store, bad_records: BadRecordCounter | None = None) -> None:
        self.settings = settings
        self.store = store
        self.bad_records = bad_records  # None: bad records are not counted

    def connect(self, files: list[str]) -> Any:
        """A DuckDB connection with ``logs_raw`` over the files and the ``logs`` view."""
        con = connect(self.settings, readable=readable_directories(files))
        try:
            cols = ", ".join(quoted(c) for c in (*RAW_COLUMNS, *PARTITION_COLUMNS))
            source = f"SELECT {cols} FROM {read_json_sql(files)}" if files else empty_raw_sql()
            con.execute(f"CREATE VIEW {RAW_TABLE} AS {source}")
            con.execute(f"CREATE VIEW logs AS {to_duckdb(logs_view_sql(RAW_TABLE))}")
        except Exception:
            con.close()
            raise
        return con

    def run(self, statement: BoundStatement, progress: Progress | None = None
            ) -> tuple[pd.DataFrame, QueryStats]:
        started = time.perf_counter()
        sql, values = compile_duckdb(statement)
        if progress:
            progress("listing partitions")
        objects = self.store.list_objects(statement.window_start, statement.window_end)
        files = self.store.local_paths(objects, progress)
        con = self.connect(files)
        try:
            if progress:
                progress(f"reading {len(files)} objects")
            try:
                frame = con.execute(sql, values).df()
            except Exception as exc:
                raise EngineError(f"DuckDB failed: {_one_line(exc)}") from exc
            bad = self.bad_records.count(files, con) if (self.bad_records is not None and files) else {}
        finally:
            con.close()
        stats = QueryStats(engine=self.name, bytes_scanned=sum(o.size for o in objects),
                           engine_ms=(time.perf_counter() - started) * 1000, cost_usd=0.0,
                           files_scanned=len(files), bad_records=bad)
        return frame, stats

    def explain(self, statement: BoundStatement, analyze: bool = True) -> str:
        """DuckDB's plan (with ANALYZE: the files it really scanned) for the statement."""
        sql, values = compile_duckdb(statement)
        files = self.store.local_paths(self.store.list_objects(statement.window_start, statement.window_end))
        con = self.connect(files)
        try:
            rows = con.execute(("EXPLAIN ANALYZE " if analyze else "EXPLAIN ") + sql, values).fetchall()
        finally:
            con.close()
        return "\n".join(str(r[-1]) for r in rows)

    def close(self) -> None:
        pass


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) < 600 else text[:597] + "..."


__all__ = ["RAW_TABLE", "DuckDBEngine", "compile_duckdb"]
