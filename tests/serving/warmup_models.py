"""Instrumented Python models for the warm-up and repository tests: each records the batches it
runs, and can be made to block or fail, by a key it keeps. The records live in this module, so the
copy a server unpickles from a bundle shares them with the test."""

from __future__ import annotations

import threading
import time

import numpy as np

CALLS: dict[str, list[np.ndarray]] = {}  # key -> every batch run, in order
GATES: dict[str, threading.Event] = {}  # key -> the model waits until it is set
STARTED: dict[str, threading.Event] = {}  # key -> set at its first call
FAIL_AT: dict[str, int] = {}  # key -> a batch of this many rows raises
SLEEP_S: dict[str, float] = {}  # key -> seconds each call sleeps


def reset(key: str) -> None:
    CALLS[key] = []
    STARTED[key] = threading.Event()
    GATES.pop(key, None)
    FAIL_AT.pop(key, None)
    SLEEP_S.pop(key, None)


class Recording:
    """Feature sum times `factor`; records each batch under `key`."""

    def __init__(self, key: str, factor: float = 1.0) -> None:
        self.key = key
        self.factor = factor

    def __call__(self, x: np.ndarray) -> np.ndarray:
        key = self.key
        CALLS.setdefault(key, []).append(np.array(x, copy=True))
        if key in STARTED:
            STARTED[key].set()
        gate = GATES.get(key)
        if gate is not None:
            gate.wait(60)
        if key in SLEEP_S:
            time.sleep(SLEEP_S[key])
        if FAIL_AT.get(key) == len(x):
            raise ValueError(f"this model fails on batches of {len(x)} rows")
        return x.astype(np.float64).sum(axis=1) * self.factor


def sizes(key: str) -> list[int]:
    return [len(x) for x in CALLS.get(key, [])]
