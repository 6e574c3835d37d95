"""The masks in SQL: the ``logs`` view's ``shape`` and ``pattern_id`` columns, rendered from ``MASKS``.

Why generated: the masks are defined once (``logpipe.patterns.masking.MASKS``: the secret shapes of
``logpipe.redact`` first, then the generic ones; ``ROUTE_MASKS`` and the HTTP request template) and the engines must apply exactly those. The ``logs`` view belongs to the
contracts layer (``logpipe.schema``), below the miner, so the SQL is rendered into the file
``logpipe/schema_shape.sql`` (shipped with the package) and a test keeps that file and the masks in step.
One text serves Athena (Trino) and DuckDB (the Trino-to-DuckDB compiler translates it like any
saved query). Regenerate after changing a mask::

    python -m logpipe.patterns.sql > logpipe/schema_shape.sql

What the columns are:

* ``shape``: the message's first ``SHAPE_PREFIX_CHARS`` characters, masked (``masking.mask``
  exactly, tested on DuckDB against Python);
* ``pattern_id``: ``miner.pattern_id_for`` of the shape's template (whitespace runs as one space,
  as the miner splits tokens): the id ``logpipe patterns mine`` and the detectors give a line whose
  pattern has not been generalised. A pattern with a learned wildcard covers several such ids (its
  own and those of the templates it absorbed: the detectors list them for each finding), and a
  stack trace (a multi-line record the miner groups by exception and frames) is keyed by its text
  here, not by its frames.
"""

from __future__ import annotations

from logpipe.patterns.masking import (
    GENERIC_MASKS,
    REDACTION_MASKS,
    sql_generic_steps,
    sql_put_request_back,
    sql_request_parts,
)

SHAPE_PREFIX_CHARS = 2000
"""Messages are masked and grouped on their first characters: a huge record (a 1 MB dump) must not
make a GROUP BY key huge, nor cost seconds of regular expressions. The miner does the same
(``MinerConfig.max_chars``)."""

MASKS_PER_STEP = 12
"""Masks applied per subquery: sqlglot's parser recurses once per nested call, so the ~40 masks
are applied in stacked subqueries rather than in one expression."""

# Python's str.split() whitespace (str.isspace) as one character class: ASCII escapes, and the
# other characters as themselves (the SQL text is UTF-8).
PY_WHITESPACE_CLASS = ("[\\t\\n\\x0B\\f\\r \\x1C-\\x1F\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


def sql_template(shape: str) -> str:
    """SQL for the miner's template of a masked text: ``" ".join(shape.split())``."""
    return f"trim(regexp_replace({shape}, '{PY_WHITESPACE_CLASS}+', ' '), ' ')"


def sql_pattern_id(shape: str) -> str:
    """SQL for ``pattern_id_for`` of the template of ``shape``: 16 lower-case hex digits of MD5."""
    return f"substr(lower(to_hex(md5(to_utf8({sql_template(shape)})))), 1, 16)"


def logs_shape_sql() -> str:
    """The layer the ``logs`` view puts over its base: ``{columns}``, then ``shape`` and ``pattern_id``.

    ``{base}`` is the base view's text and ``{columns}`` its column list (``logpipe.schema`` fills
    both in, with ``str.replace``: the regexes hold braces).
    """
    # The order ``mask`` keeps: the secret shapes on the whole (prefix of the) message, then the
    # HTTP request is cut out, then the generic masks around it; the request's shape goes back last.
    inner = f"""SELECT {{columns}}, substr(coalesce(message, ''), 1, {SHAPE_PREFIX_CHARS}) AS shape
  FROM (
{{base}}
  ) AS logs_base"""
    for n, start in enumerate(range(0, len(REDACTION_MASKS), MASKS_PER_STEP)):
        steps = sql_generic_steps("shape", REDACTION_MASKS[start:start + MASKS_PER_STEP])
        inner = f"""SELECT {{columns}}, {steps} AS shape
  FROM (
  {inner}
  ) AS redacted{n}"""
    text, request = sql_request_parts("shape")
    inner = f"""SELECT {{columns}}, {text} AS shape, {request} AS request
  FROM (
  {inner}
  ) AS cut"""
    for n, start in enumerate(range(0, len(GENERIC_MASKS), MASKS_PER_STEP)):
        steps = sql_generic_steps("shape", GENERIC_MASKS[start:start + MASKS_PER_STEP])
        inner = f"""SELECT {{columns}}, {steps} AS shape, request
  FROM (
  {inner}
  ) AS mask_step{n}"""
    return f"""SELECT {{columns}}, shape, {sql_pattern_id("shape")} AS pattern_id
FROM (
  SELECT {{columns}}, {sql_put_request_back("shape", "request")} AS shape
  FROM (
  {inner}
  ) AS masked
) AS shaped"""


def render_file() -> str:
    """The text of ``logpipe/schema_shape.sql``."""
    return ("-- The logs view's shape and pattern_id columns (the base view and its column list are filled in by logpipe.schema).\n"
            "-- GENERATED from the masks (logpipe/patterns/masking.py): python -m logpipe.patterns.sql > "
            "logpipe/schema_shape.sql\n"
            f"{logs_shape_sql()}\n")


if __name__ == "__main__":
    print(render_file(), end="")
