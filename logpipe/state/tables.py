"""Every table of the state database, in one place: the schema the Alembic migrations build.

Why one module: the state lives in PostgreSQL across deploys, so its schema changes only through a
migration (``logpipe/state/migrations``), and a test holds these declarations against what the
migrations create. Feature modules import their tables from here; ``state`` imports no feature.

Times are epoch milliseconds (UTC) in ``BIGINT`` columns named ``*_ms``: one representation that
SQLite and PostgreSQL store and compare alike.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# -- metrics: the publish outbox (logpipe.sinks.publisher) ------------------------------------------

# One row per (job, window): written once, in the same transaction as every outbox batch of the
# window, so a window is either fully queued or not at all, and enqueuing it again is a no-op.
metric_windows = Table(
    "metric_windows", metadata,
    Column("job", String(255), nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("points", Integer, nullable=False),
    Column("enqueued_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("job", "window_start_ms", "window_end_ms", name="pk_metric_windows"),
)

# -- metrics: the local sink's history (logpipe.sinks.local writes, logpipe.metrics.history reads) --

metric_points = Table(
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

# -- the outbox (logpipe.state.outbox): metric batches and digest deliveries, pending -> sending -> sent

# One row per thing to deliver, keyed by (channel, target, item_key): ("metrics", sink, batch id) or
# ("digest", destination, digest key). A row that reached its target stays, state "sent", with when
# and how we know (``sent_how``: "send", the call returned; "readback", read back after an unknown
# outcome): that is the ledger.
outbox = Table(
    "outbox", metadata,
    Column("channel", String(16), nullable=False),
    Column("target", String(255), nullable=False),
    Column("item_key", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("job", String(255), nullable=False),
    Column("window_start_ms", BigInteger, nullable=True),
    Column("window_end_ms", BigInteger, nullable=True),
    Column("seq", Integer, nullable=False),
    Column("size", Integer, nullable=False),  # data points in a metric batch; 1 for a digest
    Column("payload", Text, nullable=False),  # what to send, rendered once (JSON)
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("sent_ms", BigInteger, nullable=True),
    Column("sent_how", String(16), nullable=True),
    PrimaryKeyConstraint("channel", "target", "item_key", name="pk_outbox"),
    Index("ix_outbox_state", "channel", "target", "state"),
    Index("ix_outbox_window_end", "channel", "target", "window_end_ms"),
)

# -- the pattern store (logpipe.patterns.store) -----------------------------------------------------

patterns = Table(
    "patterns", metadata,
    Column("pattern_id", String(64), primary_key=True),
    Column("template", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("status_changed_ms", BigInteger, nullable=True),
)

pattern_counts = Table(
    "pattern_counts", metadata,
    Column("pattern_id", String(64), primary_key=True),
    Column("service", String(255), primary_key=True),
    Column("hour_ms", BigInteger, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

pattern_examples = Table(
    "pattern_examples", metadata,
    Column("pattern_id", String(64), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("service", String(255), nullable=False),
    Column("seen_ms", BigInteger, nullable=False),
    Column("line", Text, nullable=False),
)

pattern_aliases = Table(
    "pattern_aliases", metadata,
    Column("old_id", String(64), primary_key=True),
    Column("new_id", String(64), nullable=False),
)

pattern_miner_state = Table(
    "pattern_miner_state", metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", Text, nullable=True),
)

service_counts = Table(
    "service_counts", metadata,
    Column("service", String(255), primary_key=True),
    Column("hour_ms", BigInteger, primary_key=True),
    Column("records", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
)

detect_windows = Table(
    "detect_windows", metadata,
    Column("window_start_ms", BigInteger, primary_key=True),
    Column("window_end_ms", BigInteger, primary_key=True),
    Column("processed_ms", BigInteger, nullable=False),
    Column("error_records", BigInteger, nullable=False),
    Column("patterns", Integer, nullable=False),
)

# -- the service's watermarks (logpipe.state.watermarks) --------------------------------------------

service_jobs = Table(
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
    Column("consecutive_failures", Integer, nullable=False),
)

service_job_windows = Table(
    "service_job_windows", metadata,
    Column("job", String(255), nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("started_ms", BigInteger, nullable=True),
    Column("completed_ms", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("completed_by", String(255), nullable=True),  # the replica that completed it
    PrimaryKeyConstraint("job", "window_start_ms", "window_end_ms", name="pk_service_job_windows"),
)

# -- alerts of saved queries: breaching windows in a row per series (logpipe.service.alerts) ---------

alert_states = Table(
    "alert_states", metadata,
    Column("job", String(255), nullable=False),
    Column("alert", String(255), nullable=False),
    Column("series", String(1024), nullable=False),  # the row's dimension values as JSON ("{}": none)
    Column("breaching", Integer, nullable=False),  # windows in a row whose value breached
    Column("firing", Integer, nullable=False),  # 1 once fired, until a window does not breach
    Column("last_window_end_ms", BigInteger, nullable=False),
    Column("last_value", Float, nullable=True),
    PrimaryKeyConstraint("job", "alert", "series", name="pk_alert_states"),
)

# -- leases: which replica may start windows (logpipe.state.leases) ----------------------------------

service_leases = Table(
    "service_leases", metadata,
    Column("name", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("token", BigInteger, nullable=False),  # grows with every change of holder (a fencing token)
    Column("acquired_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

# -- verdicts on stored objects (logpipe.store.verdicts) ---------------------------------------------

# One row per object version: ``url`` as the store names it (s3://... or a local path), its size and
# version (S3 ETag, local mtime_ns) - objects never change once written, so this identifies what was
# checked. ``object_check``: the gzip verdict (logpipe.store.integrity.ObjectCheck as JSON);
# ``bad_lines``: lines a reader could not read, by reason; ``misplaced``: records whose time lies
# outside their partition's hour (beyond ``lateness_s``); both NULL until the lines were scanned.
object_verdicts = Table(
    "object_verdicts", metadata,
    Column("url", String(1024), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("version", String(128), nullable=False),
    Column("hour_ms", BigInteger, nullable=False),  # the partition hour
    Column("object_check", Text, nullable=False),
    Column("bad_lines", Text, nullable=True),
    Column("misplaced", BigInteger, nullable=True),
    Column("records", BigInteger, nullable=True),  # good records read
    Column("lateness_s", Integer, nullable=True),
    Column("checked_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("url", "size", "version", name="pk_object_verdicts"),
    Index("ix_object_verdicts_hour", "hour_ms"),
)

# -- the web console: kept results of scheduled query runs, findings, and who changed what ----------

# One row per (job, window): the result of a scheduled run of a saved query, as Parquet (exact
# types), at most ``[web] result_rows_kept`` rows; pruned after ``[web] result_retention_days``.
query_results = Table(
    "query_results", metadata,
    Column("result_id", String(64), primary_key=True),  # hash of job and window: the URL of the result
    Column("job", String(255), nullable=False),
    Column("query", String(255), nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("params", Text, nullable=False),  # JSON of the declared parameters' values
    Column("rows", BigInteger, nullable=False),  # rows the query returned
    Column("rows_kept", Integer, nullable=False),
    Column("columns", Text, nullable=False),  # JSON [[name, type], ...]
    Column("data", LargeBinary, nullable=False),  # Arrow IPC file (Parquet before; queries.stored reads both)
    Column("engine", String(32), nullable=False),
    Column("bytes_scanned", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("job", "window_start_ms", "window_end_ms", name="uq_query_results_job_window"),
    Index("ix_query_results_query_window", "query", "window_end_ms"),
    Index("ix_query_results_created", "created_ms"),
)

# The detectors' findings of each learned window (written with the window, once).
findings = Table(
    "findings", metadata,
    Column("finding_id", String(64), primary_key=True),  # hash of window, kind, service, pattern
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("service", String(255), nullable=True),
    Column("pattern_id", String(64), nullable=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),  # the finding as JSON (evidence, redacted samples, query)
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_findings_window_end", "window_end_ms"),
)

# Who changed what, from the console, the API or the CLI (mute, resolve, reopen, run a query).
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False),
    Column("detail", Text, nullable=False),  # JSON
    Index("ix_audit_log_target", "target", "at_ms"),
)
