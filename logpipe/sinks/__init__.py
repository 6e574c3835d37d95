"""Metric sinks: where data points go (CloudWatch, Datadog, EMF on stdout, the local state store).

A sink only knows how to send one batch and, for sinks where a resend would double-count, how to
find out whether a batch whose outcome is unknown already landed (``logpipe.sinks.base``).
Exactly-once bookkeeping (outbox, ledger, retries across runs) lives in ``logpipe.sinks.publisher``,
the same for every sink. Sinks are chosen from ``SINKS``, one entry per name in ``[metrics] sinks``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from logpipe.errors import DeliveryError
from logpipe.sinks.base import OutcomeUnknown, SendRejected, Sink

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from logpipe.config import Config


def _cloudwatch(config: Config, _engine: Engine | None) -> Sink:
    from logpipe.sinks.cloudwatch import CloudWatchSink

    return CloudWatchSink(config.metrics)


def _datadog(config: Config, _engine: Engine | None) -> Sink:
    from logpipe.sinks.datadog import DatadogSink

    return DatadogSink(config.metrics)


def _emf(config: Config, _engine: Engine | None) -> Sink:
    from logpipe.sinks.emf import EmfSink

    return EmfSink(config.metrics)


def _local(config: Config, engine: Engine | None) -> Sink:
    from logpipe.sinks.local import LocalSink
    from logpipe.state.db import open_state

    return LocalSink(engine or open_state(config.state.url), config.metrics.namespace)


# name -> a factory of that sink (imports stay lazy: the Datadog client is optional).
SINKS: dict[str, Callable[[Config, Engine | None], Sink]] = {
    "local": _local, "cloudwatch": _cloudwatch, "datadog": _datadog, "emf": _emf,
}


def build_sink(name: str, config: Config, engine: Engine | None = None) -> Sink:
    """The sink called ``name`` (as in ``[metrics] sinks``), configured from ``config``."""
    factory = SINKS.get(name)
    if factory is None:
        raise DeliveryError(f"unknown metrics sink {name!r}: use {', '.join(SINKS)} in [metrics] sinks")
    return factory(config, engine)


__all__ = ["SINKS", "OutcomeUnknown", "SendRejected", "Sink", "build_sink"]
