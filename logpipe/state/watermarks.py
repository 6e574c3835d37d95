"""Watermarks: for every scheduled job, the end of the last window it completed.

Why a watermark and not "run over the last hour": the scheduler can be down (a deploy, a crash, a
task replacement), a run can fail, and two processes (``serve`` and a manual ``logpipe run``) can
run at once. With a watermark per job, a run processes every *due* window after the watermark, in
order, and moves the watermark only when a window completed - so no window is skipped and none is
counted twice:

* windows are tumbling and aligned to their size (hourly windows are ``[10:00, 11:00)``, daily ones
  ``[00:00, 24:00)`` UTC);
* a window is due once ``now - lateness`` has passed its end (lateness covers Firehose buffering:
  records of 10:59 may land in S3 minutes later);
* the **first run** of a job (no watermark yet) starts ``[service] first_run_backfill`` (24 h) before
  the most recent complete window's end, not at the beginning of time: a new deployment processes the
  last day, it does not rescan months of logs (nor only the last hour);
* after downtime a run catches up at most ``max_catchup_windows`` windows (oldest first); the rest
  are left for the next run, which the service starts at once (never skipped);
* a failed window stops the job's run: the watermark stays before it, so it is retried next time.

Two tables of ``logpipe.state.tables``: ``service_jobs`` (one row per job: the watermark and the
last run/error, which ``/status`` shows after a restart) and ``service_job_windows`` (one row per
window tried: attempts, completion, last error - which shows a window redone after a crash).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update

from logpipe.layout import to_ms
from logpipe.state.db import from_ms_or_none, insert_ignore
from logpipe.state.tables import service_job_windows, service_jobs

MAX_ERROR_CHARS = 2000

jobs_table = service_jobs
windows_table = service_job_windows


def align(moment: datetime, size: timedelta) -> datetime:
    """The start of the size-aligned window holding ``moment`` (aligned to the Unix epoch, UTC)."""
    seconds = int(size.total_seconds())
    stamp = int(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


def due_windows(watermark: datetime | None, now: datetime, size: timedelta, lateness: timedelta,
                limit: int, backfill: timedelta = timedelta(0)) -> tuple[list[tuple[datetime, datetime]], int]:
    """The windows to process now (oldest first, at most ``limit``) and how many more are due.

    No watermark (a first run): the complete windows of the ``backfill`` before the most recent
    complete window's end, at least that one window. A watermark that is not aligned (the window size
    changed) steps from the watermark itself, so nothing between is skipped.
    """
    last_end = align(now - lateness, size)
    if watermark is None:
        count = max(1, int(backfill / size))
        watermark = last_end - count * size
    windows: list[tuple[datetime, datetime]] = []
    start = watermark
    while start + size <= last_end:
        windows.append((start, start + size))
        start += size
    return windows[:limit], max(0, len(windows) - limit)


@dataclass
class JobState:
    """What the state store knows about a job (for ``/status`` and the digest)."""

    job: str
    window_seconds: int
    watermark: datetime | None
    last_run_started: datetime | None
    last_run_finished: datetime | None
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_error_window: datetime | None
    consecutive_failures: int

    def to_dict(self) -> dict[str, Any]:
        def iso(m: datetime | None) -> str | None:
            return None if m is None else m.strftime("%Y-%m-%dT%H:%M:%SZ")

        return {"watermark": iso(self.watermark), "window_seconds": self.window_seconds,
                "last_run_started": iso(self.last_run_started), "last_run_finished": iso(self.last_run_finished),
                "last_success": iso(self.last_success), "last_error": self.last_error,
                "last_error_at": iso(self.last_error_at), "last_error_window": iso(self.last_error_window),
                "consecutive_failures": self.consecutive_failures}


@dataclass
class WindowRecord:
    job: str
    start: datetime
    end: datetime
    attempts: int
    completed: datetime | None
    last_error: str | None


class _Lost(Exception):
    """Another process moved the watermark first: roll the transaction back."""


def _state(row: Any) -> JobState:
    return JobState(job=row.job, window_seconds=row.window_seconds, watermark=from_ms_or_none(row.watermark_ms),
                    last_run_started=from_ms_or_none(row.last_run_started_ms),
                    last_run_finished=from_ms_or_none(row.last_run_finished_ms), last_success=from_ms_or_none(row.last_success_ms),
                    last_error=row.last_error, last_error_at=from_ms_or_none(row.last_error_ms),
                    last_error_window=from_ms_or_none(row.last_error_window_ms),
                    consecutive_failures=row.consecutive_failures or 0)


class WatermarkStore:
    """Reads and compare-and-set writes of job watermarks; safe with several processes."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.clock = clock

    def _now_ms(self) -> int:
        return to_ms(self.clock())

    def ensure(self, job: str, window: timedelta) -> JobState:
        with self.engine.begin() as conn:
            insert_ignore(conn, jobs_table, [{"job": job, "window_seconds": int(window.total_seconds()),
                                              "consecutive_failures": 0}], ["job"])
            row = conn.execute(select(jobs_table).where(jobs_table.c.job == job)).one()
        return _state(row)

    def get(self, job: str) -> JobState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs_table).where(jobs_table.c.job == job)).first()
        return None if row is None else _state(row)

    def all(self) -> dict[str, JobState]:
        with self.engine.connect() as conn:
            return {row.job: _state(row) for row in conn.execute(select(jobs_table).order_by(jobs_table.c.job))}

    def run_started(self, job: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(jobs_table).where(jobs_table.c.job == job).values(last_run_started_ms=self._now_ms()))

    def run_finished(self, job: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(jobs_table).where(jobs_table.c.job == job).values(last_run_finished_ms=self._now_ms()))

    def start_window(self, job: str, start: datetime, end: datetime) -> int:
        """Count an attempt at a window (committed before the work, so a crash leaves a trace); returns
        the attempt's number.

        One ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (SQLite 3.35+, PostgreSQL) where an
        insert, an update and a select were three statements: a run cycle starts a few hundred windows."""
        key = {"job": job, "window_start_ms": to_ms(start), "window_end_ms": to_ms(end)}
        with self.engine.begin() as conn:
            if conn.dialect.insert_returning:
                return int(conn.execute(_attempt_statement(conn), {**key, "attempts": 1,
                                                                   "started_ms": self._now_ms()}).scalar_one())
            insert_ignore(conn, windows_table, [{**key, "attempts": 0}], ["job", "window_start_ms", "window_end_ms"])
            bound = {"k_job": job, "k_start": key["window_start_ms"], "k_end": key["window_end_ms"]}
            conn.execute(_COUNT_ATTEMPT, {**bound, "now": self._now_ms()})
            return conn.execute(_ATTEMPTS, bound).scalar_one()

    def complete(self, job: str, start: datetime, end: datetime, previous: datetime | None,
                 also: Callable[[Connection], None] | None = None, by: str | None = None) -> bool:
        """Move the watermark from ``previous`` to ``end`` - and run ``also`` - in ONE transaction.

        Compare-and-set: False (nothing written, ``also`` rolled back) when another process moved
        the watermark first, i.e. completed this window already.
        """
        now = self._now_ms()
        try:
            with self.engine.begin() as conn:
                moved = conn.execute(_MOVE_FIRST if previous is None else _MOVE,
                                     {"k_job": job, "previous": None if previous is None else to_ms(previous),
                                      "end": to_ms(end), "now": now}).rowcount
                if not moved:
                    raise _Lost
                conn.execute(_WINDOW_DONE, {"k_job": job, "k_start": to_ms(start), "k_end": to_ms(end),
                                            "now": now, "by": by})
                if also is not None:
                    also(conn)
        except _Lost:
            return False
        return True

    def fail(self, job: str, start: datetime, end: datetime, error: str) -> None:
        now = self._now_ms()
        error = error[:MAX_ERROR_CHARS]
        with self.engine.begin() as conn:
            c = jobs_table.c
            conn.execute(update(jobs_table).where(c.job == job).values(
                last_error=error, last_error_ms=now, last_error_window_ms=to_ms(start),
                consecutive_failures=c.consecutive_failures + 1))
            w = windows_table.c
            conn.execute(update(windows_table).where(w.job == job, w.window_start_ms == to_ms(start),
                                                     w.window_end_ms == to_ms(end)).values(last_error=error))

    def windows(self, job: str | None = None) -> list[WindowRecord]:
        w = windows_table.c
        query = select(windows_table).order_by(w.job, w.window_start_ms)
        if job is not None:
            query = query.where(w.job == job)
        with self.engine.connect() as conn:
            return [WindowRecord(r.job, from_ms_or_none(r.window_start_ms), from_ms_or_none(r.window_end_ms),  # type: ignore[arg-type]
                                 r.attempts, from_ms_or_none(r.completed_ms), r.last_error) for r in conn.execute(query)]

    def failures_since(self, since: datetime) -> list[WindowRecord]:
        """Windows whose last attempt failed and that are not completed yet (for the digest)."""
        w = windows_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(windows_table).where(w.last_error.is_not(None), w.completed_ms.is_(None),
                                                            w.started_ms >= to_ms(since))
                                .order_by(w.job, w.window_start_ms)).all()
        return [WindowRecord(r.job, from_ms_or_none(r.window_start_ms), from_ms_or_none(r.window_end_ms),  # type: ignore[arg-type]
                             r.attempts, None, r.last_error) for r in rows]


