"""Shared benchmark helpers: medians are collected per run and compared as ratios at the end.

SEAWALL_BENCH_ROWS scales the data down (CI runs the suite small, as a smoke test, with
--benchmark-disable); the figures in RESULTS.md come from the default sizes.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

ROWS = int(os.environ.get("SEAWALL_BENCH_ROWS", "1000000"))


class Medians(dict[str, float]):
    """Median seconds per benchmark name, for the ratio report."""

    def record(self, name: str, benchmark: Any) -> None:
        stats = getattr(benchmark, "stats", None)
        if stats is not None and getattr(stats, "stats", None) is not None:
            self[name] = stats.stats.median


@pytest.fixture(scope="session")
def medians() -> Medians:
    return Medians()
