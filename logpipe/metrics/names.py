"""Metric and dimension names shared by the detectors, the saved queries, dashboards and alarms.

Why constants: a dashboard widget or an alarm that names ``ErrorCounts`` while the detector emits
``ErrorCount`` fails silently (an empty graph, an alarm stuck in INSUFFICIENT_DATA). Every producer
and consumer imports the names from here.
"""

from __future__ import annotations

from dataclasses import dataclass

# Metric names.
ERROR_COUNT = "ErrorCount"
NEW_PATTERNS = "NewPatterns"
PATTERN_COUNT = "PatternCount"
HTTP_5XX_RATE = "Http5xxRate"
LATENCY_P95 = "LatencyP95"
LATENCY = "Latency"
LOG_RECORDS = "LogRecords"
LOG_BYTES = "LogBytes"
BAD_RECORDS = "BadRecords"
MISPLACED_RECORDS = "MisplacedRecords"
JOB_FAILURES = "JobFailures"
JOB_HEARTBEAT = "JobHeartbeat"
JOB_DURATION = "JobDuration"

# Dimension names.
DIM_SERVICE = "service"
DIM_PATTERN = "pattern_id"
DIM_LEVEL = "level"
DIM_JOB = "job"
DIM_REASON = "reason"

# The dimension value that collects everything beyond the top-N patterns (the cardinality guard).
OTHER = "other"


@dataclass(frozen=True)
class MetricInfo:
    """What a known metric means: its unit and dimensions, for dashboards and the cost estimate."""

    name: str
    unit: str
    dimensions: tuple[str, ...]
    description: str
    # Who emits it: "detect" (the detect job), "service" (every scheduled job, about itself) or "query"
    # (a shipped saved query declares it: it exists only while a query declares it).
    source: str = "detect"


# Metrics the detectors and the service emit themselves (saved queries add their own specs).
KNOWN_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo(ERROR_COUNT, "Count", (DIM_SERVICE,), "ERROR and FATAL records per service and window", "query"),
    MetricInfo(NEW_PATTERNS, "Count", (DIM_SERVICE,), "error patterns seen for the first time"),
    MetricInfo(PATTERN_COUNT, "Count", (DIM_SERVICE, DIM_PATTERN), "records per error pattern (top N, rest 'other')"),
    MetricInfo(HTTP_5XX_RATE, "Percent", (DIM_SERVICE,), "share of HTTP responses with a 5xx status", "query"),
    MetricInfo(LATENCY_P95, "Milliseconds", (DIM_SERVICE,), "95th percentile request latency", "query"),
    MetricInfo(LOG_RECORDS, "Count", (DIM_SERVICE,), "log records per service and window", "query"),
    MetricInfo(LOG_BYTES, "Bytes", (DIM_SERVICE,), "log bytes per service and window", "query"),
    MetricInfo(BAD_RECORDS, "Count", (DIM_REASON,),
               "records no reader could use, by reason (not_json, invalid_utf8, corrupt_gzip, truncated_object...)"),
    MetricInfo(MISPLACED_RECORDS, "Count", (), "records whose time lies outside their partition's hour"),
    MetricInfo(JOB_FAILURES, "Count", (DIM_JOB,), "scheduled jobs that failed", "service"),
    MetricInfo(JOB_HEARTBEAT, "Count", (DIM_JOB,),
               "one per window a scheduled job completed: its absence is a dead pipeline (alarmed as breaching)",
               "service"),
    MetricInfo(JOB_DURATION, "Seconds", (DIM_JOB,), "time a scheduled job took for one window", "service"),
)

KNOWN_BY_NAME = {info.name: info for info in KNOWN_METRICS}
