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

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from logpipe.state.db import metadata

PENDING, SENDING, UNKNOWN, SENT = "pending", "sending", "unknown", "sent"
IN_DOUBT = (SENDING, UNKNOWN)

windows = Table(
    "metric_windows", metadata,
    Column("job", String(255), nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("points", Integer, nullable=False),
    Column("enqueued_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("job", "window_start_ms", "window_end_ms", name="pk_metric_windows"),
)

outbox = Table(
    "metric_outbox", metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("sink", String(32), nullable=False),
    Column("job", String(255), nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("n_points", Integer, nullable=False),
    Column("points_json", Text, nullable=False),
    Column("state", String(16), nullable=False, default=PENDING),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_metric_outbox_sink_state", "sink", "state"),
    Index("ix_metric_outbox_sink_end", "sink", "window_end_ms"),
)

ledger = Table(
    "metric_ledger", metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("sink", String(32), nullable=False),
    Column("job", String(255), nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("n_points", Integer, nullable=False),
    Column("published_ms", BigInteger, nullable=False),
    Column("how", String(16), nullable=False),
    Index("ix_metric_ledger_job_window", "job", "window_start_ms"),
)



def batch_id(sink: str, job: str, window_start_ms: int, window_end_ms: int, seq: int) -> str:
    """Deterministic: the same window planned again gets the same ids (so the same rows)."""
    key = f"{sink}\x1f{job}\x1f{window_start_ms}\x1f{window_end_ms}\x1f{seq}"
    return hashlib.sha256(key.encode()).hexdigest()[:40]
