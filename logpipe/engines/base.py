"""What every engine does: run one parsed Athena statement with bound values over a window.

The runner (logpipe.queries.runner) resolves parameters and the window; an engine only binds and
executes, and reports the same QueryStats fields on DuckDB and Athena.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pandas as pd
from sqlglot import exp

from logpipe.queries.model import Param, QueryStats

ATHENA_USD_PER_TB = 5.0
ATHENA_MIN_BYTES = 10 * 1024 * 1024  # Athena bills at least 10 MB per query
TB = 1024**4


def athena_cost(bytes_scanned: int) -> float:
    """Athena's price for a query: $5 per TB scanned, rounded up to the next MB, 10 MB minimum."""
    mb = 1024 * 1024
    billed = max(ATHENA_MIN_BYTES, math.ceil(max(bytes_scanned, 0) / mb) * mb)
    return billed / TB * ATHENA_USD_PER_TB


# Called with a short state ("QUEUED", "RUNNING", "reading 3/12 files") while a query runs.
Progress = Callable[[str], None]


@dataclass
class BoundStatement:
    """A parsed Athena statement and everything its placeholders may take."""

    tree: exp.Expression
    values: Mapping[str, Any]
    types: Mapping[str, Param]
    window_start: datetime
    window_end: datetime


class Engine(Protocol):
    name: str

    def run(self, statement: BoundStatement, progress: Progress | None = None) -> tuple[pd.DataFrame, QueryStats]:
        """Run the statement; the frame holds every result row."""
        ...

    def close(self) -> None: ...
