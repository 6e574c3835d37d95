"""The detectors' input queries: error "shapes" (masked messages) and records per service, by hour.

Why in SQL: a day of a large fleet's errors is millions of lines but only thousands of distinct
shapes once the variables are masked. The engine masks (``regexp_replace`` with the miner's own
RE2-safe masks, ``logpipe.patterns.masking.MASKS``: secret shapes first, then the generic masks
around an HTTP request's shape) and groups; Python mines only the
distinct shapes. The masks are ours, not user input, so they are written into the SQL text as
constant literals; ``queries/error_shapes.sql`` is rendered from them by ``render_error_shapes_sql``
and a test keeps the file and the masks in step.

Regenerate after changing the masks: ``python -m logpipe.detectors.shapes > queries/error_shapes.sql``.
"""

from __future__ import annotations

from logpipe.patterns.masking import (
    GENERIC_MASKS,
    REDACTION_MASKS,
    sql_generic_steps,
    sql_put_request_back,
    sql_request_parts,
)

ERROR_SHAPES_QUERY = "error_shapes"
RECORDS_QUERY = "records_by_service"
ERROR_LEVELS = ("ERROR", "FATAL")
# Messages longer than this are masked and grouped on their first characters only: a huge record
# (a 1 MB dump) must not make the engine's GROUP BY key huge. The raw example is kept whole.
SHAPE_PREFIX_CHARS = 2000

_HEADER = """\
-- name: error_shapes
-- description: ERROR/FATAL records grouped by service, hour and masked message ("shape"), with counts and one raw example each: the input of the error-pattern detectors (logpipe detect). Rendered by logpipe/detectors/shapes.py from the masks in logpipe/patterns/masking.py.
-- window: 1h
"""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


MASKS_PER_STEP = 12
"""Masks applied per subquery: sqlglot's parser recurses once per nested call, so the ~40 masks
are applied in stacked subqueries rather than in one expression."""


def _masked_sql(extra: tuple[str, ...] = (), where: str = "") -> str:
    """ERROR/FATAL records of the window with their ``shape`` (the masks applied in SQL), carrying
    ``ts, service, message`` and the ``extra`` columns of ``logs``; ``request`` is still apart.

    The secret shapes (``REDACTION_MASKS``) run first, on the whole (prefix of the) message, then
    the HTTP request is cut out and the generic masks run around it: the order ``mask`` keeps."""
    levels = ", ".join(_literal(level) for level in ERROR_LEVELS)
    carried = "".join(f"\n    {column}," for column in extra)
    names = "".join(f"{column}, " for column in extra)
    inner = f"""SELECT
    ts,
    coalesce(service, 'unknown') AS service,
    coalesce(message, '') AS message,{carried}
    substr(coalesce(message, ''), 1, {SHAPE_PREFIX_CHARS}) AS shape
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND level IN ({levels}){where}"""
    for n, start in enumerate(range(0, len(REDACTION_MASKS), MASKS_PER_STEP)):
        inner = f"""SELECT ts, service, message, {names}{sql_generic_steps("shape", REDACTION_MASKS[start:start + MASKS_PER_STEP])} AS shape
  FROM (
  {inner}
  ) AS redacted{n}"""
    text, request = sql_request_parts("shape")
    inner = f"""SELECT ts, service, message, {names}{text} AS shape, {request} AS request
  FROM (
  {inner}
  ) AS cut"""
    for n, start in enumerate(range(0, len(GENERIC_MASKS), MASKS_PER_STEP)):
        inner = f"""SELECT ts, service, message, {names}{sql_generic_steps("shape", GENERIC_MASKS[start:start + MASKS_PER_STEP])} AS shape, request
  FROM (
  {inner}
  ) AS step{n}"""
    return inner


def render_error_shapes_sql() -> str:
    """The text of ``queries/error_shapes.sql``."""
    inner = _masked_sql()
    return f"""{_HEADER}
SELECT
  service,
  date_trunc('hour', ts) AS bucket,
  shape,
  count(*) AS records,
  min(message) AS example,
  min(ts) AS first_ts,
  max(ts) AS last_ts
FROM (
  SELECT ts, service, message, {sql_put_request_back("shape", "request")} AS shape
  FROM (
  {inner}
  ) AS masked
) AS errors
GROUP BY service, date_trunc('hour', ts), shape
ORDER BY records DESC
"""


PATTERN_LINES_QUERY = "pattern_lines"
LINE_COLUMNS = ("level", "container_name", "ecs_task_definition", "trace_id")

_LINES_HEADER = """\
-- name: pattern_lines
-- description: The ERROR/FATAL lines of one error pattern: the records whose masked message ("shape", the masks of error_shapes) hashes to one of the given shapes, which is how the detectors count a pattern. The console's pattern page fills in the shapes (logpipe detect mined them into the pattern). Rendered by logpipe/detectors/shapes.py.
-- window: 24h
-- param shapes: list, required, description=MD5 hashes (hex) of the pattern's shapes, as the pattern page gives them
-- param service: string, default=null, description=Only this service (all services when not given)
-- param limit: int, default=5000, description=At most this many lines
"""


def render_pattern_lines_sql() -> str:
    """The text of ``queries/pattern_lines.sql``: every line of the shapes given by hash.

    The hash is ``lower(to_hex(md5(to_utf8(shape))))``: the same 32 hex digits on Athena and DuckDB
    (and ``hashlib.md5(shape.encode()).hexdigest()`` in Python)."""
    inner = _masked_sql(LINE_COLUMNS, "\n    AND (:service IS NULL OR coalesce(service, 'unknown') = :service)")
    carried = ", ".join(LINE_COLUMNS)
    return f"""{_LINES_HEADER}
SELECT ts, service, level, message, container_name, ecs_task_definition, trace_id
FROM (
  SELECT ts, service, message, {carried}, lower(to_hex(md5(to_utf8({sql_put_request_back("shape", "request")})))) AS shape_hash
  FROM (
  {inner}
  ) AS masked
) AS lines
WHERE shape_hash IN (:shapes)
ORDER BY ts, service, message
LIMIT :limit
"""


def shape_hash(shape: str) -> str:
    """What ``pattern_lines`` compares: the MD5 of the shape's UTF-8 bytes, in lower-case hex."""
    import hashlib

    return hashlib.md5(shape.encode("utf-8"), usedforsecurity=False).hexdigest()


RENDERED = {ERROR_SHAPES_QUERY: render_error_shapes_sql, PATTERN_LINES_QUERY: render_pattern_lines_sql}

if __name__ == "__main__":
    import sys

    print(RENDERED[sys.argv[1] if len(sys.argv) > 1 else ERROR_SHAPES_QUERY](), end="")
