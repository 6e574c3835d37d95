"""Active/standby replicas: the ``service_leases`` table, and who completed each job window; the
saved queries' alerts: ``alert_states`` (breaching windows in a row per series).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_leases",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("acquired_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    with op.batch_alter_table("service_job_windows") as batch:
        batch.add_column(sa.Column("completed_by", sa.String(255), nullable=True))
    op.create_table(
        "alert_states",
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("alert", sa.String(255), nullable=False),
        sa.Column("series", sa.String(1024), nullable=False),
        sa.Column("breaching", sa.Integer, nullable=False),
        sa.Column("firing", sa.Integer, nullable=False),
        sa.Column("last_window_end_ms", sa.BigInteger, nullable=False),
        sa.Column("last_value", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("job", "alert", "series", name="pk_alert_states"),
    )


def downgrade() -> None:
    op.drop_table("alert_states")
    with op.batch_alter_table("service_job_windows") as batch:
        batch.drop_column("completed_by")
    op.drop_table("service_leases")
