"""The log record contract as a table: the one column list the Glue table, the DuckDB view and the
simulator share, and the normalising view that saved queries read as ``logs``.

Every raw column is a string: records arrive with wrong types (a status of "abc", a level of 3), and a
string column takes any of them without failing the whole object; queries ``try_cast`` what they need.
"""

from __future__ import annotations

# Keys the FireLens router always adds, then the canonical keys it normalises to, then common app keys.
ROUTER_KEYS = ("log", "source", "container_name", "container_id", "ecs_cluster", "ecs_task_arn",
               "ecs_task_definition")
CANONICAL_KEYS = ("time", "service", "level", "message")
APP_KEYS = ("logger", "trace_id", "span_id", "request_id", "method", "path", "status", "latency_ms",
            "bytes", "client_ip", "user_agent", "error_type", "stack_trace")
RAW_COLUMNS: tuple[str, ...] = ROUTER_KEYS + CANONICAL_KEYS + APP_KEYS
PARTITION_COLUMNS = ("dt", "hour")

# The logical table ``logs``, in Athena (Trino) SQL over the raw table ``{raw}``: it derives the
# canonical fields for records that lack them (service from container_name, level from the message
# text, time from the partition). The DuckDB engine transpiles this text like any saved query.
# The derived canonical fields, one expression each: the ``logs`` view computes them at read time over
# raw records; the compaction computes them once per record into the Parquet hours (``lp_*`` columns),
# with these very expressions, so both forms answer alike.
TS_SQL = """coalesce(
    try(from_iso8601_timestamp("time")) AT TIME ZONE 'UTC',
    with_timezone(date_parse(concat(dt, ' ', hour), '%Y-%m-%d %H'), 'UTC')
  )"""
SERVICE_SQL = """coalesce(nullif(service, ''), regexp_replace(container_name, '^(ecs-)?([A-Za-z0-9_.-]+?)(-[0-9]+)?(-[a-f0-9]{16,})?$', '$2'))"""
LEVEL_SQL = """coalesce(
    CASE upper(level)
      WHEN 'WARNING' THEN 'WARN' WHEN 'ERR' THEN 'ERROR' WHEN 'CRITICAL' THEN 'FATAL'
      WHEN 'TRACE' THEN 'TRACE' WHEN 'DEBUG' THEN 'DEBUG' WHEN 'INFO' THEN 'INFO' WHEN 'WARN' THEN 'WARN'
      WHEN 'ERROR' THEN 'ERROR' WHEN 'FATAL' THEN 'FATAL' ELSE NULL END,
    CASE
      WHEN regexp_like(coalesce(message, log), '(?i)\\b(fatal|panic|critical)\\b') THEN 'FATAL'
      WHEN regexp_like(coalesce(message, log), '(?i)\\b(error|exception|traceback|failed)\\b') THEN 'ERROR'
      WHEN regexp_like(coalesce(message, log), '(?i)\\bwarn(ing)?\\b') THEN 'WARN'
      WHEN regexp_like(coalesce(message, log), '(?i)\\bdebug\\b') THEN 'DEBUG'
      ELSE 'INFO' END
  )"""

LOGS_VIEW_SQL = """
SELECT
  {ts} AS ts,
  {service} AS service,
  {level} AS level,
  coalesce(message, log) AS message,
  {raw_columns},
  dt,
  hour
FROM {raw}
{where}
""".replace("{ts}", TS_SQL).replace("{service}", SERVICE_SQL).replace("{level}", LEVEL_SQL)

# The columns the compaction adds to each record of a Parquet hour: the derived time (epoch
# milliseconds: exact, and a BIGINT compresses and compares cheaply), service and level.
COMPACTED_COLUMNS = ("lp_ts_ms", "lp_service", "lp_level")
_EPOCH = "from_unixtime(0)"

# The ``logs`` view over a Parquet hours table: the derived fields are read, not computed.
COMPACTED_VIEW_SQL = f"""
SELECT
  date_add('millisecond', lp_ts_ms, {_EPOCH}) AT TIME ZONE 'UTC' AS ts,
  lp_service AS service,
  lp_level AS level,
  coalesce(message, log) AS message,
  {{raw_columns}},
  dt,
  hour
FROM {{raw}}
"""


# The columns of a Parquet hour each column of the ``logs`` view reads (the partition columns dt and
# hour aside): what a columnar engine (Athena on the Parquet table) scans for a query using the column.
VIEW_SOURCES: dict[str, tuple[str, ...]] = {
    "ts": ("lp_ts_ms",), "service": ("lp_service",), "level": ("lp_level",),
    "message": ("message", "log"), "raw_time": ("time",), "dt": (), "hour": (),
    "shape": ("message", "log"), "pattern_id": ("message", "log"),
    **{c: (c,) for c in RAW_COLUMNS if c not in CANONICAL_KEYS},
}


