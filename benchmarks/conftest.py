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
    """Prints the ratios of every benchmark module that ran (each bench_*.py defines
    ``report(medians)``), once all its benchmarks ran with timing on."""
    import sys

    modules = sorted(
        (m for name, m in list(sys.modules.items()) if name.startswith("bench_")),
        key=lambda m: m.__name__,
    )
    for module in modules:
        report = getattr(module, "report", None)
        if report is None:
            continue
        try:
            lines = report(MEDIANS)
        except KeyError:
            continue  # timing disabled, or only part of the module ran
        terminalreporter.section(f"{module.__name__}: ratios against the anchors")
        for line in lines:
            terminalreporter.write_line(line)
