"""One outbox for metric batches and digest deliveries; every time in epoch milliseconds; bad-record verdicts.

* ``metric_outbox`` + ``metric_ledger`` and ``digest_outbox`` become the one ``outbox`` table
  (channel "metrics" or "digest"); every row moves over with its state, attempts and error, and a
  row that was sent keeps when and how (the ledger).
* The pattern store's ``DateTime`` columns (naive UTC) become ``BIGINT`` epoch milliseconds named
  ``*_ms``, like every other time in the state database.
* ``bad_record_counts``: the DuckDB engine's per-object bad-record verdicts (they lived in a SQLite
  file of their own in ``[store] cache_dir``; that file is not read any more - objects are counted
  once more, then remembered here).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# table -> [(old DateTime column, new BIGINT column, nullable)]
TIME_COLUMNS: dict[str, list[tuple[str, str, bool]]] = {
    "patterns": [("first_seen", "first_seen_ms", False), ("last_seen", "last_seen_ms", False),
                 ("status_changed_at", "status_changed_ms", True)],
    "pattern_counts": [("hour", "hour_ms", False)],
    "pattern_examples": [("seen_at", "seen_ms", False)],
    "service_counts": [("hour", "hour_ms", False)],
    "detect_windows": [("window_start", "window_start_ms", False), ("window_end", "window_end_ms", False),
                       ("processed_at", "processed_ms", False)],
}

OUTBOX_COLUMNS = ("channel, target, item_key, kind, job, window_start_ms, window_end_ms, seq, size, payload, "
                  "state, attempts, last_error, created_ms, updated_ms, sent_ms, sent_how")


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _to_ms_sql(column: str) -> str:
    """SQL turning a stored naive-UTC DateTime into epoch milliseconds (NULL stays NULL)."""
    if _is_sqlite():  # stored as text 'YYYY-MM-DD HH:MM:SS.ffffff'
        return (f"CAST(strftime('%s', {column}) AS INTEGER) * 1000 "
                f"+ CAST(substr(strftime('%f', {column}), 4, 3) AS INTEGER)")
    return f"CAST(round(extract(epoch from {column}) * 1000) AS BIGINT)"


def _from_ms_sql(column: str) -> str:
    """SQL turning epoch milliseconds back into a naive-UTC DateTime as SQLAlchemy stores it."""
    if _is_sqlite():
        return (f"CASE WHEN {column} IS NULL THEN NULL ELSE strftime('%Y-%m-%d %H:%M:%f', {column} / 1000.0, "
                f"'unixepoch') || '000' END")
    return f"(to_timestamp({column} / 1000.0) AT TIME ZONE 'UTC')"


def _retype(table: str, old: str, new: str, nullable: bool, old_type: sa.types.TypeEngine,
            new_type: sa.types.TypeEngine, convert: str) -> None:
    """Rename ``old`` to ``new`` and convert its values with the SQL ``convert`` (of the old column)."""
    if _is_sqlite():
        # SQLite keeps any value in any column. Batch mode rebuilds the table with the new type and
        # name, copying values with CAST(value AS new type): a number survives a cast to either type,
        # a date text does not survive one to a number. So the number is written while it is one:
        # converted before the rebuild towards milliseconds, after it towards DateTime.
        to_number = isinstance(new_type, sa.BigInteger)
        if to_number:
            op.execute(f"UPDATE {table} SET {old} = {convert}")
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.alter_column(old, new_column_name=new, type_=new_type, existing_type=old_type,
                               existing_nullable=nullable)
        if not to_number:
            op.execute(f"UPDATE {table} SET {new} = {convert.replace(old, new)}")
    else:
        op.alter_column(table, old, type_=new_type, existing_type=old_type, existing_nullable=nullable,
                        postgresql_using=convert)
        op.alter_column(table, old, new_column_name=new)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("item_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger, nullable=True),
        sa.Column("window_end_ms", sa.BigInteger, nullable=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("sent_ms", sa.BigInteger, nullable=True),
        sa.Column("sent_how", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("channel", "target", "item_key", name="pk_outbox"),
    )
    op.create_index("ix_outbox_state", "outbox", ["channel", "target", "state"])
    op.create_index("ix_outbox_window_end", "outbox", ["channel", "target", "window_end_ms"])
    op.execute(
        f"INSERT INTO outbox ({OUTBOX_COLUMNS}) "
        "SELECT 'metrics', o.sink, o.batch_id, o.sink, o.job, o.window_start_ms, o.window_end_ms, o.seq, "
        "o.n_points, o.points_json, o.state, o.attempts, o.last_error, o.updated_ms, o.updated_ms, "
        "l.published_ms, l.how FROM metric_outbox o LEFT JOIN metric_ledger l ON l.batch_id = o.batch_id")
    op.execute(
        f"INSERT INTO outbox ({OUTBOX_COLUMNS}) "
        "SELECT 'digest', destination, digest_key, kind, job, NULL, NULL, 0, 1, payload, state, attempts, "
        "last_error, created_ms, updated_ms, sent_ms, CASE WHEN state = 'sent' THEN 'send' END FROM digest_outbox")
    op.drop_table("metric_ledger")
    op.drop_table("metric_outbox")
    op.drop_table("digest_outbox")

    for table, columns in TIME_COLUMNS.items():
        for old, new, nullable in columns:
            _retype(table, old, new, nullable, sa.DateTime(), sa.BigInteger(), _to_ms_sql(old))

    op.create_table(
        "bad_record_counts",
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("counted_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("path", "size", "mtime_ns", name="pk_bad_record_counts"),
    )


def downgrade() -> None:
    op.drop_table("bad_record_counts")
    for table, columns in TIME_COLUMNS.items():
        for old, new, nullable in columns:
            _retype(table, new, old, nullable, sa.BigInteger(), sa.DateTime(), _from_ms_sql(new))

    op.create_table(
        "metric_outbox",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("sink", sa.String(32), nullable=False),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger, nullable=False),
        sa.Column("window_end_ms", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("n_points", sa.Integer, nullable=False),
        sa.Column("points_json", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_metric_outbox_sink_state", "metric_outbox", ["sink", "state"])
    op.create_index("ix_metric_outbox_sink_end", "metric_outbox", ["sink", "window_end_ms"])
    op.create_table(
        "metric_ledger",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("sink", sa.String(32), nullable=False),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger, nullable=False),
        sa.Column("window_end_ms", sa.BigInteger, nullable=False),
        sa.Column("n_points", sa.Integer, nullable=False),
        sa.Column("published_ms", sa.BigInteger, nullable=False),
        sa.Column("how", sa.String(16), nullable=False),
    )
    op.create_index("ix_metric_ledger_job_window", "metric_ledger", ["job", "window_start_ms"])
    op.create_table(
        "digest_outbox",
        sa.Column("digest_key", sa.String(128), nullable=False),
        sa.Column("destination", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("sent_ms", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("digest_key", "destination", name="pk_digest_outbox"),
    )
    op.execute(
        "INSERT INTO metric_outbox (batch_id, sink, job, window_start_ms, window_end_ms, seq, n_points, "
        "points_json, state, attempts, last_error, updated_ms) SELECT item_key, target, job, window_start_ms, "
        "window_end_ms, seq, size, payload, state, attempts, last_error, updated_ms FROM outbox "
        "WHERE channel = 'metrics'")
    op.execute(
        "INSERT INTO metric_ledger (batch_id, sink, job, window_start_ms, window_end_ms, n_points, published_ms, "
        "how) SELECT item_key, target, job, window_start_ms, window_end_ms, size, sent_ms, sent_how FROM outbox "
        "WHERE channel = 'metrics' AND state = 'sent'")
    op.execute(
        "INSERT INTO digest_outbox (digest_key, destination, kind, job, payload, state, attempts, last_error, "
        "created_ms, updated_ms, sent_ms) SELECT item_key, target, kind, job, payload, state, attempts, "
        "last_error, created_ms, updated_ms, sent_ms FROM outbox WHERE channel = 'digest'")
    op.drop_table("outbox")
