"""The publish ledger and outbox: what was (to be) published to which sink for which (job, window).

Three tables on the shared state metadata:

``metric_windows``  one row per (job, window): written once, in the same transaction as every
                    outbox batch of the window, so a window is either fully queued or not at all,
                    and enqueuing it again is a no-op.
``metric_outbox``   one row per (sink, batch) with a deterministic id, the points as JSON, and a
                    state: ``pending`` -> ``sending`` -> ``sent``; ``unknown`` when a send failed in
                    a way that may have landed.
``metric_ledger``   one row per batch that reached its sink, and how we know (``send``: the call
                    returned; ``readback``: GetMetricData showed it after an unknown outcome).
"""

from __future__ import annotations

import hashlib

from logpipe.state.tables import metric_ledger as ledger
from logpipe.state.tables import metric_outbox as outbox
from logpipe.state.tables import metric_windows as windows

PENDING, SENDING, UNKNOWN, SENT = "pending", "sending", "unknown", "sent"
IN_DOUBT = (SENDING, UNKNOWN)

__all__ = ["IN_DOUBT", "PENDING", "SENDING", "SENT", "UNKNOWN", "batch_id", "ledger", "outbox", "windows"]



def batch_id(sink: str, job: str, window_start_ms: int, window_end_ms: int, seq: int) -> str:
    """Deterministic: the same window planned again gets the same ids (so the same rows)."""
    key = f"{sink}\x1f{job}\x1f{window_start_ms}\x1f{window_end_ms}\x1f{seq}"
    return hashlib.sha256(key.encode()).hexdigest()[:40]
