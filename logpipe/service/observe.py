"""What the service says about itself: one JSON log line per job window, Prometheus metrics, and the
points behind its own CloudWatch metrics.

Why JSON lines: on ECS the service's stdout/stderr go to CloudWatch Logs (the ``awslogs`` driver, see
the README), where Logs Insights reads JSON fields directly (``filter outcome = "failed" | stats
avg(duration_s) by job``). Every window a replica finishes, fails or leaves to another replica is one
line with the same fields: ``event``, ``job``, ``window_start``, ``window_end``, ``outcome``,
``duration_s``, ``attempt``, ``rows``, ``bytes_scanned``, ``cost_usd``, ``replica`` (and ``error``).

Why a registry per service (not prometheus_client's global one): a test process runs several
services, and each ``/metrics`` must show its own figures only.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

WINDOW_LOGGER = "logpipe.windows"
window_log = logging.getLogger(WINDOW_LOGGER)
# Attributes every LogRecord has: anything else a caller passed in ``extra`` is a field of the line.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    """The service's logs on stderr: JSON lines (default) or plain text. Idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_logpipe", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._logpipe = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "apscheduler", "s3transfer", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_window(job: str, start: datetime, end: datetime, outcome: str, duration: float, attempt: int,
               replica: str, rows: int | None = None, bytes_scanned: int | None = None,
               cost_usd: float | None = None, error: str | None = None) -> None:
    """The one line per job window (``outcome``: completed, failed, done_elsewhere, lease_lost)."""
    fields = {"event": "window", "job": job, "window_start": _iso(start), "window_end": _iso(end),
              "outcome": outcome, "duration_s": round(duration, 3), "attempt": attempt, "rows": rows,
              "bytes_scanned": bytes_scanned, "cost_usd": cost_usd, "replica": replica}
    if error is not None:
        fields["error"] = error[:1000]
    level = logging.WARNING if outcome == "failed" else logging.INFO
    window_log.log(level, "job %s window %s .. %s %s in %.3fs%s", job, fields["window_start"], fields["window_end"],
                   outcome, duration, f": {error}" if error else "", extra=fields)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ServiceMetrics:
    """The service's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.job_duration = Histogram("logpipe_job_window_duration_seconds", "Time to process one job window",
                                      ["job", "outcome"], registry=self.registry, buckets=DURATION_BUCKETS)
        self.windows = Counter("logpipe_job_windows", "Job windows processed, by outcome", ["job", "outcome"],
                               registry=self.registry)
        self.failures = Counter("logpipe_job_failures", "Job windows that failed", ["job"], registry=self.registry)
        self.bytes_scanned = Counter("logpipe_query_bytes_scanned", "Bytes the engines scanned for job windows",
                                     ["job"], registry=self.registry)
        self.bad_records = Counter("logpipe_bad_records", "Records no reader could use, by reason", ["reason"],
                                   registry=self.registry)
        self.watermark_lag = Gauge("logpipe_watermark_lag_seconds",
                                   "Now minus the end of the job's last completed window", ["job"],
                                   registry=self.registry)
        self.outbox_depth = Gauge("logpipe_outbox_depth", "Items queued and not yet delivered", ["channel"],
                                  registry=self.registry)
        self.leader = Gauge("logpipe_leader", "1 while this replica holds the lease and starts windows",
                            registry=self.registry)

    def window(self, job: str, outcome: str, duration: float, bytes_scanned: int | None,
               bad: dict[str, int] | None) -> None:
        self.job_duration.labels(job, outcome).observe(duration)
        self.windows.labels(job, outcome).inc()
        if outcome == "failed":
            self.failures.labels(job).inc()
        if bytes_scanned:
            self.bytes_scanned.labels(job).inc(bytes_scanned)
        for reason, n in (bad or {}).items():
            if n:
                self.bad_records.labels(reason).inc(n)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


__all__ = ["WINDOW_LOGGER", "JsonFormatter", "ServiceMetrics", "configure_logging", "log_window"]
