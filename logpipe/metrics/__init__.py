"""Derived metrics: the data point model, metric names, the local history, dashboards and the cost guard.

Where points go (CloudWatch, Datadog, EMF, the local sink) and the exactly-once publisher are in
``logpipe.sinks``, one layer up.
"""

from __future__ import annotations

from logpipe.metrics.cost import CostEstimate, estimate
from logpipe.metrics.history import dimension_cardinality, metric_names, series
from logpipe.metrics.model import (
           DataPoint,
           merge_points,
           points_from_json,
           points_from_result,
           points_to_json,
)

__all__ = ["CostEstimate", "DataPoint", "dimension_cardinality", "estimate", "merge_points", "metric_names",
           "points_from_json", "points_from_result", "points_to_json", "series"]
