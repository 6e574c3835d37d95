"""The baseline: the state schema as logpipe created it before it had migrations.

A database made then (by ``metadata.create_all``) already has these tables: ``checkfirst`` creates
only what is missing, so such a database is adopted as it is and the later revisions upgrade it.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def baseline(metadata: MetaData) -> None:
    """The tables as ``metadata.create_all`` made them before migrations existed."""

    # -- metrics: the publish outbox (logpipe.sinks.publisher) ------------------------------------------

    # One row per (job, window): written once, in the same transaction as every outbox batch of the
    # window, so a window is either fully queued or not at all, and enqueuing it again is a no-op.
    Table(
        "metric_windows", metadata,
        Column("job", String(255), nullable=False),
        Column("window_start_ms", BigInteger, nullable=False),
        Column("window_end_ms", BigInteger, nullable=False),
        Column("points", Integer, nullable=False),
        Column("enqueued_ms", BigInteger, nullable=False),
        PrimaryKeyConstraint("job", "window_start_ms", "window_end_ms", name="pk_metric_windows"),
    )

    Table(
        "metric_outbox", metadata,
        Column("batch_id", String(64), primary_key=True),
        Column("sink", String(32), nullable=False),
        Column("job", String(255), nullable=False),
        Column("window_start_ms", BigInteger, nullable=False),
        Column("window_end_ms", BigInteger, nullable=False),
        Column("seq", Integer, nullable=False),
        Column("n_points", Integer, nullable=False),
        Column("points_json", Text, nullable=False),
        Column("state", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
        Column("updated_ms", BigInteger, nullable=False),
        Index("ix_metric_outbox_sink_state", "sink", "state"),
        Index("ix_metric_outbox_sink_end", "sink", "window_end_ms"),
    )

    Table(
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

    # -- metrics: the local sink's history (logpipe.sinks.local writes, logpipe.metrics.history reads) --

    Table(
        "metric_points", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("batch_id", String(64), nullable=False),
        Column("point_id", String(64), nullable=False),
        Column("namespace", String(255), nullable=False),
        Column("name", String(255), nullable=False),
        Column("dims", Text, nullable=False),  # canonical JSON of the sorted dimension pairs
        Column("ts_ms", BigInteger, nullable=False),
        Column("unit", String(32), nullable=False),
        Column("value", Float, nullable=False),  # the Sum the point contributes
        Column("count", Float, nullable=False),  # the SampleCount
        Column("dist", Text, nullable=True),  # JSON [[values], [counts]] for distributions
        UniqueConstraint("batch_id", "point_id", name="uq_metric_points_batch_point"),
        Index("ix_metric_points_name_ts", "name", "ts_ms"),
    )

    # -- digests: the delivery outbox (logpipe.digest.deliver) ----------------------------------------

    Table(
        "digest_outbox", metadata,
        Column("digest_key", String(128), nullable=False),
        Column("destination", String(255), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("job", String(255), nullable=False),
        Column("payload", Text, nullable=False),  # JSON: what to send, rendered once
        Column("state", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
        Column("created_ms", BigInteger, nullable=False),
        Column("updated_ms", BigInteger, nullable=False),
        Column("sent_ms", BigInteger, nullable=True),
        PrimaryKeyConstraint("digest_key", "destination", name="pk_digest_outbox"),
    )

    # -- the pattern store (logpipe.patterns.store) -----------------------------------------------------

    Table(
        "patterns", metadata,
        Column("pattern_id", String(64), primary_key=True),
        Column("template", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("first_seen", DateTime, nullable=False),
        Column("last_seen", DateTime, nullable=False),
        Column("total", BigInteger, nullable=False),
        Column("status_changed_at", DateTime, nullable=True),
    )

    Table(
        "pattern_counts", metadata,
        Column("pattern_id", String(64), primary_key=True),
        Column("service", String(255), primary_key=True),
        Column("hour", DateTime, primary_key=True),
        Column("n", BigInteger, nullable=False),
    )

    Table(
        "pattern_examples", metadata,
        Column("pattern_id", String(64), primary_key=True),
        Column("digest", String(64), primary_key=True),
        Column("service", String(255), nullable=False),
        Column("seen_at", DateTime, nullable=False),
        Column("line", Text, nullable=False),
    )

    Table(
        "pattern_aliases", metadata,
        Column("old_id", String(64), primary_key=True),
        Column("new_id", String(64), nullable=False),
    )

    Table(
        "pattern_miner_state", metadata,
        Column("name", String(64), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("state", Text, nullable=True),
    )

    Table(
        "service_counts", metadata,
        Column("service", String(255), primary_key=True),
        Column("hour", DateTime, primary_key=True),
        Column("records", BigInteger, nullable=False),
        Column("errors", BigInteger, nullable=False),
    )

    Table(
        "detect_windows", metadata,
        Column("window_start", DateTime, primary_key=True),
        Column("window_end", DateTime, primary_key=True),
        Column("processed_at", DateTime, nullable=False),
        Column("error_records", BigInteger, nullable=False),
        Column("patterns", Integer, nullable=False),
    )

    # -- the service's watermarks (logpipe.state.watermarks) --------------------------------------------

    Table(
        "service_jobs", metadata,
        Column("job", String(255), primary_key=True),
        Column("window_seconds", Integer, nullable=False),
        Column("watermark_ms", BigInteger, nullable=True),  # end of the last completed window
        Column("last_run_started_ms", BigInteger, nullable=True),
        Column("last_run_finished_ms", BigInteger, nullable=True),
        Column("last_success_ms", BigInteger, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("last_error_ms", BigInteger, nullable=True),
        Column("last_error_window_ms", BigInteger, nullable=True),
        Column("consecutive_failures", Integer, nullable=False, default=0),
    )

    Table(
        "service_job_windows", metadata,
        Column("job", String(255), nullable=False),
        Column("window_start_ms", BigInteger, nullable=False),
        Column("window_end_ms", BigInteger, nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("started_ms", BigInteger, nullable=True),
        Column("completed_ms", BigInteger, nullable=True),
        Column("last_error", Text, nullable=True),
        PrimaryKeyConstraint("job", "window_start_ms", "window_end_ms", name="pk_service_job_windows"),
    )


def upgrade() -> None:
    metadata = MetaData()
    baseline(metadata)
    metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    metadata = MetaData()
    baseline(metadata)
    metadata.drop_all(op.get_bind(), checkfirst=True)
