"""What a metric sink is: the protocol the publisher drives, and the two ways a send can fail.

A sink only knows how to send one batch and, for sinks where a resend would double-count, how to
find out whether a batch whose outcome is unknown already landed. Exactly-once bookkeeping (outbox,
ledger, retries across runs) lives in ``logpipe.sinks.publisher``, the same for every sink.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from logpipe.errors import DeliveryError

if TYPE_CHECKING:
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
        """Send one batch; raise SendRejected or OutcomeUnknown on failure.

        An idempotent sink may also offer ``send_many(batches)``, a list of (points, batch id): the
        publisher then hands it a whole chunk of claimed batches at once (the local sink writes them
        in one transaction); should it raise, every batch of the chunk is resent later."""
        ...

    def landed(self, points: Sequence[DataPoint], baseline: dict[str, float]) -> bool | None:
        """For a batch of unknown outcome: True if it landed, False if not, None if it cannot tell yet.

        ``baseline`` maps point identities to the SampleCount other, already-published batches put
        at the same metric, dimensions and timestamp.
        """
        ...


__all__ = ["OutcomeUnknown", "SendRejected", "Sink"]
