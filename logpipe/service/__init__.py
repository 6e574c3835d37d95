"""The service: scheduled jobs over watermarked windows (``logpipe run``), the scheduler and what its
health endpoints say (``logpipe serve``; the HTTP server itself is ``logpipe.web``)."""

from __future__ import annotations

from logpipe.service.health import health_report, status_report
from logpipe.service.jobs import JobRunner, JobRunReport, JobSpec, build_jobs, select_jobs
from logpipe.service.scheduler import Service

__all__ = ["JobRunReport", "JobRunner", "JobSpec", "Service", "build_jobs", "health_report", "select_jobs",
           "status_report"]
