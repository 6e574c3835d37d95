"""Athena: the saved queries at scale, through pyathena's default cursor.

* ``logs`` is the configured Glue table seen through the same normalising view as on DuckDB:
  ``WITH logs AS (<logpipe.schema.logs_view_sql("db"."table")>)`` is put in front of the query.
* Values are bound with Athena's own ExecutionParameters (pyathena ``paramstyle="qmark"``): Athena
  binds each one as a single literal, server side. pyathena's ``pyformat`` style would escape the
  values and paste them into the text, which is exactly what we do not want. Named placeholders are
  rewritten to ``?`` on the AST, in the order the SQL generator writes them.
* Polling backs off (``poll_interval_seconds`` doubling to 5 s); past ``timeout_seconds`` the query is
  stopped (StopQueryExecution) and the run fails saying so. FAILED and CANCELLED carry Athena's
  StateChangeReason.
* Results stream in pages (``fetchmany``) into pandas frames, so a large result is not held both as
  Python rows and as a frame.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlglot import exp

from logpipe.config import EngineConfig
from logpipe.engines.base import Cancel, Progress, QueryCancelled, QueryStats, athena_cost
from logpipe.engines.binding import SQL_TYPES, BoundStatement, athena_literal, prepare_tree
from logpipe.engines.transpile import parse, to_athena_positional
from logpipe.errors import EngineError
from logpipe.schema import compacted_view_sql, logs_view_sql

MAX_POLL_SECONDS = 5.0
CHUNK_ROWS = 10_000


@functools.lru_cache(maxsize=8)
def _logs_view(table: str) -> exp.Expression:
    """The parsed ``logs`` view over the Glue table (parsed once: it is the same for every query)."""
    return parse(logs_view_sql(table), source="logpipe.schema.LOGS_VIEW_SQL")


@functools.lru_cache(maxsize=64)
def _view_text(table: str, parquet_table: str | None, watermark: str | None, daily_table: str | None = None,
               day_watermark: str | None = None) -> str:
    view = _logs_view(table) if parquet_table is None or watermark is None \
        else _split_view(table, parquet_table, watermark, daily_table, day_watermark)
    sql, order = to_athena_positional(view.copy())
    if order:  # the view is fixed text: a placeholder in it would take a statement's parameter
        raise EngineError(f"the logs view has placeholders: {order}")
    return sql


@functools.lru_cache(maxsize=64)
def _split_view(table: str, parquet_table: str, watermark: str, daily_table: str | None = None,
                day_watermark: str | None = None) -> exp.Expression:
    """The ``logs`` view over both forms (``logpipe compact``): the hours before the compaction
    watermark from the Parquet table, the others from the JSON table; each hour from one of them.
    With the merged days (``daily_table``, ``day_watermark``): the days before the day watermark from
    the day table, the hours from there to the compaction watermark from the Parquet hours' table.

    ``watermark`` is ``YYYY-MM-DDHH`` (validated by the caller), compared like the saved queries'
    ``concat(dt, hour)`` bounds; ``day_watermark`` is ``YYYY-MM-DD``, never past the hour watermark's
    day (a day before it lies wholly before the hour watermark). The ``dt`` predicates let partition
    projection prune each side. DuckDB reads the same records (``logpipe.store.compacted.split_hours``)
    and also checks each file's fingerprint; the compactor keeps the two alike by moving the day
    watermark back over a day while it replaces its file."""
    day = exp.Literal.string(watermark[:10]).sql(dialect="trino")
    mark = exp.Literal.string(watermark).sql(dialect="trino")
    raw = logs_view_sql(table)
    compacted = compacted_view_sql(parquet_table)
    parts = []
    hours_from = ""
    if daily_table is not None and day_watermark is not None:
        days_before = exp.Literal.string(min(day_watermark[:10], watermark[:10])).sql(dialect="trino")
        parts.append(f"SELECT * FROM ({compacted_view_sql(daily_table)}) AS daily WHERE dt < {days_before}")
        hours_from = f"dt >= {days_before} AND "
    parts.append(f"SELECT * FROM ({compacted}) AS compacted WHERE {hours_from}dt <= {day} AND concat(dt, hour) < {mark}")
    parts.append(f"SELECT * FROM ({raw}) AS raw WHERE dt >= {day} AND concat(dt, hour) >= {mark}")
    return parse(" UNION ALL ".join(parts), source="logpipe.schema.COMPACTED_VIEW_SQL")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class AthenaEngine:
    """Runs statements on Amazon Athena (or any endpoint AWS_ENDPOINT_URL points at)."""

    name = "athena"

    def __init__(self, settings: EngineConfig, region: str | None = None, chunk_rows: int = CHUNK_ROWS,
                 parquet_table: str | None = None, watermark: Callable[[], datetime | None] | None = None,
                 daily_table: str | None = None, day_watermark: Callable[[], datetime | None] | None = None) -> None:
        self.settings = settings
        self.region = region
        self.chunk_rows = chunk_rows
        # The compacted hours' table and where its watermark comes from (None: the JSON table only).
        self.parquet_table = parquet_table
        self.watermark = watermark
        # The merged days' table and its watermark (None: the hours' table for every compacted hour).
        self.daily_table = daily_table
        self.day_watermark = day_watermark

    # -- SQL ----------------------------------------------------------------------------------

    def table(self) -> str:
        cfg = self.settings
        return f"{_quote_ident(cfg.database)}.{_quote_ident(cfg.table)}"

    def compile(self, statement: BoundStatement) -> tuple[str, list[str]]:
        """Athena SQL with ``?`` placeholders, and the ExecutionParameters in their order."""
        tree = prepare_tree(statement.tree, statement.values, statement.types)
        values: dict[str, Any] = {}
        kinds: dict[str, str] = {}

        def bind(node: exp.Expression) -> exp.Expression:
            if not isinstance(node, exp.Placeholder) or node.meta.get("logpipe_bound"):
                return node
            name = node.name
            if name not in statement.values:
                raise EngineError(f"placeholder ':{name}' has no value")
            param = statement.types[name]
            value = statement.values[name]
            if param.type == "list":
                items = []
                for index, item in enumerate(value):
                    key = f"{name}#{index}"
                    values[key], kinds[key] = item, param.item_type
                    items.append(self._placeholder(key, param.item_type))
                array = exp.Array(expressions=items)
                if not items:
                    inner = SQL_TYPES.get(param.item_type, "VARCHAR")
                    return exp.cast(array, exp.DataType.build(f"ARRAY<{inner}>"))
                return array
            values[name], kinds[name] = value, param.type
            return self._placeholder(name, param.type)

        tree = tree.transform(bind, copy=False)
        existing = tree.args.get("with_")
        if existing is not None and existing.args.get("recursive"):
            # WITH RECURSIVE applies to every CTE of the list: the view goes in as a tree.
            cte = exp.CTE(this=self.view().copy(), alias=exp.TableAlias(this=exp.to_identifier("logs")))
            existing.set("expressions", [cte, *existing.expressions])
            sql, order = to_athena_positional(tree)
        else:
            # The view has no placeholders and is the same for every statement: its text is written
            # once and put in front of the statement's (writing the view's tree with every
            # statement cost ~40 ms a statement, most of an Athena compile).
            sql, order = to_athena_positional(tree)
            view = self.view_sql()
            sql = (f"WITH logs AS ({view}), {sql[len('WITH '):]}" if existing is not None
                   else f"WITH logs AS ({view}) {sql}")
        return sql, [athena_literal(values[name], kinds[name]) for name in order]  # type: ignore[arg-type]

    def view_sql(self) -> str:
        """The ``logs`` view's Athena text, as :meth:`compile` puts it in front of each statement."""
        return _view_text(self.table(), *self._split())

    def view(self) -> exp.Expression:
        """The ``logs`` view: over the JSON table, or split at the compaction watermarks."""
        parquet, mark, daily, day_mark = self._split()
        if parquet is None or mark is None:
            return _logs_view(self.table())
        return _split_view(self.table(), parquet, mark, daily, day_mark)

    def _split(self) -> tuple[str | None, str | None, str | None, str | None]:
        """The Parquet hours' table and watermark (``YYYY-MM-DDHH``), the days' table and watermark
        (``YYYY-MM-DD``), each None when not in use. The day watermark is read only past the first."""
        mark = self.watermark() if self.watermark is not None and self.parquet_table else None
        if mark is None or self.parquet_table is None:
            return None, None, None, None
        db = _quote_ident(self.settings.database)
        day_mark = self.day_watermark() if self.day_watermark is not None and self.daily_table else None
        daily = f"{db}.{_quote_ident(self.daily_table)}" if day_mark is not None and self.daily_table else None
        return (f"{db}.{_quote_ident(self.parquet_table)}", mark.strftime("%Y-%m-%d%H"), daily,
                day_mark.strftime("%Y-%m-%d") if daily is not None and day_mark is not None else None)

    @staticmethod
    def _placeholder(name: str, kind: str) -> exp.Expression:
        node = exp.Placeholder(this=name)
        node.meta["logpipe_bound"] = True
        if kind == "timestamp":  # bound as ISO 8601 text; Athena parses it into a timestamp
            return exp.Anonymous(this="from_iso8601_timestamp", expressions=[node])
        return node

    # -- running ------------------------------------------------------------------------------

    def run(self, statement: BoundStatement, progress: Progress | None = None, cancel: Cancel | None = None
            ) -> tuple[pd.DataFrame, QueryStats]:
        frame, _, stats = self.run_result(statement, progress, cancel)
        return frame, stats

    def run_result(self, statement: BoundStatement, progress: Progress | None = None, cancel: Cancel | None = None
                   ) -> tuple[pd.DataFrame, Any, QueryStats]:
        """The result as a frame and as an Arrow table typed from Athena's column types, and its stats."""
        from pyathena import connect
        from pyathena.cursor import Cursor
        from pyathena.error import DatabaseError

        cfg = self.settings
        sql, parameters = self.compile(statement)
        started = time.monotonic()
        seen: dict[str, Any] = {"execution": None, "timed_out": False, "stopped": False}
        holder: dict[str, Any] = {}

        def on_poll(execution: Any) -> None:
            seen["execution"] = execution
            if progress:
                progress(f"Athena {execution.state} ({time.monotonic() - started:.0f}s)")
            if (cancel is not None and cancel.is_set() and not seen["stopped"]
                    and execution.state not in ("SUCCEEDED", "FAILED", "CANCELLED")):
                seen["cancelled"] = seen["stopped"] = True
                holder["cursor"]._cancel(execution.query_id)  # StopQueryExecution
            if (time.monotonic() - started > cfg.timeout_seconds and not seen["stopped"]
                    and execution.state not in ("SUCCEEDED", "FAILED", "CANCELLED")):
                seen["timed_out"] = seen["stopped"] = True
                holder["cursor"]._cancel(execution.query_id)  # StopQueryExecution

        class BackoffCursor(Cursor):
            """pyathena's cursor with a poll interval that doubles up to MAX_POLL_SECONDS."""

            _delay = cfg.poll_interval_seconds

            def _wait_poll_interval(self) -> None:
                time.sleep(self._delay)
                self._delay = min(self._delay * 2, MAX_POLL_SECONDS)

        try:
            conn = connect(work_group=cfg.workgroup, schema_name=cfg.database,
                           s3_staging_dir=cfg.output_location, region_name=self.region,
                           poll_interval=cfg.poll_interval_seconds, on_poll=on_poll,
                           cursor_class=BackoffCursor)
        except Exception as exc:
            raise EngineError(f"cannot connect to Athena (workgroup {cfg.workgroup}): {exc}") from exc
        try:
            cursor = conn.cursor()
            holder["cursor"] = cursor
            try:
                cursor.execute(sql, parameters or None, paramstyle="qmark")
            except DatabaseError as exc:
                raise self._failure(cursor, seen, exc) from exc
            except Exception as exc:
                raise EngineError(f"Athena request failed: {' '.join(str(exc).split())}") from exc
            columns = [d[0] for d in cursor.description or []]
            kinds = [str(d[1]) for d in cursor.description or []]
            frames = []
            batches = []
            while True:
                rows = cursor.fetchmany(self.chunk_rows)
                if not rows:
                    break
                frames.append(pd.DataFrame.from_records(rows, columns=columns))
                batches.append(arrow_from_rows(columns, kinds, rows))
                if progress:
                    progress(f"fetching results ({sum(len(f) for f in frames)} rows)")
            frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
            table = _concat_tables(batches) if batches else arrow_from_rows(columns, kinds, [])
            scanned = int(cursor.data_scanned_in_bytes or 0)
            stats = QueryStats(engine=self.name, bytes_scanned=scanned,
                               engine_ms=float(cursor.engine_execution_time_in_millis or 0),
                               cost_usd=athena_cost(scanned), query_id=cursor.query_id)
        finally:
            conn.close()
        return frame, table, stats

    def _failure(self, cursor: Any, seen: dict[str, Any], exc: Exception) -> EngineError:
        execution = seen["execution"]
        query_id = getattr(execution, "query_id", None) or cursor.query_id
        if seen.get("cancelled"):
            return QueryCancelled(f"Athena query {query_id} was cancelled (StopQueryExecution)")
        if seen["timed_out"]:
            return EngineError(
                f"Athena query {query_id} ran longer than [engine] timeout_seconds="
                f"{self.settings.timeout_seconds:g} and was stopped (StopQueryExecution); "
                "narrow the window or raise the timeout")
        state = getattr(execution, "state", None) or "FAILED"
        reason = getattr(execution, "state_change_reason", None) or " ".join(str(exc).split()) or "no reason given"
        return EngineError(f"Athena query {query_id} {state}: {reason}")

    def close(self) -> None:
        pass


