"""`seawall demo`: the whole loop on generated card transactions, on loopback, offline."""

from __future__ import annotations

from .loop_demo import fraud_pipeline, run
from .stream import transactions

__all__ = ["fraud_pipeline", "run", "transactions"]
