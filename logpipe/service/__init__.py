"""The service: scheduled jobs over watermarked windows (``logpipe run``), the scheduler and what its
health endpoints say (``logpipe serve``; the HTTP server itself is ``logpipe.web``).

The names below are imported on first use (PEP 562): ``logpipe run`` imports ``logpipe.service.jobs``
and needs neither the scheduler nor the health reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from logpipe.lazy import lazy_attributes as _lazy_attributes

if TYPE_CHECKING:
    from logpipe.service.health import health_report, status_report
    from logpipe.service.jobs import JobRunner, JobRunReport, JobSpec, build_jobs, select_jobs
    from logpipe.service.scheduler import Service

_LAZY = {"health_report": "health", "status_report": "health", "JobRunner": "jobs", "JobRunReport": "jobs",
         "JobSpec": "jobs", "build_jobs": "jobs", "select_jobs": "jobs", "Service": "scheduler"}

__all__ = ["JobRunReport", "JobRunner", "JobSpec", "Service", "build_jobs", "health_report", "select_jobs",
           "status_report"]

__getattr__ = _lazy_attributes(__name__, _LAZY)
