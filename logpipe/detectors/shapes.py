"""The detectors' input queries: error "shapes" (masked messages) and records per service, by hour.

Why in SQL: a day of a large fleet's errors is millions of lines but only thousands of distinct
shapes once the variables are masked. The engine masks (``regexp_replace`` with the miner's own
RE2-safe masks, ``logpipe.patterns.masking.MASK_REGEXES_SQL``) and groups; Python mines only the
distinct shapes. The masks are ours, not user input, so they are written into the SQL text as
constant literals; ``queries/error_shapes.sql`` is rendered from them by ``render_error_shapes_sql``
and a test keeps the file and the masks in step.

Regenerate after changing the masks: ``python -m logpipe.detectors.shapes > queries/error_shapes.sql``.
"""

from __future__ import annotations

from logpipe.patterns.masking import MASK_REGEXES_SQL

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


_CONTROL_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", "\v": "\\v"}


def _regex_text(regex: str) -> str:
    """The regex with control characters written as RE2 escapes, so the .sql file holds none."""
    for char, escape in _CONTROL_ESCAPES.items():
        regex = regex.replace("\\" + char, escape).replace(char, escape)
    return regex


def masked_expression(column: str) -> str:
    """``regexp_replace(regexp_replace(col, r1, s1), r2, s2)``: the masks in order (Athena SQL)."""
    expr = column
    for regex, replacement in MASK_REGEXES_SQL:
        expr = f"regexp_replace({expr}, {_literal(_regex_text(regex))}, {_literal(replacement)})"
    return expr


def render_error_shapes_sql() -> str:
    """The text of ``queries/error_shapes.sql``."""
    levels = ", ".join(_literal(level) for level in ERROR_LEVELS)
    shape = masked_expression(f"substr(message, 1, {SHAPE_PREFIX_CHARS})")
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
  SELECT
    ts,
    coalesce(service, 'unknown') AS service,
    coalesce(message, '') AS message,
    {shape.replace("substr(message,", "substr(coalesce(message, ''),")} AS shape
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND level IN ({levels})
) AS errors
GROUP BY service, date_trunc('hour', ts), shape
ORDER BY records DESC
"""


if __name__ == "__main__":
    print(render_error_shapes_sql(), end="")
