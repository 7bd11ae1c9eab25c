"""Runs record the process that runs them (its host, pid and start time) and a heartbeat, so that
runs whose process was killed can be told from live ones and marked KILLED; an index on the
status finds the running ones.

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
    # Nullable: runs from before this revision have no known owner and are never marked.
    op.add_column("runs", sa.Column("host", sa.String(255), nullable=True))
    op.add_column("runs", sa.Column("pid", sa.Integer, nullable=True))
    op.add_column("runs", sa.Column("pid_start", sa.BigInteger, nullable=True))
    op.add_column("runs", sa.Column("heartbeat_at", sa.Float, nullable=True))
    op.create_index("ix_runs_status", "runs", ["status"])
