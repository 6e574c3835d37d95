"""Metric sinks: where data points go (CloudWatch, Datadog, EMF on stdout, the local state store).

A sink only knows how to send one batch and, for sinks where a resend would double-count, how to
find out whether a batch whose outcome is unknown already landed. Exactly-once bookkeeping (outbox,
ledger, retries across runs) lives in ``logpipe.metrics.publisher``, the same for every sink.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from logpipe.errors import DeliveryError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from logpipe.config import Config
    from logpipe.metrics.model import DataPoint


class SendRejected(DeliveryError):
    """The sink definitely did not take the batch (throttled, refused, never connected): resend it."""


class OutcomeUnknown(DeliveryError):
    """The request may or may not have been applied (5xx, connection cut after sending)."""


class Sink(Protocol):
    """What the publisher needs from a sink."""

    name: str
    # True when sending the same batch twice leaves the same result (gauges that overwrite, inserts
    # keyed by batch id). Non-idempotent sinks must implement ``landed``.
    idempotent: bool

    def plan(self, points: Sequence[DataPoint]) -> list[list[DataPoint]]:
        """Split points into the batches this sink sends in one call each (deterministic)."""
        ...

    def send(self, points: Sequence[DataPoint], batch_id: str) -> None:
        """Send one batch; raise SendRejected or OutcomeUnknown on failure."""
        ...

    def landed(self, points: Sequence[DataPoint], baseline: dict[str, float]) -> bool | None:
        """For a batch of unknown outcome: True if it landed, False if not, None if it cannot tell yet.

        ``baseline`` maps point identities to the SampleCount other, already-published batches put
        at the same metric, dimensions and timestamp.
        """
        ...


def build_sink(name: str, config: Config, engine: Engine | None = None) -> Sink:
    """The sink called ``name`` (as in ``[metrics] sinks``), configured from ``config``."""
    if name == "cloudwatch":
        from logpipe.sinks.cloudwatch import CloudWatchSink

        return CloudWatchSink(config.metrics)
    if name == "datadog":
        from logpipe.sinks.datadog import DatadogSink

        return DatadogSink(config.metrics)
    if name == "emf":
        from logpipe.sinks.emf import EmfSink

        return EmfSink(config.metrics)
    if name == "local":
        from logpipe.sinks.local import LocalSink
        from logpipe.state.db import open_state

        return LocalSink(engine or open_state(config.state.url), config.metrics.namespace)
    raise DeliveryError(f"unknown metrics sink {name!r}: use local, cloudwatch, datadog or emf in [metrics] sinks")
