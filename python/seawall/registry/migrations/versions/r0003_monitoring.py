"""Monitoring: the windows a Monitor evaluated (bounds, rows, drift share, details, the window's
profiles), the drift of each feature in each window, and the alerts its rules raised.

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
        "monitor_windows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("window_end", sa.Float, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("drift_share", sa.Float, nullable=True),
        sa.Column("dataset_drift", sa.Boolean, nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("profile", sa.LargeBinary, nullable=True),
        sa.Column("prediction_profile", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint(
            "model", "window_start", "window_end", name="uq_monitor_windows_window"
        ),
    )
    op.create_index("ix_monitor_windows_model_end", "monitor_windows", ["model", "window_end"])
    op.create_table(
        "monitor_drift",
        sa.Column("window_id", sa.Integer, sa.ForeignKey("monitor_windows.id"), primary_key=True),
        sa.Column("feature", sa.String(250), primary_key=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("statistic", sa.Float, nullable=False),
        sa.Column("pvalue", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("drifted", sa.Boolean, nullable=False),
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(250), nullable=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("resolved_at", sa.Float, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_monitor_alerts_model_state", "monitor_alerts", ["model", "state"])


def downgrade() -> None:
    op.drop_index("ix_monitor_alerts_model_state", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_table("monitor_drift")
    op.drop_index("ix_monitor_windows_model_end", table_name="monitor_windows")
    op.drop_table("monitor_windows")
