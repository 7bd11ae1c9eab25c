"""Deleting, and garbage collection of the artifact store.

Experiments, runs, models and model versions get ``deleted_at`` (soft: hidden, restorable) and
``purged_at`` (permanent: the row stays as a tombstone so that lineage and the alias audit keep
naming it, but what it held is removed). ``deletions`` is the audit of every delete, restore
and purge. ``store_pins`` holds objects that a writer is storing against garbage collection
until the transaction that references them commits, and ``gc_condemned`` lists the objects a
sweep has decided to remove and is removing (see ``seawall/registry/_gc.py``).

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

_DELETABLE = ("experiments", "runs", "models", "model_versions")


def upgrade() -> None:
    for table in _DELETABLE:
        op.add_column(table, sa.Column("deleted_at", sa.Float, nullable=True))
        op.add_column(table, sa.Column("purged_at", sa.Float, nullable=True))
    op.create_table(
        "deletions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_deletions_target", "deletions", ["target", "id"])
    op.create_table(
        "store_pins",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_store_pins_sha256", "store_pins", ["sha256"])
    op.create_table(
        "gc_condemned",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("gc_id", sa.String(32), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gc_condemned")
    op.drop_index("ix_store_pins_sha256", table_name="store_pins")
    op.drop_table("store_pins")
    op.drop_index("ix_deletions_target", table_name="deletions")
    op.drop_table("deletions")
    for table in reversed(_DELETABLE):
        op.drop_column(table, "purged_at")
        op.drop_column(table, "deleted_at")
