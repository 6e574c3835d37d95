"""What a saved query is, once its file is loaded (the contract other modules build on).

A file ``queries/NAME.sql`` holds Athena (Trino) SQL over the logical table ``logs`` with named
placeholders (``:service``, ``:window_start``); its leading ``--`` comment lines are the header that
``logpipe.queries.loader`` parses into these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

    from logpipe.engines.base import QueryStats, Rows
    from logpipe.engines.binding import Param

# Parameters the runner always supplies; a query may use any of them without declaring them.
RUNNER_PARAMS = ("window_start", "window_end", "dt_start", "dt_end", "dthour_start", "dthour_end")


@dataclass(frozen=True)
class MetricSpec:
    """How a result column becomes a metric: one data point per row (timestamp = the window's end).

    ``kind="distribution"``: ``column`` holds a list of values and ``counts_column`` (optional) their
    counts, so CloudWatch can compute percentiles (``Values``/``Counts``).
    """

    name: str
    column: str
    unit: str = "Count"
    dimensions: tuple[str, ...] = ()
    kind: Literal["gauge", "distribution"] = "gauge"
    counts_column: str | None = None


AlertOp = Literal[">", ">=", "<", "<="]
Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class AlertSpec:
    """A threshold on a result column (like a Redash or Grafana alert): ``-- alert NAME: column=...``.

    The column must be one of the query's metric columns, because on AWS the alert IS a CloudWatch
    alarm on that derived metric (``logpipe dashboard deploy``); on the embedded default the service
    checks every row of each window and, after ``for_windows`` breaching windows in a row, puts a
    finding in the digest and delivers it at once to ``destinations`` (names of digest destinations;
    empty: all of them).
    """

    name: str
    column: str
    op: AlertOp
    threshold: float
    for_windows: int = 1
    severity: Severity = "warning"
    destinations: tuple[str, ...] = ()

    def breached(self, value: float) -> bool:
        return {">": value > self.threshold, ">=": value >= self.threshold,
                "<": value < self.threshold, "<=": value <= self.threshold}[self.op]

    @property
    def condition(self) -> str:
        return f"{self.column} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class SavedQuery:
    name: str
    description: str
    sql: str  # the body, header removed
    path: Path
    schedule: str | None = None  # cron ("0 * * * *") or interval ("every 15m")
    window: str = "1h"  # the default window length for scheduled runs and --since
    params: tuple[Param, ...] = ()
    metrics: tuple[MetricSpec, ...] = ()
    header_lines: int = 0
    alerts: tuple[AlertSpec, ...] = ()
    # The statement parsed once when the file was loaded (a sqlglot tree, checked read-only): every run
    # binds a copy of it instead of parsing the text again. None: parsed when bound (ad-hoc SQL).
    tree: Any = field(default=None, compare=False, repr=False)

    def metric_for(self, column: str) -> MetricSpec | None:
        """The metric spec whose value is ``column`` (what an alert on that column watches)."""
        return next((m for m in self.metrics if m.column == column and m.kind == "gauge"), None)


@dataclass
class QueryResult:
    """A query's result. ``frame`` may be given as None with ``table`` set: the pandas frame is then
    made from the Arrow table on first use (``logpipe query run`` writes the table and never needs it).
    A run that asked for rows (``run_query(..., rows=True)``) may instead hold ``rows`` (Python values of
    plain column types) with neither table nor frame: what ``logpipe query run`` writes as text."""

    query: SavedQuery
    frame: pd.DataFrame
    window_start: datetime
    window_end: datetime
    params: dict[str, Any]
    stats: QueryStats
    # The engine's own result (a pyarrow Table): its values and types exactly, NULLs included, for the
    # writers of ``logpipe query``; None when the engine gave only the frame.
    table: Any = None
    rows: Rows | None = None

    @property
    def num_rows(self) -> int:
        """How many rows the result holds (counted without making a frame when there is none)."""
        if self.rows is not None:
            return self.rows.num_rows
        return int(self.table.num_rows) if self.table is not None else len(self.frame)


def _frame(self: QueryResult) -> pd.DataFrame:
    if self.__dict__.get("_frame") is None and self.table is not None:
        from logpipe.engines.duckdb import frame_of

        self.__dict__["_frame"] = frame_of(self.table)
    return self.__dict__.get("_frame")


def _set_frame(self: QueryResult, frame: pd.DataFrame | None) -> None:
    self.__dict__["_frame"] = frame


# ``frame`` is a property over the dataclass field (the generated __init__ assigns through it).
setattr(QueryResult, "frame", property(_frame, _set_frame))  # noqa: B010


__all__ = ["RUNNER_PARAMS", "AlertOp", "AlertSpec", "MetricSpec", "QueryResult", "SavedQuery", "Severity"]
