"""The code describes itself: no docstring, comment or benchmark heading sends the reader to an
issue tracker they may not have. Issue numbers belong in commit messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ISSUE = re.compile(r"\bissues?\s*#?\d+|\(#\d+\)", re.IGNORECASE)
SOURCES = ("*.py", "*.pyi", "*.h", "*.hpp", "*.cpp", "*.cu", "*.cuh", "CMakeLists.txt")


def _files() -> list[Path]:
    found: set[Path] = set()
    for folder in ("python/seawall", "cpp", "tests", "benchmarks"):
        for pattern in SOURCES:
            found.update((REPO / folder).rglob(pattern))
    return sorted(found - {Path(__file__).resolve()})


def issue_mentions(text: str) -> list[tuple[int, str]]:
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), 1)
        if ISSUE.search(line)
    ]


def test_the_sources_name_no_issue_numbers():
    found = [
        f"{path.relative_to(REPO)}:{number}: {line}"
        for path in _files()
        for number, line in issue_mentions(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not found, "describe the code instead:\n" + "\n".join(found)


def test_the_benchmark_headings_name_no_issue_numbers():
    text = (REPO / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    headings = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert headings and not issue_mentions(headings)


@pytest.mark.parametrize(
    ("line", "mentions"),
    [
        ('"""Production monitoring (issue #7): drift."""', True),
        ("// The dynamic batcher (Issue 4), as Triton's.", True),
        ("## Monitoring (issues #7)", True),
        ("# fixed in (#12)", True),
        ('stroke="#999"', False),
        ("color:#222;", False),
        ("the 4th issue of the journal", False),
        ("tissue 3", False),
    ],
)
def test_issue_mentions_are_recognised(line, mentions):
    assert bool(issue_mentions(line)) is mentions
