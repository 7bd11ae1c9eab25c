"""Search: the newest point of each metric per run (latest_metrics, filled from the history
already logged, indexed by key and value), so run search filters and sorts in indexed SQL.

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


def upgrade() -> None:
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    # The newest point per (run, key): greatest step, then timestamp, then the later write.
    op.execute(
        """
        INSERT INTO latest_metrics (run_id, key, value, step, timestamp)
        SELECT m.run_id, m.key, m.value, m.step, m.timestamp
        FROM metrics m
        WHERE m.id = (
            SELECT m2.id FROM metrics m2
            WHERE m2.run_id = m.run_id AND m2.key = m.key
            ORDER BY m2.step DESC, m2.timestamp DESC, m2.id DESC
            LIMIT 1
        )
        """
    )


def downgrade() -> None:
    op.drop_index("ix_latest_metrics_key_value", table_name="latest_metrics")
    op.drop_table("latest_metrics")
