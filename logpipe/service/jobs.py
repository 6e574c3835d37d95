"""The scheduled jobs and how one run of a job processes its due windows.

Jobs come from the config: every saved query with a ``schedule`` (``query:NAME``), the detectors
(``detect``, ``[service] detect_schedule``) and the digests (``digest`` daily, ``digest:hourly`` when
``[digest] hourly``). Processing one window, per kind:

* query:  run the query, queue its metric points in the publisher's outbox (key: job + window);
* detect: run the detectors (they learn the window once), queue ErrorCount/NewPatterns/PatternCount;
* digest: build the digest, queue one delivery per destination.

What the window produced is written in ONE transaction with the watermark's compare-and-set
(``WatermarkStore.complete``): a query's kept result, the metric points (outbox key: job + window),
the job's JobHeartbeat/JobDuration (key: ``JOB:heartbeat`` + window), a query's alert states, a
digest's deliveries. A crash before that commit leaves none of it (the window is redone, its attempt
counted by ``start_window``, committed before the work); after it, all of it (the window is not
redone). Another process that completed the window first makes the compare-and-set fail and the whole
transaction roll back: what it wrote stands, nothing is added twice. Queuing a window's points twice
is a no-op besides (the outbox is keyed), so the metrics are exactly once either way. The detectors'
pattern store learns a window in its own transaction during the work, once per window (it records
the windows it learned). After the windows the outboxes are flushed; what cannot be sent stays queued
for the next run (the watermark still moves: the points and digests are durably queued, not lost).

Why one transaction: a run cycle completes a few hundred windows, and the result, the points, the
heartbeat and the watermark each committed on their own were four commits (and their statements)
per window - a large part of the cycle's time outside the engine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection

from logpipe.digest.model import Digest
from logpipe.durations import parse_duration
from logpipe.engines.object_cache import ListingMemo, ObjectCache, sharing_listings
from logpipe.engines.object_cache import using as using_objects
from logpipe.errors import LogpipeError, UsageError
from logpipe.layout import floor_hour, to_ms
from logpipe.metrics.model import DataPoint, points_from_result
from logpipe.queries.model import SavedQuery
from logpipe.queries.stored import ResultStore
from logpipe.service.observe import ServiceMetrics
from logpipe.sinks.publisher import Publisher

if TYPE_CHECKING:
    from logpipe.config import Config

log = logging.getLogger(__name__)

# The modules a job's window imports on first use (``logpipe run`` imports only what its jobs need).
# ``logpipe serve`` runs its jobs on several threads at once: two threads importing modules that
# import one another can each hold one of them, and Python then hands one thread the other's module
# half-initialised (ImportError: "cannot import name ... from partially initialized module"), failing
# that window. The scheduler imports them all on one thread when it is made, before its threads start.
JOB_MODULES = ("logpipe.queries.runner", "logpipe.detectors.run", "logpipe.digest.build", "logpipe.digest.deliver",
               "logpipe.service.alerts", "logpipe.service.observe", "logpipe.engines.compact", "logpipe.metrics.model",
               "logpipe.store.logs", "logpipe.store.verdicts", "logpipe.state.watermarks", "logpipe.state.leases",
               "logpipe.digest.render_html", "logpipe.digest.render_md", "logpipe.digest.render_slack",
               "logpipe.digest.render_text")


def import_job_modules() -> None:
    """Import every module a job's window may import lazily (``JOB_MODULES``), on the calling thread."""
    from logpipe.lazy import import_modules

    import_modules(JOB_MODULES)


# A window's metric points as the publisher queues them: (job key, start, end, points).
QueuedWindow = tuple[str, datetime, datetime, list[DataPoint]]
# What writes a window's products on its watermark's transaction, with other windows' points to queue
# in the same statements (the window's heartbeat).
Finish = Callable[[Connection, list[QueuedWindow]], None]

JobKind = Literal["query", "detect", "digest", "compact"]


@dataclass(frozen=True)
class JobSpec:
    name: str
    kind: JobKind
    schedule: str  # cron ("0 * * * *") or interval ("every 15m")
    window: timedelta
    query: SavedQuery | None = None  # the saved query of a query job

    def trigger(self) -> Any:
        return make_trigger(self.schedule)


