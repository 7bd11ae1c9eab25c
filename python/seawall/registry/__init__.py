"""Experiment tracking, the model registry, artifacts and lineage."""
