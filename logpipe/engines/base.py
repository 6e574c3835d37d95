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


class Engine(Protocol):
    """A query engine: DuckDB over the store on one machine, Athena at scale."""

    name: str

    def run(self, statement: BoundStatement, progress: Progress | None = None,
            cancel: Cancel | None = None) -> tuple[pd.DataFrame, QueryStats]:
        """Run the statement; the frame holds every result row. Setting ``cancel`` stops it
        (QueryCancelled)."""
        ...

    def close(self) -> None: ...


__all__ = ["ATHENA_MIN_BYTES", "ATHENA_USD_PER_TB", "Cancel", "Engine", "Progress", "QueryCancelled", "QueryStats",
           "athena_cost"]
