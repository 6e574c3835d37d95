"""What the metrics and alarms a configuration produces cost per month in CloudWatch.

Why: CloudWatch bills every unique (name, dimensions) as a metric ($0.30/month), so a dimension with
many values - a pattern id, a user id - can cost more than the logs. The estimate makes that visible
before it is deployed; the top-N pattern guard (``[metrics] top_patterns``) is the lever.

Prices (us-east-1, first tier): $0.30 per metric-month, $0.10 per standard-resolution alarm metric
(an anomaly detection alarm evaluates 3), $3 per dashboard, $0.01 per 1,000 PutMetricData requests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from logpipe.durations import parse_duration
from logpipe.metrics import names as N

if TYPE_CHECKING:
    from logpipe.config import Config
    from logpipe.queries.model import SavedQuery

PRICE_METRIC_MONTH = 0.30
PRICE_ALARM_METRIC = 0.10
PRICE_DASHBOARD = 3.00
PRICE_PER_1000_REQUESTS = 0.01
SECONDS_PER_MONTH = 30 * 86400
DETECTOR_JOB = "detect"
SERVICE_JOBS = "every job"  # JobFailures and JobHeartbeat: each scheduled job about itself


@dataclass(frozen=True)
class MetricEstimate:
    name: str
    dimensions: tuple[str, ...]
    series: int  # unique dimension combinations
    job: str
    windows_per_month: float


@dataclass
class CostEstimate:
    metrics: list[MetricEstimate]
    alarms: int
    alarm_metrics: int
    dashboards: int
    requests_per_month: float
    assumptions: list[str] = field(default_factory=list)

    @property
    def metric_series(self) -> int:
        return sum(m.series for m in self.metrics)

    @property
    def lines(self) -> list[tuple[str, float, float, float]]:
        """(item, quantity, unit price, monthly USD)."""
        return [
            ("metrics (unique name + dimensions)", self.metric_series, PRICE_METRIC_MONTH,
             self.metric_series * PRICE_METRIC_MONTH),
            (f"alarms ({self.alarms}, as alarm metrics)", self.alarm_metrics, PRICE_ALARM_METRIC,
             self.alarm_metrics * PRICE_ALARM_METRIC),
            ("dashboards", self.dashboards, PRICE_DASHBOARD, self.dashboards * PRICE_DASHBOARD),
            ("PutMetricData requests", self.requests_per_month, PRICE_PER_1000_REQUESTS / 1000,
             self.requests_per_month / 1000 * PRICE_PER_1000_REQUESTS),
        ]

    @property
    def total(self) -> float:
        return sum(line[3] for line in self.lines)


def _cardinality(dim: str, services: int, config: Config, observed: Mapping[str, int], jobs: int) -> int:
    if dim == N.DIM_SERVICE:
        return services
    if dim == N.DIM_PATTERN:
        # the top N patterns fleet-wide, plus one "other" per service
        return config.metrics.top_patterns + services
    if dim == N.DIM_JOB:
        return jobs
    if dim == N.DIM_REASON:  # a series per reason that occurs: a few, usually
        return max(1, observed.get(dim, REASONS_ASSUMED))
    return max(1, observed.get(dim, 1))


REASONS_ASSUMED = 3


def _series(dims: Sequence[str], services: int, config: Config, observed: Mapping[str, int], jobs: int) -> int:
    """Unique dimension combinations. A pattern belongs to one service, so (service, pattern_id)
    together are the top N patterns plus one ``other`` per service, not their product."""
    rest = list(dims)
    count = 1
    if N.DIM_PATTERN in rest:
        rest.remove(N.DIM_PATTERN)
        if N.DIM_SERVICE in rest:
            rest.remove(N.DIM_SERVICE)
        count = config.metrics.top_patterns + services
    return count * math.prod(_cardinality(d, services, config, observed, jobs) for d in rest)


def estimate(config: Config, queries: Sequence[SavedQuery], services: int,
             observed: Mapping[str, int] | None = None, alarms: int | None = None,
             alarm_metrics: int | None = None, dashboards: int = 1) -> CostEstimate:
    """The monthly cost of the known detector metrics plus every saved query's metric specs.

    ``observed`` gives distinct values per dimension from the local history (other dimensions are
    assumed to have one value). ``alarms`` defaults to the rendered set: three per service, a heartbeat
    per scheduled job and the alerts.
    """
    observed = dict(observed or {})
    assumptions = [f"{services} service(s)", f"top {config.metrics.top_patterns} patterns + 'other' per service"]
    jobs = [q for q in queries if q.metrics]
    service_window = parse_duration(config.service.window)
    rows: list[MetricEstimate] = []
    for info in N.KNOWN_METRICS:
        if info.source == "query":
            continue  # listed below under the saved query that declares it (and not at all without one)
        series = _series(info.dimensions, services, config, observed, len(jobs) + 1)
        job = SERVICE_JOBS if info.source == "service" else DETECTOR_JOB
        rows.append(MetricEstimate(info.name, info.dimensions, series, job, SECONDS_PER_MONTH / service_window))
    seen = {(m.name, m.dimensions) for m in rows}
    for query in jobs:
        windows = SECONDS_PER_MONTH / parse_duration(query.window or config.service.window)
        for spec in query.metrics:
            if (spec.name, tuple(spec.dimensions)) in seen:
                continue
            seen.add((spec.name, tuple(spec.dimensions)))
            series = _series(spec.dimensions, services, config, observed, len(jobs) + 1)
            rows.append(MetricEstimate(spec.name, tuple(spec.dimensions), series, query.name, windows))
    for dim in sorted({d for m in rows for d in m.dimensions} - {N.DIM_SERVICE, N.DIM_PATTERN, N.DIM_JOB}):
        assumed = REASONS_ASSUMED if dim == N.DIM_REASON else 1
        assumptions.append(f"{dim}: {observed.get(dim, assumed)} value(s)" + ("" if dim in observed else " (assumed)"))
    requests = 0.0
    per_job: dict[str, tuple[int, float]] = {}
    for m in rows:
        if m.job == SERVICE_JOBS:  # each job's own JobHeartbeat/JobFailures ride in that job's call
            continue
        points, windows = per_job.get(m.job, (0, m.windows_per_month))
        per_job[m.job] = (points + m.series, windows)
    for points, windows in per_job.values():
        requests += math.ceil(points / 1000) * windows
    # Three per service, a heartbeat per scheduled job (the queries', detect and digest) and the
    # saved queries' alerts (per service when their metric has the service dimension).
    heartbeats = len([q for q in queries if q.schedule]) + 2
    alerts = 0
    for query in (q for q in queries if q.schedule):
        for alert in query.alerts:
            watched = query.metric_for(alert.column)
            alerts += services if watched is not None and watched.dimensions == (N.DIM_SERVICE,) else 1
    n_alarms = 3 * services + heartbeats + alerts if alarms is None else alarms
    # the anomaly detection alarm evaluates the metric and the two band edges: 3 alarm metrics
    n_alarm_metrics = (services * (1 + 3 + 1) + heartbeats + alerts) if alarm_metrics is None else alarm_metrics
    return CostEstimate(rows, n_alarms, n_alarm_metrics, dashboards, requests, assumptions)
