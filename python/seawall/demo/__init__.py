"""`seawall demo`: the whole loop on generated card transactions, on loopback, offline."""

from __future__ import annotations

from ._features import build_pipeline, generate_transactions, run

__all__ = ["build_pipeline", "generate_transactions", "run"]
