"""Run saved queries (and ad-hoc SQL) on the configured engine over a time window.

The one entry point the CLI, the scheduler, metrics and detectors share: it resolves typed
parameters, supplies the window and its partition bounds, binds them into a ``BoundStatement``,
hands it to the engine ``logpipe.engines.open_engine`` picks, and returns a QueryResult whose stats
look the same on DuckDB and Athena.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logpipe.durations import parse_duration
from logpipe.engines import BoundStatement, Cancel, Param, Progress, athena_cost, open_engine
from logpipe.engines.base import Rows
from logpipe.errors import UsageError
from logpipe.layout import utc
from logpipe.queries.loader import get_query
from logpipe.queries.model import QueryResult, SavedQuery
from logpipe.queries.params import RUNNER_TYPES, resolve, runner_values
from logpipe.redact import redact
from logpipe.store import Store

if TYPE_CHECKING:
    from logpipe.config import Config

if TYPE_CHECKING:  # sqlglot is imported where a tree is parsed or walked, not by every run
    from sqlglot import exp

__all__ = ["ExplainResult", "adhoc_query", "athena_only", "bind_statement", "check_window", "explain_query", "lateness_of",
           "redact_result", "redact_rows", "run_query", "run_sql"]


def adhoc_query(sql: str) -> SavedQuery:
    """A SavedQuery for SQL typed at the prompt (no header, no declared parameters)."""
    from logpipe.engines.parsing import parse
    from logpipe.engines.sandbox import check_read_only

    sql = sql.strip().rstrip(";").strip()
    if not sql:
        raise UsageError("no SQL given")
    tree = check_read_only(parse(sql, source="<sql>"), source="<sql>")
    return SavedQuery(name="adhoc", description="ad-hoc SQL", sql=sql, path=Path("<sql>"), tree=tree)


def bind_statement(query: SavedQuery, start: datetime, end: datetime, params: Mapping[str, Any],
                   lateness: timedelta = timedelta(0)) -> BoundStatement:
    """The statement over ``[start, end)``, reading partitions to ``end + lateness`` (late records)."""
    start, end = utc(start), utc(end)
    if start >= end:
        raise UsageError(f"the window start ({start:%Y-%m-%dT%H:%M:%SZ}) must be before its end ({end:%Y-%m-%dT%H:%M:%SZ})")
    scan_end = end + lateness
    values, types = resolve(query, params, start, end, scan_end)
    # The tree is copied from the loaded query's (or parsed, when the file was found already checked:
    # logpipe.queries.loader) only if the engine asks for it: a remembered DuckDB translation needs
    # only the text and the values.
    return BoundStatement(tree=None, values=values, types=types, window_start=start, window_end=end,
                          source=str(query.path), scan_end=scan_end, text=query.sql, line_offset=query.header_lines,
                          template=query.tree)


def check_window(config: Config, start: datetime, end: datetime, force: bool = False) -> None:
    """A window longer than ``[engine] max_window`` is refused unless forced (``--since 99999d`` is
    more likely a typo than a wish to read every partition ever written)."""
    limit = timedelta(seconds=parse_duration(config.engine.max_window))
    if not force and end - start > limit:
        days = (end - start).total_seconds() / 86400
        raise UsageError(f"the window {start:%Y-%m-%dT%H:%M:%SZ} .. {end:%Y-%m-%dT%H:%M:%SZ} is {days:,.1f} days, "
                         f"longer than [engine] max_window ({config.engine.max_window}): pass --force to read it "
                         "anyway ('logpipe query explain' shows what it would read), or narrow --since/--until")


def lateness_of(config: Config) -> timedelta:
    """How late records may land in a later hour's partition (``[service] lateness``)."""
    return timedelta(seconds=parse_duration(config.service.lateness))


