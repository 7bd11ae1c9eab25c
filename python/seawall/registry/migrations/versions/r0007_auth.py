"""Identity: principals (users and service accounts, each of a team), their tokens (digests only,
with scopes, expiry and revocation) and the registry's token issuer; runs and model versions
record who made them (the acting principal, or the OS login).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("actor", sa.String(128), nullable=True))
    op.add_column("model_versions", sa.Column("actor", sa.String(128), nullable=True))
    op.create_table(
        "auth_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "principals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_id", sa.String(12), nullable=False, unique=True),
        sa.Column("principal_id", sa.Integer, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("revoked_at", sa.Float, nullable=True),
        sa.Column("rate_limit", sa.Float, nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_tokens_principal", "tokens", ["principal_id"])


def downgrade() -> None:
    op.drop_index("ix_tokens_principal", table_name="tokens")
    op.drop_table("tokens")
    op.drop_table("principals")
    op.drop_table("auth_settings")
    op.drop_column("model_versions", "actor")
    op.drop_column("runs", "actor")
