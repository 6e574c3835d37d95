"""The service: scheduled jobs over watermarked windows (``logpipe run``), the scheduler and the
HTTP health endpoints (``logpipe serve``)."""

from __future__ import annotations

from logpipe.service.health import HealthServer
from logpipe.service.jobs import JobRunner, JobRunReport, JobSpec, build_jobs, select_jobs
from logpipe.service.scheduler import Service

__all__ = ["HealthServer", "JobRunReport", "JobRunner", "JobSpec", "Service", "build_jobs", "select_jobs"]
