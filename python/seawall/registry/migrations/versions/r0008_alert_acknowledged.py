"""Alert acknowledgement: who acknowledged a monitor's alert (a token's principal, or the OS
login) and when.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("monitor_alerts", sa.Column("acknowledged_by", sa.String(128), nullable=True))
    op.add_column("monitor_alerts", sa.Column("acknowledged_at", sa.Float, nullable=True))


def downgrade() -> None:
    op.drop_column("monitor_alerts", "acknowledged_at")
    op.drop_column("monitor_alerts", "acknowledged_by")