def athena_only(query: SavedQuery) -> str | None:
    """Why a saved query runs on Athena only (it uses a construct the local engine refuses), or None.
    Its parameters take their defaults; one without a default is analysed as NULL."""
    from logpipe.engines.binding import prepare_tree
    from logpipe.engines.parsing import parse
    from logpipe.engines.transpile import athena_only_reason
    from logpipe.queries.params import coerce

    end = datetime(2024, 1, 1, 1, tzinfo=UTC)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    values: dict[str, Any] = {}
    types: dict[str, Any] = {}
    for param in query.params:
        try:
            values[param.name] = coerce(param, param.default) if param.default is not None else None
        except UsageError:
            values[param.name] = None
        types[param.name] = param
    for name, value in runner_values(start, end).items():
        values[name] = value
        types[name] = Param(name, RUNNER_TYPES[name])
    parsed = (query.tree.copy() if query.tree is not None
              else parse(query.sql, source=str(query.path), line_offset=query.header_lines))
    tree = prepare_tree(parsed, values, types)
    return athena_only_reason(tree, types, values)


def run_query(config: Config, query: SavedQuery | str, start: datetime, end: datetime,
              params: Mapping[str, Any] | None = None, engine: str | None = None,
              progress: Progress | None = None, force: bool = True, cancel: Cancel | None = None,
              redacted: bool = True, rows: bool = False) -> QueryResult:
    """Run a saved query (object or name) over ``[start, end)``; every row comes back in the frame.

    ``redacted`` (the default): every text value in the result goes through ``logpipe.redact``, so
    the CLI, the console, metric dimensions and reports never show a secret a log line held. Only
    the detectors, which mask secrets themselves and must hash the engine's own shapes, read raw.

    ``force`` False refuses a window longer than ``[engine] max_window`` (the CLI's default). Setting
    ``cancel`` stops the engine (QueryCancelled).

    ``rows``: the caller writes text (``logpipe query run --format csv``): an engine that can
    (DuckDB) gives a result of plain column types as ``QueryResult.rows``, Python values, with no
    Arrow table (``table`` None) and no frame."""
    if isinstance(query, str):
        query = get_query(config, query)
    check_window(config, utc(start), utc(end), force)
    statement = bind_statement(query, start, end, params or {}, lateness_of(config))
    runner = open_engine(config, engine)
    table = None
    try:
        run_result = getattr(runner, "run_result", None)
        if run_result is not None and rows and getattr(runner, "answers_rows", False):
            frame, table, stats = run_result(statement, progress, cancel, rows=True)
        elif run_result is not None:
            frame, table, stats = run_result(statement, progress, cancel)
        elif cancel is not None:
            frame, stats = runner.run(statement, progress, cancel)
        else:
            frame, stats = runner.run(statement, progress)
    finally:
        runner.close()
    found = table if isinstance(table, Rows) else None
    if found is not None:
        table = None
        if redacted:
            found = redact_rows(found)
    elif redacted:
        frame, table = redact_result(frame, table)
    public = {k: v for k, v in statement.values.items()}
    return QueryResult(query=query, frame=frame, window_start=statement.window_start,
                       window_end=statement.window_end, params=public, stats=stats, table=table, rows=found)


def _redact_value(value: Any, seen: dict[str, str] | None = None) -> Any:
    """``value`` with every text in it redacted; ``seen``: texts already redacted (a result repeats its
    service names thousands of times; redact is the same function of the text throughout a run)."""
    if isinstance(value, str):
        if seen is None:
            return redact(value)
        done = seen.get(value)
        if done is None:
            done = seen[value] = redact(value)
        return done
    if isinstance(value, list):
        return [_redact_value(v, seen) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(v, seen) for v in value)
    if isinstance(value, dict):
        return {k: _redact_value(v, seen) for k, v in value.items()}
    return value


