"""Mergeable data profiles."""

from __future__ import annotations

from .profile import Profile

__all__: list[str] = ["Profile"]
