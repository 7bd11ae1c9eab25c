"""The continuous-training loop: when traffic drifts or quality drops, retrain, evaluate the
challenger against the champion on the same recent data, and promote only a winner."""

from __future__ import annotations

from .policy import Decision, LatencyGate, Policy
from .training_loop import ContinuousTraining

__all__ = ["ContinuousTraining", "Decision", "LatencyGate", "Policy"]
