"""The long-running service: APScheduler jobs over the watermark runner, plus what ``/healthz`` and
``/status`` report.

Why APScheduler's BackgroundScheduler with ``coalesce=True, max_instances=1``: a job that missed
several fire times (the process was busy or suspended) runs once, not once per missed time, and
never overlaps itself - the watermark makes one run catch up on every due window anyway. At start
every job runs once right away, so a restarted task catches up without waiting for its schedule.

Stopping (SIGTERM from ECS): the runner's stop event is set, so a running job finishes its current
window and leaves the rest (the watermark only moves after a window completes; an interrupted
window is simply redone by the next process). ``stop`` waits up to ``stop_timeout_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from logpipe.service.jobs import JobRunner, JobRunReport, JobSpec, build_jobs

if TYPE_CHECKING:
    from logpipe.config import Config

log = logging.getLogger(__name__)

# /status keys of a job that has not run yet (the same shape as a JobState's).
EMPTY_STATE_KEYS = ("watermark", "last_run_started", "last_run_finished", "last_success", "last_error",
                    "last_error_at", "last_error_window", "consecutive_failures")


DATA_QUALITY_PERIOD = timedelta(hours=24)  # what /status shows
LEASE_NAME = "scheduler"  # one lease: the holder runs every job, the other replicas stand by


def retry_delay(base: float, cap: float, failures: int) -> float:
    """Seconds before retrying a job that failed ``failures`` times in a row: doubling, capped."""
    return float(min(cap, base * 2 ** max(0, failures - 1)))


@dataclass
class Running:
    since: datetime
    monotonic: float


class Service:
    def __init__(self, config: Config, jobs: list[JobSpec] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.config = config
        self.clock = clock
        self.stop_event = threading.Event()
        from logpipe.service.jobs import import_job_modules

        # on this thread, before any of the jobs' threads (and, in ``serve``, the HTTP server's) start
        import_job_modules()
        from logpipe.service.observe import ServiceMetrics
        from logpipe.state.leases import replica_id

        self.replica = replica_id()
        self.metrics = ServiceMetrics()
        self.runner = JobRunner(config, self.stop_event, clock, replica=self.replica, may_start=self.is_leader,
                                metrics=self.metrics)
        from logpipe.state.leases import Lease

        self.lease = Lease(self.runner.engine, LEASE_NAME, config.service.lease_seconds, holder=self.replica)
        self._was_leader = False
        self._lease_thread: threading.Thread | None = None
        self.jobs = jobs if jobs is not None else build_jobs(config)
        self.running: dict[str, Running] = {}
        self.last_reports: dict[str, JobRunReport] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.scheduler: Any = None
        self.started_at: datetime | None = None
        self.retry_at: dict[str, datetime] = {}
        self.start_flush: Any = None

    # -- lifecycle -------------------------------------------------------------------------------

    # -- the lease: active/standby replicas ------------------------------------------------------

    def is_leader(self) -> bool:
        return self.lease.held() and not self.stop_event.is_set()

    def keep_lease(self) -> bool:
        """Renew or take the lease once; on taking it over, start every job now (catch up at once)."""
        try:
            leader = self.lease.acquire()
        except Exception as exc:  # the database is down: stop starting windows until it answers
            log.warning("cannot renew the lease: %s", exc)
            leader = self.lease.held()
        self.metrics.leader.set(1 if leader else 0)
        if leader and not self._was_leader:
            previous = self.lease.previous
            log.info("replica %s holds the lease (token %s): starting windows", self.replica, self.lease.token,
                     extra={"event": "lease", "lease": "acquired", "replica": self.replica, "token": self.lease.token,
                            "acquired_ms": self.lease.acquired_ms,
                            "previous_holder": previous.holder if previous else None,
                            "previous_expires_ms": previous.expires_ms if previous else None})
            if self.scheduler is not None and self.scheduler.running:
                for job in self.jobs:
                    self._reschedule(job.name, datetime.now(UTC))
        elif self._was_leader and not leader:
            log.warning("replica %s lost the lease: no new windows", self.replica,
                        extra={"event": "lease", "lease": "lost", "replica": self.replica})
        self._was_leader = leader
        return leader

    def _lease_loop(self) -> None:
        interval = self.config.service.lease_seconds / 3
        while not self.stop_event.wait(interval):
            self.keep_lease()

    def start(self, catch_up: bool = True) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        if not self.keep_lease():
            log.info("replica %s stands by: another replica holds the lease", self.replica,
                     extra={"event": "lease", "lease": "standby", "replica": self.replica})
        self._lease_thread = threading.Thread(target=self._lease_loop, name="logpipe-lease", daemon=True)
        self._lease_thread.start()
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": self.config.service.misfire_grace_seconds})
        for job in self.jobs:
            kwargs: dict[str, Any] = {}
            if catch_up:
                kwargs["next_run_time"] = datetime.now(UTC)
            self.scheduler.add_job(self.run_job, job.trigger(), args=[job], id=job.name, name=job.name, **kwargs)
        self.scheduler.start()
        self.started_at = self.clock()
        log.info("scheduler started with %d jobs", len(self.jobs))
        # What a previous process left queued goes out now, not with the next due window.
        threading.Thread(target=self._flush_at_start, name="logpipe-outbox-flush", daemon=True).start()

    def _flush_at_start(self) -> None:
        try:
            outcome = self.runner.flush_outboxes()
        except Exception:  # the scheduler goes on; the next job run flushes again
            log.exception("flushing the outboxes at start failed")
            return
        self.start_flush = outcome
        log.info("outboxes flushed at start: %d metric points, %d digests sent; pending %s",
                 outcome.sent_points, outcome.sent_digests, outcome.pending)

    def stop(self, timeout: float | None = None) -> bool:
        """Stop scheduling, let a running job finish its window; True if everything stopped in time."""
        timeout = self.config.service.stop_timeout_seconds if timeout is None else timeout
        self.stop_event.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + timeout
        with self._idle:
            while self.running and time.monotonic() < deadline:
                self._idle.wait(timeout=max(0.0, deadline - time.monotonic()))
            clean = not self.running
        if clean and self._was_leader:
            try:  # hand over at once: the standby need not wait for the lease to expire
                self.lease.release()
                log.info("replica %s released the lease", self.replica,
                         extra={"event": "lease", "lease": "released", "replica": self.replica})
            except Exception as exc:
                log.warning("cannot release the lease (it expires by itself): %s", exc)
        return clean

    @property
    def scheduler_running(self) -> bool:
        return self.scheduler is not None and self.scheduler.running and not self.stop_event.is_set()

    # -- a job run -------------------------------------------------------------------------------

    def run_job(self, job: JobSpec) -> JobRunReport | None:
        if self.stop_event.is_set() or not self.is_leader():
            return None  # stopping, or standing by: the lease holder runs the jobs
        with self._lock:
            if job.name in self.running:
                return None
            self.running[job.name] = Running(self.clock(), time.monotonic())
        try:
            report = self.runner.run(job)
        except Exception as exc:  # the scheduler thread must survive; the error shows in /status
            log.exception("job %s could not run", job.name)
            report = JobRunReport(job.name, error=f"{type(exc).__name__}: {exc}")
        finally:
            with self._idle:
                self.running.pop(job.name, None)
                self._idle.notify_all()
        self.last_reports[job.name] = report
        if self.stop_event.is_set() or self.scheduler is None or report.lease_lost:
            return report
        if report.failed:
            # Not damaged data (that completes its window): a failure worth trying again soon, not at the
            # next fire time, and less often the longer it lasts.
            state = self.runner.watermarks.get(job.name)
            failures = max(1, state.consecutive_failures if state else 1)
            delay = retry_delay(self.config.service.retry_backoff_seconds, self.config.service.retry_max_seconds,
                                failures)
            now = datetime.now(UTC)
            retry = now + timedelta(seconds=delay)
            natural = job.trigger().get_next_fire_time(None, now)
            self.retry_at[job.name] = retry if natural is None else min(retry, natural)
            self.scheduler.modify_job(job.name, next_run_time=self.retry_at[job.name])
        elif report.backlog:
            # Catch-up bound reached: run again now rather than at the next fire time.
            self._reschedule(job.name, datetime.now(UTC))
        else:
            self.retry_at.pop(job.name, None)
        return report

    def _reschedule(self, name: str, when: datetime) -> None:
        scheduled = self.scheduler.get_job(name) if self.scheduler is not None else None
        if scheduled is None:
            return
        if scheduled.next_run_time is None or when < scheduled.next_run_time:
            self.scheduler.modify_job(name, next_run_time=when)

    # -- health and status -----------------------------------------------------------------------

    def stuck_jobs(self) -> list[str]:
        limit = self.config.service.stuck_after_seconds
        now = time.monotonic()
        return sorted(name for name, r in list(self.running.items()) if now - r.monotonic > limit)

    def failing_jobs(self) -> dict[str, tuple[int, str | None]]:
        """Jobs that failed ``[service] degraded_after_failures`` times in a row: failures, last error."""
        limit = self.config.service.degraded_after_failures
        if not limit:
            return {}
        try:
            states = self.runner.watermarks.all()
        except Exception as exc:  # the state database itself is failing: that is degraded too
            return {"state database": (limit, f"{type(exc).__name__}")}
        names = {j.name for j in self.jobs}
        return {name: (s.consecutive_failures, s.last_error) for name, s in states.items()
                if name in names and s.consecutive_failures >= limit}

    def health(self) -> tuple[bool, dict[str, Any]]:
        stuck = self.stuck_jobs()
        failing = self.failing_jobs()
        ok = self.scheduler_running and not stuck and not failing
        reasons = []
        if not self.scheduler_running:
            reasons.append("the scheduler is not running" + (" (stopping)" if self.stop_event.is_set() else ""))
        if stuck:
            reasons.append(f"running longer than {self.config.service.stuck_after_seconds}s: {', '.join(stuck)}")
        for name, (failures, error) in sorted(failing.items()):
            reasons.append(f"job {name} failed {failures} times in a row (retrying with backoff): {error or ''}"[:500])
        status = "ok" if ok else ("degraded" if failing and self.scheduler_running and not stuck else "unhealthy")
        body: dict[str, Any] = {"status": status, "reasons": reasons, "running": sorted(self.running),
                                "jobs": len(self.jobs)}
        if failing:
            body["failing"] = sorted(failing)
        return ok, body

    def status(self) -> dict[str, Any]:
        """Jobs, their next and last runs, watermarks and last errors (no secrets: no config values)."""
        from logpipe.digest.model import iso

        states = self.runner.watermarks.all()
        jobs = []
        for job in self.jobs:
            next_run = None
            if self.scheduler is not None and self.scheduler.running:
                scheduled = self.scheduler.get_job(job.name)
                if scheduled is not None and scheduled.next_run_time is not None:
                    next_run = iso(scheduled.next_run_time.astimezone(UTC))
            state = states.get(job.name)
            running = self.running.get(job.name)
            report = self.last_reports.get(job.name)
            jobs.append({
                "name": job.name, "kind": job.kind, "schedule": job.schedule,
                "window_seconds": int(job.window.total_seconds()), "next_run": next_run,
                "running_since": iso(running.since) if running else None,
                **(state.to_dict() if state else dict.fromkeys(EMPTY_STATE_KEYS)),
                "last_report": report.to_dict() if report else None,
            })
            jobs[-1]["retry_at"] = iso(self.retry_at[job.name]) if job.name in self.retry_at else None
        ok, health = self.health()
        try:
            holder = self.lease.current()
        except Exception:
            holder = None
        replicas = {"replica": self.replica, "leader": self.is_leader(),
                    "lease_holder": holder.holder if holder else None, "lease_token": holder.token if holder else None}
        return {"healthy": ok, "health": health, "replicas": replicas, "started_at": iso(self.started_at) if self.started_at else None,
                "now": iso(self.clock()), "jobs": jobs, "metrics_outbox": self._outbox_status(),
                "data_quality": self._data_quality()}

    def prometheus(self) -> bytes:
        """The ``/metrics`` page: counters kept as windows finish, gauges read now (watermark lag per
        job, outbox depth per channel, whether this replica leads)."""
        now = self.clock()
        try:
            states = self.runner.watermarks.all()
            for job in self.jobs:
                state = states.get(job.name)
                if state is not None and state.watermark is not None:
                    self.metrics.watermark_lag.labels(job.name).set((now - state.watermark).total_seconds())
        except Exception as exc:  # the page still answers with what it has
            log.warning("cannot read the watermarks for /metrics: %s", exc)
        outbox = self._outbox_status()
        for channel, depth in (outbox.get("pending") or {}).items():
            self.metrics.outbox_depth.labels(channel).set(depth)
        self.metrics.leader.set(1 if self.is_leader() else 0)
        return self.metrics.exposition()

    def _outbox_status(self) -> dict[str, Any]:
        try:
            from logpipe.digest.deliver import Deliverer
            from logpipe.service.jobs import pending_summary

            metrics = self.runner.publisher.status()
            digests = Deliverer(self.config, self.runner.engine).status()
            return {"pending": pending_summary(metrics, digests), "metrics": metrics, "digests": digests}
        except Exception as exc:
            return {"error": f"{type(exc).__name__}"}

    def _data_quality(self) -> dict[str, Any]:
        """Bad and misplaced records and damaged objects of the last day's hours, and the paths under the
        prefix that are not objects of the layout (from the verdicts the queries left)."""
        from logpipe.digest.model import iso
        from logpipe.layout import floor_hour
        from logpipe.store.logs import UNRECOGNISED
        from logpipe.store.verdicts import VerdictStore, quality

        end = floor_hour(self.clock()) + timedelta(hours=1)
        start = end - DATA_QUALITY_PERIOD
        try:
            found = quality(VerdictStore(self.runner.engine).in_hours(start, end), UNRECOGNISED.all())
        except Exception as exc:
            return {"error": f"{type(exc).__name__}"}
        return {"since": iso(start), "until": iso(end), **found.to_dict()}