def _has_text(arrow_type: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return True
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return _has_text(arrow_type.value_type)
    if pa.types.is_struct(arrow_type):
        return any(_has_text(arrow_type.field(i).type) for i in range(arrow_type.num_fields))
    if pa.types.is_map(arrow_type):
        return _has_text(arrow_type.key_type) or _has_text(arrow_type.item_type)
    return False


def redact_result(frame: Any, table: Any) -> tuple[Any, Any]:
    """The frame and Arrow table with every text value (nested ones too) redacted; types kept. A frame
    of None (the engine gave only its Arrow table) stays None: it is made later from the redacted table."""
    import pyarrow as pa

    if frame is not None:
        frame = frame.copy()
        for column in frame.columns:
            if frame[column].dtype == object or str(frame[column].dtype) in ("string", "str"):
                frame[column] = frame[column].map(_redact_value)
    if table is not None:
        seen: dict[str, str] = {}
        for i, field in enumerate(table.schema):
            if _has_text(field.type):
                before = table.column(i).to_pylist()
                values = [_redact_value(v, seen) for v in before]
                # Most results hold no secret: the column is kept as it is (pa.array would also import
                # pandas, half a second of a short query's process, to see whether it was given a Series).
                if values != before:
                    if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                        from logpipe.queries.arrow import text_array

                        column = text_array(values, field.type)
                    else:
                        column = pa.array(values, type=field.type)
                    table = table.set_column(i, field, column)
    return frame, table


def redact_rows(found: Rows) -> Rows:
    """Rows with every text value redacted (their text columns: a plain type holds no nested text)."""
    text = [i for i, kind in enumerate(found.types) if kind == "VARCHAR"]
    if not text:
        return found
    seen: dict[str, str] = {}
    rows = []
    for row in found.rows:
        values = list(row)
        for i in text:
            if values[i] is not None:
                values[i] = _redact_value(values[i], seen)
        rows.append(tuple(values))
    return Rows(found.names, found.types, rows)


def run_sql(config: Config, sql_text: str, start: datetime, end: datetime, engine: str | None = None,
            progress: Progress | None = None, force: bool = True, rows: bool = False) -> QueryResult:
    """Ad-hoc Athena-dialect SQL over the table ``logs`` (the runner's placeholders are available)."""
    return run_query(config, adhoc_query(sql_text), start, end, {}, engine, progress, force, rows=rows)


# -- explain --------------------------------------------------------------------------------------


@dataclass
class ExplainResult:
    """What a query would read, and what Athena would charge for it."""

    query: SavedQuery
    window_start: datetime
    window_end: datetime
    partitions: list[tuple[str, int, int]]  # (partition dir, objects, bytes)
    bytes_scanned: int
    objects: int
    athena_cost_usd: float
    bounded: bool
    warnings: list[str] = field(default_factory=list)
    duckdb_sql: str = ""
    # The columnar form (logpipe compact): how many of the window's hours are compacted, the bytes
    # DuckDB reads with them (their Parquet files whole, the other hours raw), and the bytes Athena
    # would scan (only the Parquet column chunks the query uses, plus the raw hours): the cost
    # above is the raw table's.
    compacted_hours: int = 0
    compacted_days: int = 0  # of those hours, whole days DuckDB reads from their day files
    compacted_bytes: int = 0
    athena_compacted_bytes: int = 0
    athena_compacted_cost_usd: float = 0.0
    columns: tuple[str, ...] = ()


def _partition_columns_filtered(tree: exp.Expression) -> set[str]:
    """The partition columns (dt, hour) that a WHERE clause of the statement filters on."""
    from sqlglot import exp

    found: set[str] = set()
    for where in tree.find_all(exp.Where):
        for column in where.find_all(exp.Column):
            if column.name in ("dt", "hour"):
                found.add(column.name)
    return found


def explain_query(config: Config, query: SavedQuery | str, start: datetime, end: datetime,
                  params: Mapping[str, Any] | None = None) -> ExplainResult:
    """The partitions and bytes the query would scan over the window, its Athena cost, and a warning
    when the SQL itself is not bounded by partition predicates (Athena would then scan everything)."""
    from logpipe.engines.duckdb import compile_duckdb

    if isinstance(query, str):
        query = get_query(config, query)
    statement = bind_statement(query, start, end, params or {}, lateness_of(config))
    store = Store(config.store, region=config.aws.region)
    objects = store.list_objects(statement.window_start, statement.scan_end or statement.window_end)
    per_dir: dict[str, list[int]] = {}
    for obj in objects:
        directory = obj.key.rsplit("/", 1)[0]
        entry = per_dir.setdefault(directory, [0, 0])
        entry[0] += 1
        entry[1] += obj.size
    total = sum(o.size for o in objects)
    filtered = _partition_columns_filtered(statement.tree)
    warnings = []
    limit = timedelta(seconds=parse_duration(config.engine.max_window))
    if statement.window_end - statement.window_start > limit:
        warnings.append(f"the window is longer than [engine] max_window ({config.engine.max_window}): "
                        "'query run' needs --force to read it")
    bounded = "dt" in filtered
    if not bounded:
        warnings.append(
            f"query '{query.name}' has no predicate on the partition column dt: on Athena it would scan "
            "every partition of the table. Add 'dt BETWEEN :dt_start AND :dt_end AND "
            "concat(dt, hour) BETWEEN :dthour_start AND :dthour_end' to its WHERE clause.")
    elif "hour" not in filtered:
        warnings.append(f"query '{query.name}' filters dt but not hour: on Athena it scans whole days.")
    duckdb_sql, _ = compile_duckdb(statement)
    result = ExplainResult(
        query=query, window_start=statement.window_start, window_end=statement.window_end,
        partitions=[(d, n, b) for d, (n, b) in per_dir.items()], bytes_scanned=total, objects=len(objects),
        athena_cost_usd=athena_cost(total), bounded=bounded, warnings=warnings, duckdb_sql=duckdb_sql)
    _explain_compacted(config, store, statement, objects, result)
    return result


def view_columns_used(tree: exp.Expression) -> set[str]:
    """The columns of the ``logs`` view a statement uses (every one for ``SELECT *``)."""
    from sqlglot import exp

    from logpipe.schema import VIEW_SOURCES

    if any(isinstance(star.parent, exp.Select | exp.Column) for star in tree.find_all(exp.Star)):  # not count(*)
        return set(VIEW_SOURCES)
    return {c.name for c in tree.find_all(exp.Column)} & set(VIEW_SOURCES)


def _explain_compacted(config: Config, store: Store, statement: BoundStatement, objects: list[Any],
                       result: ExplainResult) -> None:
    """The compacted form's bytes (see ExplainResult): only the footers of the Parquet files are read."""
    from logpipe.engines.compact import compacted_view_bytes
    from logpipe.schema import VIEW_SOURCES
    from logpipe.store.compacted import athena_files, read_watermark, split_hours

    columns = view_columns_used(statement.tree)
    result.columns = tuple(sorted(columns))
    split = split_hours(store, objects, statement.window_start, statement.scan_end or statement.window_end,
                        read_watermark(store))
    raw_rest = sum(o.size for o in split.raw)
    result.compacted_hours = len(split.compacted) + split.day_hours
    result.compacted_days = len(split.days)
    result.compacted_bytes = raw_rest + sum(size for _, size in split.parquet)
    chunks = 0
    if split.parquet:
        # Athena's files: the day table also for a day the window covers in part (athena_files)
        files = store.objects.local_copies(athena_files(store, split))
        sources = {source for column in columns for source in VIEW_SOURCES[column]}
        chunks = compacted_view_bytes([str(f) for f in files if f is not None], sources, config.engine)
    result.athena_compacted_bytes = raw_rest + chunks
    result.athena_compacted_cost_usd = athena_cost(result.athena_compacted_bytes)
