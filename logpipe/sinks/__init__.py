"""Metric sinks: where data points go (CloudWatch, Datadog, EMF on stdout, the local state store).

A sink only knows how to send one batch and, for sinks where a resend would double-count, how to
find out whether a batch whose outcome is unknown already landed (``logpipe.sinks.base``).
Exactly-once bookkeeping (outbox, ledger, retries across runs) lives in ``logpipe.sinks.publisher``,
the same for every sink. Sinks are chosen from ``SINKS`` (``logpipe.sinks.registry``).
"""

from __future__ import annotations

from logpipe.sinks.base import OutcomeUnknown, SendRejected, Sink
from logpipe.sinks.registry import SINKS, build_sink

__all__ = ["SINKS", "OutcomeUnknown", "SendRejected", "Sink", "build_sink"]