def _view_raw_columns() -> str:
    return ",\n  ".join(f'"{c}"' if c == "time" else c for c in RAW_COLUMNS if c not in CANONICAL_KEYS) + \
        ',\n  "time" AS raw_time'


def compacted_view_sql(table: str, shape: bool = True) -> str:
    """The ``logs`` view over a table of Parquet hours (raw columns plus ``COMPACTED_COLUMNS``), with
    ``shape`` and ``pattern_id`` added as over the raw table (``shape`` False: without those two
    columns, see ``logs_view_sql``)."""
    base = COMPACTED_VIEW_SQL.replace("{raw_columns}", _view_raw_columns()).replace("{raw}", table)
    if not shape:
        return base
    return _shape_sql().replace("{columns}", ", ".join(BASE_VIEW_COLUMNS)).replace("{base}", base)


def compaction_select_sql(raw_table: str) -> str:
    """A Parquet hour's rows from a raw table: every raw column as it was, the partition, and the
    derived fields computed with the view's own expressions."""
    raw = ", ".join(f'"{c}"' for c in RAW_COLUMNS)
    return (f"SELECT {raw}, dt, hour, date_diff('millisecond', {_EPOCH}, {TS_SQL}) AS lp_ts_ms, "
            f"{SERVICE_SQL} AS lp_service, {LEVEL_SQL} AS lp_level FROM {raw_table}")


def logs_view_sql(raw_table: str, drop_unreadable: bool = True, shape: bool = True) -> str:
    """The ``logs`` view over a raw table with the contract's columns.

    ``drop_unreadable``: the view drops the rows of NULLs that unreadable lines become. It needs every
    column to tell, so a columnar reader would have to scan them all (no projection pushdown): a raw
    table whose rows are already known to be records (the Parquet hours, written without such rows,
    or a JSON source filtered itself) is read through the view without it.

    ``shape`` (the masked message) and ``pattern_id`` (the miner's id of that template) come from
    ``schema_shape.sql``, rendered from the miner's masks (``logpipe.patterns.sql``). The engines
    compute them only for queries that read them (unused view columns are pruned). ``shape`` False
    gives the view without those two columns (``BASE_VIEW_COLUMNS``): the same rows and other columns,
    for a statement that reads neither; DuckDB binds that view in half the time of the whole one, a
    cost every query of a run cycle's hourly windows paid.
    """
    # str.replace, not str.format: the regexes in the view hold braces (``{16,}``).
    # A row with no known key is a record the reader could not parse (DuckDB's ignore_errors and
    # Athena's ignore.malformed.json both make it a row of NULLs): it is counted as bad, not a log.
    all_raw = ", ".join(f'"{c}"' for c in RAW_COLUMNS)
    where = f"WHERE coalesce({all_raw}) IS NOT NULL" if drop_unreadable else ""
    base = LOGS_VIEW_SQL.replace("{where}", where).replace("{raw_columns}", _view_raw_columns()).replace("{raw}", raw_table)
    if not shape:
        return base
    return _shape_sql().replace("{columns}", ", ".join(BASE_VIEW_COLUMNS)).replace("{base}", base)


BASE_VIEW_COLUMNS: tuple[str, ...] = ("ts", "service", "level", "message",
                                      *(c for c in RAW_COLUMNS if c not in CANONICAL_KEYS), "raw_time", *PARTITION_COLUMNS)
"""The columns of the base view, in order; the ``logs`` view adds ``shape`` and ``pattern_id``."""
VIEW_COLUMNS: tuple[str, ...] = (*BASE_VIEW_COLUMNS, "shape", "pattern_id")
"""The columns of the ``logs`` view, in order."""

_SHAPE_SQL: list[str] = []


def _shape_sql() -> str:
    """``schema_shape.sql`` without its comment lines (read once)."""
    if not _SHAPE_SQL:
        from pathlib import Path

        text = Path(__file__).with_name("schema_shape.sql").read_text(encoding="utf-8")
        _SHAPE_SQL.append("\n".join(line for line in text.split("\n") if not line.startswith("--")))  # (not splitlines: U+2028 is in a regex)
    return _SHAPE_SQL[0]


__all__ = ["APP_KEYS", "BASE_VIEW_COLUMNS", "CANONICAL_KEYS", "COMPACTED_COLUMNS", "COMPACTED_VIEW_SQL", "LEVEL_SQL",
           "LOGS_VIEW_SQL", "PARTITION_COLUMNS", "RAW_COLUMNS", "ROUTER_KEYS", "SERVICE_SQL", "TS_SQL", "VIEW_COLUMNS",
           "VIEW_SOURCES", "compacted_view_sql", "compaction_select_sql", "logs_view_sql"]