# The statements of every window, built once (building one cost several times running it on SQLite,
# and a run cycle starts and completes a few hundred windows).
_w = service_job_windows.c
_j = service_jobs.c
# (bound names other than the columns': an UPDATE reserves those for its SET clause)
_WINDOW_KEY = (_w.job == bindparam("k_job"), _w.window_start_ms == bindparam("k_start"),
               _w.window_end_ms == bindparam("k_end"))
_COUNT_ATTEMPT = (update(service_job_windows).where(*_WINDOW_KEY)
                  .values(attempts=_w.attempts + 1, started_ms=bindparam("now")))
_ATTEMPTS = select(_w.attempts).where(*_WINDOW_KEY)
_MOVE_VALUES = {"watermark_ms": bindparam("end"), "last_success_ms": bindparam("now"), "consecutive_failures": 0}
_MOVE_FIRST = update(service_jobs).where(_j.job == bindparam("k_job"), _j.watermark_ms.is_(None)).values(**_MOVE_VALUES)
_MOVE = (update(service_jobs).where(_j.job == bindparam("k_job"), _j.watermark_ms == bindparam("previous"))
         .values(**_MOVE_VALUES))
_WINDOW_DONE = (update(service_job_windows).where(*_WINDOW_KEY)
                .values(completed_ms=bindparam("now"), completed_by=bindparam("by")))


def _attempt_statement(conn: Connection) -> Any:
    """``start_window``'s counting upsert, built once per dialect."""
    stmt = _ATTEMPT.get(conn.dialect.name)
    if stmt is None:
        import importlib

        dialect = importlib.import_module("sqlalchemy.dialects." + ("postgresql" if conn.dialect.name == "postgresql"
                                                                    else "sqlite"))
        base = dialect.insert(service_job_windows)
        stmt = _ATTEMPT[conn.dialect.name] = (
            base.on_conflict_do_update(index_elements=["job", "window_start_ms", "window_end_ms"],
                                       set_={"attempts": _w.attempts + 1, "started_ms": base.excluded.started_ms})
            .returning(_w.attempts))
    return stmt


_ATTEMPT: dict[str, Any] = {}
