"""What every engine does: run one bound Athena statement over a window and say what it cost.

The runner (logpipe.queries.runner) resolves parameters and the window; an engine only binds and
executes, and reports the same QueryStats fields on DuckDB and Athena.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from logpipe.engines.binding import BoundStatement
from logpipe.errors import EngineError

if TYPE_CHECKING:
    import pandas as pd

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
# Set by someone else (the console's Cancel button) to stop a running query.
Cancel = threading.Event


class QueryCancelled(EngineError):
    """The query was stopped because its caller asked (DuckDB interrupted, Athena StopQueryExecution)."""


@dataclass
class QueryStats:
    """What running a query cost: the same fields on both engines."""

    engine: str
    bytes_scanned: int = 0
    engine_ms: float = 0.0
    cost_usd: float = 0.0
    files_scanned: int = 0
    bad_records: dict[str, int] = field(default_factory=dict)
    query_id: str | None = None
    misplaced_records: int = 0
    # The window's data quality (logpipe.store.verdicts.DataQuality) where the engine counts it (DuckDB).
    quality: Any = None


# DuckDB column types whose Python values (DuckDB's own conversion) are exactly those the writers of
# ``logpipe query`` get from the Arrow table (logpipe.cli.results): for a result of only these, the
# text formats need no Arrow table, and the process no pyarrow (and numpy): a tenth of a second.
PLAIN_TYPES = frozenset({"VARCHAR", "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                         "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"})


def plain_type(name: str) -> bool:
    """Whether a DuckDB column type is one of PLAIN_TYPES, or a DECIMAL (a ``decimal.Decimal`` either way)."""
    return name in PLAIN_TYPES or (name.startswith("DECIMAL(") and name.endswith(")"))


@dataclass
class Rows:
    """A result as Python values: what an engine may give instead of its Arrow table when the caller
    asked for rows (``run_query(..., rows=True)``: ``logpipe query run`` writing text) and every
    column is of a plain type (``plain_type``). ``types``: DuckDB's names of the column types."""

    names: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]

    @property
    def num_rows(self) -> int:
        return len(self.rows)


class Engine(Protocol):
    """A query engine: DuckDB over the store on one machine, Athena at scale."""

    name: str

    def run(self, statement: BoundStatement, progress: Progress | None = None,
            cancel: Cancel | None = None) -> tuple[pd.DataFrame, QueryStats]:
        """Run the statement; the frame holds every result row. Setting ``cancel`` stops it
        (QueryCancelled)."""
        ...

    def close(self) -> None: ...


__all__ = ["ATHENA_MIN_BYTES", "ATHENA_USD_PER_TB", "PLAIN_TYPES", "Cancel", "Engine", "Progress", "QueryCancelled",
           "QueryStats", "Rows", "athena_cost", "plain_type"]
