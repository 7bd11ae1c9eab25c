"""Steps for the pipeline tests, importable by name wherever they run (threads, spawned
processes, Ray workers).

Every step appends its name to the file `log` (a pipeline parameter), so that a test counts
the executions of each step however and wherever it ran.
"""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import seawall


def note(log: str, name: str) -> None:
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"{name}\n")


def calls(log: str | os.PathLike[str]) -> collections.Counter[str]:
    """How many times each step ran."""
    path = Path(log)
    return collections.Counter(path.read_text().split()) if path.exists() else collections.Counter()


def meet(folder: str, me: str, other: str, timeout: float) -> None:
    """Waits until `other` has started too: only steps that run at the same time get past it
    (`timeout` only ends a deadlock, it measures nothing)."""
    Path(folder, me).touch()
    deadline = time.monotonic() + timeout
    while not Path(folder, other).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"step {other} did not start while step {me} was running")
        time.sleep(0.005)


# --- a diamond: raw -> clean -> (left, right) -> joined ----------------------------------------


@seawall.step
def clean(raw, log):
    note(log, "clean")
    return raw.filter(pc.is_valid(raw["x"]))


@seawall.step
def left(clean, log, scale=2.0):
    note(log, "left")
    return pc.multiply(clean["x"], scale).to_numpy()


@seawall.step
def right(clean, log, offset=1.0):
    note(log, "right")
    return pc.add(clean["x"], offset).to_numpy()


@seawall.step
def joined(left, right, log):
    note(log, "joined")
    return {"total": float(np.sum(left) + np.sum(right)), "rows": len(left)}


DIAMOND = [joined, left, right, clean]  # any order: the pipeline sorts them


def raw_table(rng: np.random.Generator, n: int = 50) -> pa.Table:
    x = rng.normal(size=n)
    return pa.table({"x": pa.array(x, mask=rng.random(n) < 0.1)})


def diamond_oracle(raw: pa.Table, scale: float = 2.0, offset: float = 1.0) -> dict[str, float]:
    x = raw["x"].drop_null().to_numpy()
    return {"total": float(np.sum(x * scale) + np.sum(x + offset)), "rows": len(x)}


# --- two independent steps that must overlap ----------------------------------------------------


@seawall.step
def ping(folder, log, timeout=60.0):
    note(log, "ping")
    meet(folder, "ping", "pong", timeout)
    return os.getpid()


@seawall.step
def pong(folder, log, timeout=60.0):
    note(log, "pong")
    meet(folder, "pong", "ping", timeout)
    return os.getpid()


@seawall.step
def both(ping, pong, log):
    note(log, "both")
    return [ping, pong]


# --- failures -----------------------------------------------------------------------------------


@seawall.step(retries=2, backoff=0.01)
def flaky(log, fail_times=2):
    """Fails on its first `fail_times` executions (counted in the log), then works."""
    note(log, "flaky")
    if calls(log)["flaky"] <= fail_times:
        raise ConnectionError(f"attempt {calls(log)['flaky']} failed")
    return "ok"


@seawall.step(retries=1, backoff=0.01)
def broken(log):
    note(log, "broken")
    raise ValueError("broken on purpose")


@seawall.step
def after_broken(broken, log):
    note(log, "after_broken")
    return broken


@seawall.step
def independent(log):
    note(log, "independent")
    return 42


# --- a pickled output: word counts (a Counter, stored as a pickle) -> a report (JSON) ----------


@seawall.step
def counts(words, log):
    note(log, "counts")
    return collections.Counter(words)


@seawall.step
def report(counts, log):
    note(log, "report")
    return {w: n for w, n in sorted(counts.items())}


COUNTING = [counts, report]


def counting_oracle(words: list[str]) -> dict[str, int]:
    values, n = np.unique(np.array(words, dtype=str), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, n, strict=True)}