def make_trigger(schedule: str) -> Any:
    """An APScheduler trigger for a cron line or ``every DURATION`` (UTC)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    text = " ".join(schedule.split())
    try:
        if text.startswith("every "):
            return IntervalTrigger(seconds=parse_duration(text.removeprefix("every ")), timezone=UTC)
        return CronTrigger.from_crontab(text, timezone=UTC)
    except ValueError as exc:
        raise UsageError(f"schedule {schedule!r}: {exc}; use a 5-field cron ('5 * * * *') or 'every 15m'") from None


def build_jobs(config: Config) -> list[JobSpec]:
    """Every scheduled job the config describes, in a stable order."""
    from logpipe.queries.loader import load_queries

    jobs = []
    if config.compact.enabled:  # first: a run's queries then read the hours it has just compacted
        jobs.append(JobSpec("compact", "compact", config.compact.schedule, timedelta(hours=1)))
    for query in load_queries(config).values():
        if query.schedule:
            jobs.append(JobSpec(f"query:{query.name}", "query", query.schedule,
                                timedelta(seconds=parse_duration(query.window)), query))
    jobs.append(JobSpec("detect", "detect", config.service.detect_schedule,
                        timedelta(seconds=parse_duration(config.service.window))))
    jobs.append(JobSpec("digest", "digest", config.digest.schedule,
                        timedelta(seconds=parse_duration(config.digest.window))))
    if config.digest.hourly:
        jobs.append(JobSpec("digest:hourly", "digest", "5 * * * *", timedelta(hours=1)))
    from logpipe.service.alerts import check_alerts

    for job in jobs:
        job.trigger()  # a bad schedule is an error at start, naming the job
        if job.query is not None:
            check_alerts(config, job.query)  # an alert naming an unknown destination, too
    return jobs


@dataclass
class WindowOutcome:
    start: datetime
    end: datetime
    ok: bool
    seconds: float
    attempt: int
    error: str | None = None
    skipped: bool = False  # another process completed it first
    quality: str | None = None  # the window's data quality, when it has bad or misplaced records


# At the same window end: compaction first (the queries then read the hours it compacted), then the
# queries, the detectors and the digests (logpipe run's window-major order, JobRunner.run_cycle).
KIND_ORDER: dict[str, int] = {"compact": 0, "query": 1, "detect": 2, "digest": 3}


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LogpipeError) else f"{type(exc).__name__}: {exc}"


@dataclass
class JobRunReport:
    job: str
    windows: list[WindowOutcome] = field(default_factory=list)
    backlog: int = 0  # due windows left for the next run (catch-up bound)
    stopped: bool = False  # a stop was requested between windows
    flush_errors: list[str] = field(default_factory=list)
    error: str | None = None  # the run could not start (bad config...)
    lease_lost: bool = False  # stopped because this replica no longer holds the lease

    @property
    def failed(self) -> bool:
        return self.error is not None or any(not w.ok for w in self.windows)

    def to_dict(self) -> dict[str, Any]:
        from logpipe.digest.model import iso

        return {"job": self.job, "failed": self.failed, "backlog": self.backlog, "stopped": self.stopped,
                "error": self.error, "flush_errors": self.flush_errors,
                "windows": [{"start": iso(w.start), "end": iso(w.end), "ok": w.ok, "seconds": round(w.seconds, 3),
                             "attempt": w.attempt, "error": w.error, "skipped": w.skipped, "data_quality": w.quality}
                            for w in self.windows]}


@dataclass
class _JobRun:
    """One job's pass over its due windows (``JobRunner.run`` and ``run_cycle``)."""

    job: JobSpec
    report: JobRunReport
    windows: list[tuple[datetime, datetime]]
    previous: datetime | None  # the watermark before the next window
    # The time the run pretends (``logpipe run --now``): besides which windows are due, which hours the
    # compact job takes as closed and the digests' date. None: the clock's, when each window is worked.
    pretended: datetime | None
    index: int = 0  # the job's place in the config
    next: int = 0  # the next window to process
    done: bool = False

    def order(self) -> tuple[bool, datetime, int, int]:
        """Window-major: the next window's end, then the kind, then the config's order. Compaction goes
        before every other window: it compacts every closed hour whatever its window, and the other
        jobs then read those hours from Parquet instead of reading their raw objects once more."""
        kind = KIND_ORDER.get(self.job.kind, len(KIND_ORDER))
        return self.job.kind != "compact", self.windows[self.next][1], kind, self.index


