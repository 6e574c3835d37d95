"""The detectors' input queries: error patterns (masked messages, by id) and records per service, by hour.

Why in SQL: a day of a large fleet's errors is millions of lines but only thousands of distinct
shapes once the variables are masked. The ``logs`` view carries each line's ``shape`` (its message
masked with the miner's own masks, ``logpipe.patterns.masking.MASKS``, rendered into SQL by
``logpipe.patterns.sql``) and ``pattern_id`` (the miner's id of that template), so the engine masks
and groups; Python mines only one example per (service, hour, pattern_id). ``pattern_lines`` then
returns the lines of given ids: what a finding's command and the console's pattern page run.
"""

from __future__ import annotations

from logpipe.patterns.sql import SHAPE_PREFIX_CHARS

ERROR_SHAPES_QUERY = "error_shapes"
RECORDS_QUERY = "records_by_service"
PATTERN_LINES_QUERY = "pattern_lines"
ERROR_LEVELS = ("ERROR", "FATAL")

__all__ = ["ERROR_LEVELS", "ERROR_SHAPES_QUERY", "PATTERN_LINES_QUERY", "RECORDS_QUERY", "SHAPE_PREFIX_CHARS"]
