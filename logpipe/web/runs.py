"""Query runs started from the console: a bounded pool, progress, cancel, and a URL per run.

A run is identified by what it computes - the query (and the text of its file), the parameter
values, the window and the engine - so the same URL names the same run: opening it again shows the
finished result instead of running it twice, and a colleague who opens the link reruns exactly it.
At most ``max_running_queries`` run at once (the rest wait in order); finished runs are kept in
memory (the newest ``keep``), each with at most ``max_result_rows`` rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa

from logpipe.config import Config
from logpipe.errors import LogpipeError
from logpipe.queries.arrow import head, table_of
from logpipe.queries.model import QueryResult, SavedQuery

log = logging.getLogger(__name__)

State = Literal["queued", "running", "done", "failed", "cancelled"]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RunRequest:
    """What to run: a saved query (or ad-hoc SQL), typed parameters as given, a window, an engine."""

    query: str
    params: tuple[tuple[str, str], ...]
    start: datetime
    end: datetime
    engine: str
    sql: str | None = None  # ad-hoc SQL (query == "adhoc")
    fingerprint: str = ""  # the saved query's text, so an edited query is a different run

    @property
    def run_id(self) -> str:
        key = json.dumps([self.query, list(self.params), iso(self.start), iso(self.end), self.engine, self.sql,
                          self.fingerprint])
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]

    def url_query(self) -> dict[str, str]:
        """The console URL's query string that reproduces this run."""
        out = {f"p.{k}": v for k, v in self.params}
        out.update({"since": iso(self.start), "until": iso(self.end), "engine": self.engine})
        if self.sql is not None:
            out["sql"] = self.sql
        return out


@dataclass
class Run:
    request: RunRequest
    actor: str
    state: State = "queued"
    progress: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    table: pa.Table | None = None  # at most max_result_rows rows
    total_rows: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def run_id(self) -> str:
        return self.request.run_id

    @property
    def finished_ok(self) -> bool:
        return self.state == "done"

    def to_dict(self) -> dict[str, Any]:
        elapsed = ((self.finished or time.time()) - self.started) if self.started else 0.0
        return {"run_id": self.run_id, "query": self.request.query, "state": self.state, "progress": self.progress,
                "error": self.error, "actor": self.actor, "since": iso(self.request.start),
                "until": iso(self.request.end), "engine": self.request.engine, "params": dict(self.request.params),
                "seconds": round(elapsed, 3), "rows": self.total_rows,
                "rows_shown": self.table.num_rows if self.table is not None else 0,
                "truncated": self.table is not None and self.table.num_rows < self.total_rows,
                "stats": self.stats}


class QueryRuns:
    """The console's query runs (one instance per app)."""

    def __init__(self, config: Config, max_workers: int = 2, max_rows: int = 10_000, keep: int = 64) -> None:
        self.config = config
        self.max_rows = max_rows
        self.keep = keep
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="logpipe-query")
        self.runs: OrderedDict[str, Run] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, request: RunRequest, query: SavedQuery, values: Mapping[str, Any], actor: str) -> Run:
        """Start the run (or return the same run when it is running or finished without error)."""
        with self._lock:
            existing = self.runs.get(request.run_id)
            if existing is not None and existing.state in ("queued", "running", "done"):
                self.runs.move_to_end(request.run_id)
                return existing
            run = Run(request, actor)
            self.runs[request.run_id] = run
            while len(self.runs) > self.keep:
                oldest_id, oldest = next(iter(self.runs.items()))
                if oldest.state in ("queued", "running"):
                    break
                self.runs.pop(oldest_id)
        self.executor.submit(self._execute, run, query, dict(values))
        return run

    def get(self, run_id: str) -> Run | None:
        with self._lock:
            return self.runs.get(run_id)

    def cancel(self, run_id: str) -> Run | None:
        run = self.get(run_id)
        if run is not None and run.state in ("queued", "running"):
            run.cancel.set()
            run.progress = "cancelling"
        return run

    def _execute(self, run: Run, query: SavedQuery, values: dict[str, Any]) -> None:
        from logpipe.queries.runner import run_query

        if run.cancel.is_set():
            run.state, run.progress, run.finished = "cancelled", "cancelled before it started", time.time()
            return
        run.state, run.started = "running", time.time()

        def progress(text: str) -> None:
            run.progress = text

        try:
            result: QueryResult = run_query(self.config, query, run.request.start, run.request.end, values,
                                            run.request.engine, progress, force=False, cancel=run.cancel)
        except LogpipeError as exc:
            self._finish(run, "cancelled" if run.cancel.is_set() else "failed", str(exc))
            return
        except Exception as exc:  # a bug or a library error: the run fails, the server goes on
            log.exception("query run %s failed", run.run_id)
            self._finish(run, "failed", f"{type(exc).__name__}: {exc}")
            return
        table = table_of(result)
        run.total_rows = table.num_rows
        run.table = head(table, self.max_rows)
        s = result.stats
        run.stats = {"engine": s.engine, "bytes_scanned": s.bytes_scanned, "files_scanned": s.files_scanned,
                     "engine_ms": round(s.engine_ms, 1), "cost_usd": s.cost_usd, "bad_records": s.bad_records,
                     "query_id": s.query_id}
        self._finish(run, "done", None)

    @staticmethod
    def _finish(run: Run, state: State, error: str | None) -> None:
        run.error = error
        run.finished = time.time()
        run.progress = {"done": "done", "failed": "failed", "cancelled": "cancelled"}.get(state, state)
        run.state = state

    def close(self) -> None:
        for run in list(self.runs.values()):
            run.cancel.set()
        self.executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["QueryRuns", "Run", "RunRequest", "iso"]
