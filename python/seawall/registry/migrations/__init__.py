"""Alembic migrations of the registry schema, run by seawall itself (no alembic.ini)."""
