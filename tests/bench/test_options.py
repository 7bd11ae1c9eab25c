"""What a user types for a load test: durations and load ranges, with clear errors."""

from __future__ import annotations

import pytest

from seawall.bench import parse_duration, parse_steps
from seawall.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("2m", 120.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("3", 3.0),
        (" 2 min ", 120.0),
        (".5s", 0.5),
        (7, 7.0),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "s", "abc", "-1s", "0", "0s", "10 parsecs", "1e3s", "nan", "10s5"]
)
def test_bad_durations_name_the_option(text):
    with pytest.raises(InvalidInputError, match="--duration"):
        parse_duration(text, "--duration")


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("1:64", [1, 2, 4, 8, 16, 32, 64]),
        ("1:10", [1, 2, 4, 8, 10]),
        ("8", [8]),
        ("3:3", [3]),
        ("4:16:4", [4, 8, 12, 16]),
        ("4:15:4", [4, 8, 12, 15]),
    ],
)
def test_concurrency_ranges(text, steps):
    assert parse_steps(text, "--concurrency", integer=True) == steps


def test_rate_ranges():
    assert parse_steps("100:5000", "--rate", integer=False) == [
        100,
        200,
        400,
        800,
        1600,
        3200,
        5000,
    ]
    assert parse_steps("0.5:1.5:0.5", "--rate", integer=False) == pytest.approx([0.5, 1.0, 1.5])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("64:1", "below the start"),
        ("a:b", "not a whole number"),
        ("1.5:4", "not a whole number"),
        ("1:2:3:4", "START"),
        ("0:5", "more than 0"),
        (":", "START"),
        ("1:", "START"),
        ("-2:4", "more than 0"),
        ("1:100000:1", "more than 1000 steps"),
    ],
)
def test_bad_ranges_say_what_is_wrong(text, message):
    with pytest.raises(InvalidInputError, match=message) as info:
        parse_steps(text, "--concurrency", integer=True)
    assert "--concurrency" in str(info.value)
