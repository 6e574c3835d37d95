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
LOGS_VIEW_SQL = """
SELECT
  coalesce(
    try(from_iso8601_timestamp("time")) AT TIME ZONE 'UTC',
    with_timezone(date_parse(concat(dt, ' ', hour), '%Y-%m-%d %H'), 'UTC')
  ) AS ts,
  coalesce(nullif(service, ''), regexp_replace(container_name, '^(ecs-)?([A-Za-z0-9_.-]+?)(-[0-9]+)?(-[a-f0-9]{16,})?$', '$2')) AS service,
  coalesce(
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
  ) AS level,
  coalesce(message, log) AS message,
  {raw_columns},
  dt,
  hour
FROM {raw}
WHERE coalesce({all_raw}) IS NOT NULL
"""


def logs_view_sql(raw_table: str) -> str:
    """The ``logs`` view over a raw table with the contract's columns, ``shape`` and ``pattern_id`` last.

    ``shape`` (the masked message) and ``pattern_id`` (the miner's id of that template) come from
    ``schema_shape.sql``, rendered from the miner's masks (``logpipe.patterns.sql``). The engines
    compute them only for queries that read them (unused view columns are pruned).
    """
    raw_columns = ",\n  ".join(f'"{c}"' if c == "time" else c for c in RAW_COLUMNS if c not in CANONICAL_KEYS)
    # str.replace, not str.format: the regexes in the view hold braces (``{16,}``).
    # A row with no known key is a record the reader could not parse (DuckDB's ignore_errors and
    # Athena's ignore.malformed.json both make it a row of NULLs): it is counted as bad, not a log.
    all_raw = ", ".join(f'"{c}"' for c in RAW_COLUMNS)
    base = LOGS_VIEW_SQL.replace("{all_raw}", all_raw).replace("{raw_columns}", raw_columns + ',\n  "time" AS raw_time').replace("{raw}", raw_table)
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


__all__ = ["APP_KEYS", "BASE_VIEW_COLUMNS", "CANONICAL_KEYS", "LOGS_VIEW_SQL", "PARTITION_COLUMNS", "RAW_COLUMNS",
           "ROUTER_KEYS", "VIEW_COLUMNS", "logs_view_sql"]
