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


MEDIANS = Medians()


@pytest.fixture(scope="session")
def medians() -> Medians:
    return MEDIANS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Prints each module's ratios once all its benchmarks ran with timing on."""
    import bench_drift
    import bench_profile
    import bench_transforms

    for module in (bench_transforms, bench_drift, bench_profile):
        try:
            lines = module.report(MEDIANS)
        except KeyError:
            continue  # timing disabled, or only part of the module ran
        terminalreporter.section(f"{module.__name__}: ratios against the anchors")
        for line in lines:
            terminalreporter.write_line(line)