# Athena's column types (the result set's metadata) as Arrow types; the rest is kept as its text.
_ARROW_TYPES = {
    "boolean": "bool_", "tinyint": "int8", "smallint": "int16", "integer": "int32", "bigint": "int64",
    "real": "float32", "float": "float32", "double": "float64", "varchar": "string", "char": "string",
    "date": "date32", "json": "string",
}


def arrow_from_rows(columns: list[str], kinds: list[str], rows: list[Any]) -> Any:
    """An Arrow table of pyathena's rows with the types Athena declared for the columns (a NULL stays
    NULL, a BIGINT stays an integer, a DECIMAL keeps its digits)."""
    import decimal
    import re

    import pyarrow as pa

    arrays, fields = [], []
    for i, (name, kind) in enumerate(zip(columns, kinds, strict=True)):
        values = [row[i] for row in rows]
        base = kind.lower().split("(")[0].strip()
        if base in _ARROW_TYPES:
            arrow_type = getattr(pa, _ARROW_TYPES[base])()
        elif base == "decimal":
            match = re.match(r"decimal\((\d+),\s*(\d+)\)", kind.lower())
            precision, scale = (int(match.group(1)), int(match.group(2))) if match else (38, 18)
            arrow_type = pa.decimal128(precision, scale)
            values = [None if v is None else decimal.Decimal(str(v)) for v in values]
        elif base.startswith("timestamp"):
            arrow_type = pa.timestamp("ms", tz="UTC" if "zone" in kind.lower() else None)
        else:
            arrow_type = pa.string()
            values = [None if v is None else str(v) for v in values]
        try:
            arrays.append(pa.array(values, type=arrow_type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            arrow_type = pa.string()
            arrays.append(pa.array([None if v is None else str(v) for v in values], type=arrow_type))
        fields.append(pa.field(name, arrow_type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _concat_tables(tables: list[Any]) -> Any:
    import pyarrow as pa

    schemas = {str(t.schema) for t in tables}
    if len(schemas) > 1:  # a column fell back to text in one page: text in all
        tables = [t.cast(pa.schema([pa.field(f.name, pa.string()) for f in t.schema])) for t in tables]
    return pa.concat_tables(tables)