class JobRunner:
    """Runs jobs over their due windows; shared by ``logpipe run`` and the scheduler."""

    def __init__(self, config: Config, stop: threading.Event | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), replica: str | None = None,
                 may_start: Callable[[], bool] | None = None, metrics: ServiceMetrics | None = None) -> None:
        from logpipe.state.db import open_state
        from logpipe.state.leases import replica_id
        from logpipe.state.watermarks import WatermarkStore

        self.config = config
        # Who completes windows (the lease holder under ``serve``), and whether it may start one now:
        # a replica that lost the lease stops before its next window.
        self.replica = replica or replica_id()
        self.may_start = may_start or (lambda: True)
        self.metrics = metrics
        self._info = threading.local()  # what the current window's work measured (per scheduler thread)
        self.engine = open_state(config.state.url)
        self.watermarks = WatermarkStore(self.engine, clock)
        self.stop = stop or threading.Event()
        self.clock = clock
        self._publisher: Publisher | None = None
        # Raw objects kept in memory between the windows of this runner (logpipe.engines.object_cache).
        megabytes = config.engine.cycle_cache_mb
        self.objects = ObjectCache(megabytes * 1024 * 1024) if megabytes and config.engine.kind == "duckdb" else None

    @property
    def results(self) -> ResultStore:
        web = self.config.web
        return ResultStore(self.engine, web.result_retention_days, web.result_rows_kept, web.result_max_per_job)

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            self._publisher = Publisher(self.config.metrics, self.engine, self.config.aws.region)
        return self._publisher

    def run(self, job: JobSpec, now: datetime | None = None) -> JobRunReport:
        """Process every due window of ``job`` (oldest first); stop at the first failure."""
        run = self._begin(job, now or self.clock(), pretended=now)
        try:
            while self._step(run):
                pass
        finally:
            self._end(run)
        return run.report

    def run_cycle(self, jobs: list[JobSpec], now: datetime | None = None) -> list[JobRunReport]:
        """Process every due window of every job, in time order across the jobs (``logpipe run``).

        Why window-major: every query job, the detectors and the digests read the same hours; taken
        one job at a time, a cycle over a day went over the day a dozen times, each time past what
        the object cache holds. In time order the hours a window reads are the ones the previous
        windows just read. Compaction first (``_JobRun.order``); then the windows ending first; at
        the same end the queries, the detectors, the digests (a digest reads what the others
        produced), then the config's order. Each job keeps its own semantics: its windows oldest
        first, stopping at its first failed window (the others go on), its watermark, leases and the
        stop event as in ``run``. A job that cannot start (its state unreadable) is reported with its
        error; the others run. Reports come back in the order of ``jobs``.

        The object cache lets go of the hours before the earliest window left, less that job's
        window (a digest compares its window with the period before it): no window of this cycle
        reads them again, so it holds about two days (the daily windows), not the whole cycle."""
        pretended, now = now, now or self.clock()
        reports: list[JobRunReport] = []
        runs: list[_JobRun] = []
        for index, job in enumerate(jobs):
            try:
                run = self._begin(job, now, index, pretended)
            except Exception as exc:  # one job that cannot run does not keep the others from theirs
                reports.append(JobRunReport(job.name, error=_error_text(exc)))
                continue
            runs.append(run)
            reports.append(run.report)
        ends = {end for run in runs for _, end in run.windows}
        try:  # the overlap check's reads for every window end of the cycle, in one query
            if ends:  # (no window: no publisher, as before - nor a flush of it)
                self.publisher.expect_windows(ends)
        except Exception as exc:  # only a read ahead: each end is then read at its first window
            log.debug("cannot read the outbox ahead of the cycle: %s", exc)
        # The queries of one window share its listing (object_cache.ListingMemo), and its jobs the
        # verdicts of its hours (window_quality), for this cycle only.
        listings = ListingMemo()
        self._info.verdicts_in = {}
        try:
            while True:
                ready = [r for r in runs if not r.done]
                if not ready:
                    break
                if self.objects is not None:  # what no window left reads, nor the period before it
                    self.objects.forget_before(min(to_ms(floor_hour(r.windows[r.next][0] - r.job.window))
                                                   for r in ready))
                run = min(ready, key=_JobRun.order)
                try:
                    with sharing_listings(listings):
                        self._step(run)
                except Exception as exc:  # the state database failed between windows: this job stops
                    run.report.error = _error_text(exc)
                    run.done = True
                finally:
                    if run.job.kind == "compact":  # the watermarks and Parquet files a split names changed
                        listings.clear()
        finally:
            self._info.verdicts_in = None
            for run in runs:
                try:
                    self._end(run)
                except Exception as exc:
                    run.report.error = run.report.error or _error_text(exc)
        return reports

    def _begin(self, job: JobSpec, now: datetime, index: int = 0, pretended: datetime | None = None) -> _JobRun:
        """A job's run: its state ensured and marked started, its due windows."""
        from logpipe.state.watermarks import due_windows

        report = JobRunReport(job.name)
        state = self.watermarks.ensure(job.name, job.window)
        self.watermarks.run_started(job.name)
        lateness = timedelta(seconds=parse_duration(self.config.service.lateness))
        # A first run processes the windows of [service] first_run_backfill, not only the latest one
        # (digests excepted: a digest is a message to people, yesterday's are not sent on a first start).
        backfill = (timedelta(0) if job.kind in ("digest", "compact")
                    else timedelta(seconds=parse_duration(self.config.service.first_run_backfill)))
        windows, report.backlog = due_windows(state.watermark, now, job.window, lateness,
                                              self.config.service.max_catchup_windows, backfill)
        return _JobRun(job, report, windows, state.watermark, pretended, index, done=not windows)

    def _step(self, run: _JobRun) -> bool:
        """Process the run's next window; False when the run is over (no window left, a failure, a stop)."""
        if run.done:
            return False
        job, report = run.job, run.report
        if self.stop.is_set() or not self.may_start():
            report.stopped = True
            report.lease_lost = not self.stop.is_set()
            report.backlog += len(run.windows) - len(report.windows)
            run.done = True
            return False
        start, end = run.windows[run.next]
        run.next += 1
        outcome = self._window(job, start, end, run.previous, run.pretended)
        report.windows.append(outcome)
        if not outcome.ok:
            report.backlog += len(run.windows) - len(report.windows)
            run.done = True
            return False
        if outcome.skipped:  # another process completed it: read where it left the watermark
            current = self.watermarks.get(job.name)
            run.previous = current.watermark if current else end
        else:  # this window's own compare-and-set moved it to the window's end
            run.previous = end
        run.done = run.next >= len(run.windows)
        return not run.done

    def _end(self, run: _JobRun) -> None:
        try:
            run.report.flush_errors = self._flush(run.job)
        finally:
            if run.job.kind == "query" and any(w.ok and not w.skipped for w in run.report.windows):
                try:  # the kept results over the retention, once per job run (not per window)
                    self.results.prune(run.job.name)
                except Exception as exc:  # housekeeping: the next run prunes them
                    log.warning("cannot prune the kept results of %s: %s", run.job.name, exc)
            self.watermarks.run_finished(run.job.name)

    def _window(self, job: JobSpec, start: datetime, end: datetime, previous: datetime | None,
                pretended: datetime | None = None) -> WindowOutcome:
        began = time.perf_counter()
        self._info.measured = {}
        self._info.alert_frame = None
        self._info.result = None
        self._info.quality = None
        attempt = self.watermarks.start_window(job.name, start, end)
        log.debug("job %s: window %s .. %s (attempt %d)", job.name, start, end, attempt)
        try:
            with using_objects(self.objects):
                finish = self._process(job, start, end, pretended)

            def commit(conn: Connection) -> None:  # with the watermark's compare-and-set
                heartbeat = self._service_points(job, start, end, time.perf_counter() - began)
                if finish is not None:
                    finish(conn, [heartbeat])
                else:
                    self.publisher.enqueue_many_in(conn, [heartbeat])

            done = self.watermarks.complete(job.name, start, end, previous, commit, by=self.replica)
            quality = self._quality_note(start, end, getattr(self._info, "quality", None))
        except Exception as exc:  # every failure is recorded; the watermark stays before the window
            error = _error_text(exc)
            self.watermarks.fail(job.name, start, end, error)
            self._count_failure(job, start, end, attempt)
            outcome = WindowOutcome(start, end, False, time.perf_counter() - began, attempt, error)
            self._observe(job, outcome, "failed")
            return outcome
        outcome = WindowOutcome(start, end, True, time.perf_counter() - began, attempt, skipped=not done,
                                quality=quality)
        self._observe(job, outcome, "completed" if done else "done_elsewhere")
        return outcome

    def _observe(self, job: JobSpec, outcome: WindowOutcome, what: str) -> None:
        """The window's JSON log line and Prometheus figures (never fails the window)."""
        from logpipe.service.observe import log_window

        measured: dict[str, Any] = getattr(self._info, "measured", {}) or {}
        try:
            log_window(job.name, outcome.start, outcome.end, what, outcome.seconds, outcome.attempt, self.replica,
                       rows=measured.get("rows"), bytes_scanned=measured.get("bytes_scanned"),
                       cost_usd=measured.get("cost_usd"), error=outcome.error)
            if self.metrics is not None:
                self.metrics.window(job.name, what, outcome.seconds, measured.get("bytes_scanned"),
                                    measured.get("bad_records"))
        except Exception as exc:
            log.warning("cannot report window %s of %s: %s", outcome.start, job.name, exc)

    def _quality_note(self, start: datetime, end: datetime, found: Any = None) -> str | None:
        """The window's data quality as a note (``found``: what the window's work already read)."""
        try:
            found = found if found is not None else self.window_quality(start, end)
        except Exception as exc:  # only a note: the window itself completed
            return f"data quality unknown: {type(exc).__name__}"
        if not (found.bad or found.misplaced or found.damaged):
            return None
        log.warning("window %s .. %s completed with damaged data: %s", start.isoformat().replace("+00:00", "Z"),
                    end.isoformat().replace("+00:00", "Z"), found.summary())
        return found.summary()

    # -- per kind ----------------------------------------------------------------------------------

    def _process(self, job: JobSpec, start: datetime, end: datetime, pretended: datetime | None = None
                 ) -> Finish | None:
        """Do the window's work; return what writes its products, to commit together with the
        watermark (or None)."""
        return self._queue(job, start, end, self._work(job, start, end, pretended))

    def _work(self, job: JobSpec, start: datetime, end: datetime, pretended: datetime | None = None
              ) -> list[DataPoint] | Digest:
        """The window's work: a query job's or the detectors' data points, or the digest. Nothing is
        queued and no watermark moves here (the detectors' own store learns the window once).
        ``pretended``: the run's pretended time (``logpipe run --now``; ``_JobRun.pretended``), else the
        clock: a run at a past time compacts the hours closed then, not every hour up to the real time,
        and dates its digests then."""
        now = pretended or self.clock()
        if job.kind == "query":
            from logpipe.queries.runner import run_query

            if job.query is None:
                raise UsageError(f"job {job.name} has no saved query")
            result = run_query(self.config, job.query, start, end, {})
            rows = result.table.num_rows if result.table is not None else len(result.frame)  # no frame for a count
            self._info.measured = {"rows": rows, "bytes_scanned": result.stats.bytes_scanned,
                                   "cost_usd": round(result.stats.cost_usd, 6),
                                   "bad_records": dict(result.stats.bad_records)}
            self._info.result = result  # kept (browsable in the console, by window) with the watermark
            if job.query.alerts:
                self._info.alert_frame = result.frame  # checked in the watermark's transaction (_queue)
            return points_from_result(result, top_patterns=self.config.metrics.top_patterns)
        if job.kind == "compact":  # every closed hour past the compaction watermark, whatever the window
            from logpipe.engines.compact import open_compactor

            compact = self.config.compact
            open_compactor(self.config).run(now, compact.max_hours_per_run,
                                            timedelta(seconds=parse_duration(compact.recheck)))
            return []
        if job.kind == "detect":
            from logpipe.detectors.run import detection_points, run_detectors

            report = run_detectors(self.config, start, end, learn=True)
            self._info.quality = self.window_quality(start, end)  # the metrics' and the window's note
            return [*(DataPoint(p["name"], p["timestamp"], value=p["value"], unit=p["unit"],
                                dimensions=tuple(p["dimensions"].items()))
                      for p in detection_points(report, self.config.metrics.top_patterns)),
                    *quality_points(self._info.quality, end)]
        from logpipe.digest.build import build_digest

        # The trend charts are drawn for the messages that carry them: with no destination the digest
        # is only the detectors' learning, and matplotlib (its import alone about a second) stays out.
        return build_digest(self.config, start, end, now=now, charts=bool(self.config.digest.destinations))

    def _queue(self, job: JobSpec, start: datetime, end: datetime, work: list[DataPoint] | Digest
               ) -> Finish | None:
        """What writes the window's products on the watermark's transaction: a query's kept result,
        the metric points (a window queued twice adds nothing) and its alerts; a digest's deliveries."""
        if not isinstance(work, Digest):
            frame = getattr(self._info, "alert_frame", None)
            result = getattr(self._info, "result", None)
            self._info.alert_frame = self._info.result = None
            query, config = job.query, self.config

            def queue_points(conn: Connection, also: list[QueuedWindow]) -> None:
                if result is not None:
                    self.results.save_in(conn, job.name, result, prune=False)  # pruned at the job's end
                self.publisher.enqueue_many_in(conn, [(job.name, start, end, work), *also])
                if frame is None or query is None:
                    return
                from logpipe.service import alerts

                fired = alerts.evaluate(conn, job.name, query, frame, start, end)
                for firing in fired:
                    log.warning("%s", firing.title, extra={"event": "alert", "job": job.name, "alert": firing.alert.name,
                                                           "severity": firing.alert.severity, "series": firing.series,
                                                           "value": firing.value})
                alerts.record(conn, config, fired)

            return queue_points
        destinations = list(self.config.digest.destinations)
        if not destinations:
            return None

        def queue(conn: Connection, also: list[QueuedWindow]) -> None:
            from logpipe.digest import deliver

            deliver.enqueue(conn, work, destinations, job.name)
            self.publisher.enqueue_many_in(conn, also)

        return queue

    def window_quality(self, start: datetime, end: datetime) -> Any:
        """The data quality of a window's hours, from the verdicts its queries left (DuckDB engine).

        In a run cycle the verdicts of a window's hours are read once for all its jobs (the query jobs,
        the detectors: half a dozen notes of one window in a row) as long as this process wrote no
        verdict since (``verdicts.saves``); outside a cycle, and after a write, they are read again."""
        from logpipe.store.logs import UNRECOGNISED
        from logpipe.store.verdicts import VerdictStore, quality, saves

        memo: dict[tuple[datetime, datetime], tuple[int, list[Any]]] | None = getattr(self._info, "verdicts_in", None)
        held = memo.get((start, end)) if memo is not None else None
        if held is not None and held[0] == saves():
            verdicts = held[1]
        else:
            mark = saves()
            verdicts = VerdictStore(self.engine).in_hours(start, end)
            if memo is not None:
                if len(memo) >= 64:  # a cycle asks about the window it is at: older ones are not asked again
                    memo.clear()
                memo[(start, end)] = (mark, verdicts)
        return quality(verdicts, UNRECOGNISED.all())

    def _count_failure(self, job: JobSpec, start: datetime, end: datetime, attempt: int) -> None:
        """A JobFailures point per failed attempt (its own exactly-once key), for alarms."""
        from logpipe.metrics import names
        from logpipe.metrics.model import DataPoint

        point = DataPoint(names.JOB_FAILURES, end, value=1.0, unit="Count", dimensions=((names.DIM_JOB, job.name),))
        try:
            self.publisher.enqueue(f"{job.name}:failure:{attempt}", start, end, [point])
        except Exception as exc:  # the failure itself is recorded in the state; do not hide it behind this
            log.warning("cannot queue the JobFailures metric for %s: %s", job.name, exc)

    def _service_points(self, job: JobSpec, start: datetime, end: datetime, seconds: float) -> QueuedWindow:
        """The service's own metrics for a completed window, under their own exactly-once key, queued
        on the watermark's transaction (with the window's own points, in the same statements): a
        JobHeartbeat (its absence is what the job's heartbeat alarm, missing data breaching, pages on)
        and the JobDuration (the window's time up to its commit); to the configured sinks like every
        other point (CloudWatch, EMF...). A database error there fails the window like any other of its
        writes: it is redone, nothing is half written."""
        from logpipe.metrics import names

        dims = ((names.DIM_JOB, job.name),)
        points = [DataPoint(names.JOB_HEARTBEAT, end, value=1.0, unit="Count", dimensions=dims),
                  DataPoint(names.JOB_DURATION, end, value=round(seconds, 3), unit="Seconds", dimensions=dims)]
        return (f"{job.name}:heartbeat", start, end, points)

    def _flush(self, job: JobSpec) -> list[str]:
        errors: list[str] = []
        try:
            if self._publisher is not None:
                flushed = self.publisher.flush()
                errors += [e for rep in flushed.sinks.values() for e in rep.errors[:3]]
            alerting = job.kind == "query" and job.query is not None and bool(job.query.alerts)
            if (job.kind == "digest" or alerting) and self.config.digest.destinations:
                from logpipe.digest.deliver import Deliverer

                delivered = Deliverer(self.config, self.engine).flush()
                errors += list(delivered.failed.values())
        except Exception as exc:  # stays queued: the next run flushes again
            errors.append(f"{type(exc).__name__}: {exc}")
        for error in errors:
            log.warning("job %s: delivery left queued for the next run: %s", job.name, error)
        return errors

    def flush_outboxes(self) -> FlushOutcome:
        """Send whatever waits in the outboxes (metric batches, digest deliveries), due window or not.

        Why on every ``logpipe run`` and at ``serve`` start: a process killed in the middle of a send
        leaves batches queued, and a run with no window due would otherwise leave them there until the
        next window (or a person running ``logpipe metrics flush``)."""
        outcome = FlushOutcome()
        try:
            flushed = self.publisher.flush()
            outcome.sent_points = flushed.sent_points
            outcome.errors += [e for rep in flushed.sinks.values() for e in rep.errors[:3]]
        except Exception as exc:
            outcome.errors.append(f"metrics: {type(exc).__name__}: {exc}")
        if self.config.digest.destinations:
            try:
                from logpipe.digest.deliver import Deliverer

                delivered = Deliverer(self.config, self.engine).flush()
                outcome.sent_digests = len(delivered.sent)
                outcome.errors += list(delivered.failed.values())
            except Exception as exc:
                outcome.errors.append(f"digests: {type(exc).__name__}: {exc}")
        outcome.pending = pending_summary(self.publisher.status(), self._digest_status())
        for error in outcome.errors:
            log.warning("outbox: left queued for the next run: %s", error)
        return outcome

    def _digest_status(self) -> dict[str, dict[str, int]]:
        if not self.config.digest.destinations:
            return {}
        from logpipe.digest.deliver import Deliverer

        return dict(Deliverer(self.config, self.engine).status())


