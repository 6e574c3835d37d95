"""Object verdicts replace bad-record counts.

``object_verdicts`` holds, per stored object version (URL, size, ETag or mtime), the gzip check
(``logpipe.store.integrity``), the bad lines by reason, the misplaced records and the good records
read. It replaces ``bad_record_counts``, which was keyed by the local file (a download-cache path for
an S3 store, so an evicted copy was counted again): its rows are dropped and the objects are checked
once more.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_verdicts",
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("hour_ms", sa.BigInteger, nullable=False),
        sa.Column("object_check", sa.Text, nullable=False),
        sa.Column("bad_lines", sa.Text, nullable=True),
        sa.Column("misplaced", sa.BigInteger, nullable=True),
        sa.Column("records", sa.BigInteger, nullable=True),
        sa.Column("lateness_s", sa.Integer, nullable=True),
        sa.Column("checked_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("url", "size", "version", name="pk_object_verdicts"),
    )
    op.create_index("ix_object_verdicts_hour", "object_verdicts", ["hour_ms"])
    op.drop_table("bad_record_counts")


def downgrade() -> None:
    op.create_table(
        "bad_record_counts",
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("counted_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("path", "size", "mtime_ns", name="pk_bad_record_counts"),
    )
    op.drop_index("ix_object_verdicts_hour", table_name="object_verdicts")
    op.drop_table("object_verdicts")
