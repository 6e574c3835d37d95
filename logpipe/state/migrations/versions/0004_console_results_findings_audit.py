"""The web console's tables: kept results of scheduled query runs, detector findings, the audit log.

* ``query_results``: one row per (job, window) with the result as Parquet (bounded rows, pruned by age).
* ``findings``: what the detectors found in each learned window, so the console shows them over time.
* ``audit_log``: who muted, resolved or reopened a pattern or ran a query, and when.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "query_results",
        sa.Column("result_id", sa.String(64), primary_key=True),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("query", sa.String(255), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger, nullable=False),
        sa.Column("window_end_ms", sa.BigInteger, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("rows_kept", sa.Integer, nullable=False),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("bytes_scanned", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("job", "window_start_ms", "window_end_ms", name="uq_query_results_job_window"),
    )
    op.create_index("ix_query_results_query_window", "query_results", ["query", "window_end_ms"])
    op.create_index("ix_query_results_created", "query_results", ["created_ms"])
    op.create_table(
        "findings",
        sa.Column("finding_id", sa.String(64), primary_key=True),
        sa.Column("window_start_ms", sa.BigInteger, nullable=False),
        sa.Column("window_end_ms", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("service", sa.String(255), nullable=True),
        sa.Column("pattern_id", sa.String(64), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_findings_window_end", "findings", ["window_end_ms"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target", "at_ms"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("findings")
    op.drop_table("query_results")