def quality_points(found: Any, at: datetime) -> list[DataPoint]:
    """``BadRecords`` per reason seen and ``MisplacedRecords`` of a window (emitted by the detect job,
    whose windows tile time: each object is counted in one window)."""
    from logpipe.metrics import names

    points = [DataPoint(names.BAD_RECORDS, at, value=float(n), unit="Count", dimensions=((names.DIM_REASON, reason),))
              for reason, n in sorted(found.bad.items())]
    points.append(DataPoint(names.MISPLACED_RECORDS, at, value=float(found.misplaced), unit="Count"))
    return points


@dataclass
class FlushOutcome:
    sent_points: int = 0
    sent_digests: int = 0
    pending: dict[str, int] = field(default_factory=dict)  # "metrics"/"digests" -> items not yet sent
    errors: list[str] = field(default_factory=list)


def pending_summary(metrics: dict[str, dict[str, int]], digests: dict[str, dict[str, int]]) -> dict[str, int]:
    """Items not yet delivered (pending, sending or unknown), per channel, from the outbox status."""
    def open_items(status: dict[str, dict[str, int]]) -> int:
        return sum(n for counts in status.values() for state, n in counts.items() if state != "sent")

    return {"metrics": open_items(metrics), "digests": open_items(digests)}


def select_jobs(jobs: list[JobSpec], names: tuple[str, ...] | list[str]) -> list[JobSpec]:
    if not names:
        return jobs
    by_name = {j.name: j for j in jobs}
    # ``--job errors_by_service`` finds ``query:errors_by_service`` too.
    picked = []
    for name in names:
        job = by_name.get(name) or by_name.get(f"query:{name}")
        if job is None:
            raise UsageError(f"no scheduled job {name!r}: the jobs are {', '.join(by_name)}")
        picked.append(job)
    return picked
