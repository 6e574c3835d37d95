"""CloudWatch Embedded Metric Format: one JSON line per group of metrics on stdout.

For a container on ECS whose stdout goes to CloudWatch Logs (awslogs, or FireLens with the
``cloudwatch_logs`` output), CloudWatch extracts the metrics from these lines: no API calls, no
PutMetricData cost. Each line holds one timestamp and one dimension set, at most 100 metrics
(the EMF limit), values as numbers, distributions as arrays of values (at most 100 per metric).

Distributions whose total count exceeds 100 become 100 values at evenly spaced quantiles: the
shape (percentiles) is kept, but the SampleCount CloudWatch derives is 100, not the true count.
Use the ``cloudwatch`` sink where counts matter.

Exactly-once: writing a line cannot fail halfway in a way we could read back, so a crash between
the write and the ledger update can repeat one batch's lines (at-least-once for this sink only).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from logpipe.metrics.model import DataPoint

if TYPE_CHECKING:
    from logpipe.config import MetricsConfig

MAX_METRICS_PER_LINE = 100
MAX_VALUES = 100


def emf_values(point: DataPoint) -> float | list[float]:
    if not point.values:
        return float(point.value or 0.0)
    counts = point.counts
    if sum(counts) <= MAX_VALUES and all(float(c).is_integer() for c in counts):
        return [v for v, c in zip(point.values, counts, strict=True) for _ in range(int(c))]
    order = np.argsort(point.values)
    v = np.asarray(point.values, dtype=float)[order]
    cum = np.cumsum(np.asarray(counts, dtype=float)[order])
    qs = (np.arange(MAX_VALUES) + 0.5) / MAX_VALUES * cum[-1]
    return [float(v[min(int(i), len(v) - 1)]) for i in np.searchsorted(cum, qs, side="left")]


def emf_lines(points: Sequence[DataPoint], namespace: str) -> list[dict[str, Any]]:
    """The EMF documents for these points: grouped by (timestamp, dimensions), <= 100 metrics each."""
    groups: dict[tuple[Any, ...], list[DataPoint]] = defaultdict(list)
    for p in points:
        groups[(p.timestamp, p.dimensions)].append(p)
    docs = []
    for (timestamp, dims), members in groups.items():
        # One metric name once per line (two points of the same name would be merged upstream).
        for start in range(0, len(members), MAX_METRICS_PER_LINE):
            chunk = members[start:start + MAX_METRICS_PER_LINE]
            doc: dict[str, Any] = {
                "_aws": {
                    "Timestamp": int(timestamp.timestamp() * 1000),
                    "CloudWatchMetrics": [{
                        "Namespace": namespace,
                        "Dimensions": [[k for k, _ in dims]],
                        "Metrics": [{"Name": p.name, "Unit": p.unit} for p in chunk],
                    }],
                },
            }
            doc.update(dict(dims))
            for p in chunk:
                doc[p.name] = emf_values(p)
            docs.append(doc)
    return docs


class EmfSink:
    name = "emf"
    idempotent = True  # see the module docstring: a crash can repeat one batch

    def __init__(self, config: MetricsConfig, stream: IO[str] | None = None) -> None:
        self.namespace = config.namespace
        self.stream = stream

    def plan(self, points: Sequence[DataPoint]) -> list[list[DataPoint]]:
        return [list(points[i:i + 1000]) for i in range(0, len(points), 1000)]

    def send(self, points: Sequence[DataPoint], batch_id: str) -> None:
        stream = self.stream or sys.stdout
        stream.write("".join(json.dumps(doc, separators=(",", ":")) + "\n" for doc in emf_lines(points, self.namespace)))
        stream.flush()

    def landed(self, points: Sequence[DataPoint], baseline: dict[str, float]) -> bool | None:
        return None
