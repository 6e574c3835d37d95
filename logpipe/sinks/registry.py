"""Which sink a name in ``[metrics] sinks`` means: one entry per sink, imports kept lazy."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from logpipe.errors import DeliveryError
from logpipe.sinks.base import Sink

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from logpipe.config import MetricsConfig


def _cloudwatch(metrics: MetricsConfig, _state: Engine, region: str | None) -> Sink:
    from logpipe.sinks.cloudwatch import CloudWatchSink

    return CloudWatchSink(metrics, region)


def _datadog(metrics: MetricsConfig, _state: Engine, region: str | None) -> Sink:
    from logpipe.extras import require
    from logpipe.sinks.datadog import DatadogSink

    require("datadog", "the datadog metrics sink")
    return DatadogSink(metrics, region=region)


def _emf(metrics: MetricsConfig, _state: Engine, _region: str | None) -> Sink:
    from logpipe.sinks.emf import EmfSink

    return EmfSink(metrics)


def _local(metrics: MetricsConfig, state: Engine, _region: str | None) -> Sink:
    from logpipe.sinks.local import LocalSink

    return LocalSink(state, metrics.namespace)


# name -> a factory of that sink (imports stay lazy: the Datadog client is optional).
SINKS: dict[str, Callable[[MetricsConfig, Engine, str | None], Sink]] = {
    "local": _local, "cloudwatch": _cloudwatch, "datadog": _datadog, "emf": _emf,
}


def build_sink(name: str, metrics: MetricsConfig, state: Engine, region: str | None = None) -> Sink:
    """The sink called ``name`` (as in ``[metrics] sinks``); ``state`` is the state database (local sink)."""
    factory = SINKS.get(name)
    if factory is None:
        raise DeliveryError(f"unknown metrics sink {name!r}: use {', '.join(SINKS)} in [metrics] sinks")
    return factory(metrics, state, region)


__all__ = ["SINKS", "build_sink"]
