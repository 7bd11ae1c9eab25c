"""Parsing what a user types for a load test: durations ("10s", "2m", "500ms") and the steps of a
load range ("1:64", "100:5000:100")."""

from __future__ import annotations

import math
import re

from ..errors import InvalidInputError

__all__ = ["parse_duration", "parse_steps"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|min|h)?\s*$")
_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, None: 1.0}

# More steps than this is a typo (a step of 1 over a wide range), not a load test.
MAX_STEPS = 1000


def parse_duration(text: str | float, what: str = "duration") -> float:
    """Seconds from "10s", "2m", "500ms", "1.5h" or a bare number of seconds; > 0."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if match is None:
            raise InvalidInputError(
                f"{what} {text!r} is not a duration: give a number with a unit, e.g. 10s, 2m, 500ms"
            )
        seconds = float(match[1]) * _UNITS[match[2]]
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(f"{what} must be more than 0 seconds, got {text!r}")
    return seconds


def _number(text: str, what: str, integer: bool) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise InvalidInputError(f"{what}: {text!r} is not {kind}") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{what}: {text!r} must be more than 0")
    return value


def parse_steps(text: str, what: str, *, integer: bool) -> list[float]:
    """The steps of START[:END[:STEP]], as perf_analyzer's ranges: from START to END by STEP;
    without STEP each step doubles (1:64 is 1, 2, 4, ... 64), and END is always the last step.
    `integer`: whole numbers only (a concurrency)."""
    parts = str(text).strip().split(":")
    if not 1 <= len(parts) <= 3 or any(not p.strip() for p in parts):
        raise InvalidInputError(f"{what} {text!r} is not START[:END[:STEP]], e.g. 1:64 or 8")
    start = _number(parts[0].strip(), what, integer)
    end = _number(parts[1].strip(), what, integer) if len(parts) > 1 else start
    if end < start:
        raise InvalidInputError(f"{what} {text!r}: the end {parts[1]} is below the start")
    steps: list[float] = []
    if len(parts) == 3:
        step = _number(parts[2].strip(), what, integer)
        if (end - start) / step + 1 > MAX_STEPS:
            raise InvalidInputError(f"{what} {text!r} has more than {MAX_STEPS} steps")
        value = start
        while value < end and not math.isclose(value, end):
            steps.append(value)
            value = start + len(steps) * step
    else:
        value = start
        while value < end:
            steps.append(value)
            value *= 2
    steps.append(end)
    return [int(s) for s in steps] if integer else steps
