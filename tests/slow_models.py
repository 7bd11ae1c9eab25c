"""A model whose every call sleeps a fixed time, for tests of latency (the load generator's, the
training loop's latency gate). Pickled into bundles by reference, so it lives in a module the
tests import by name (tests/ is on the path)."""

from __future__ import annotations

import time

import numpy as np


class SleepyModel:
    """predict(x) sleeps `delay_s` (once per batch), then answers 0 for every row."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def predict(self, x: np.ndarray) -> np.ndarray:
        time.sleep(self.delay_s)
        return np.zeros(len(x), dtype=np.int64)


class SlowClassifier:
    """A fitted classifier whose every call first sleeps `delay_s`."""

    def __init__(self, model: object, delay_s: float) -> None:
        self.model = model
        self.delay_s = delay_s

    def predict(self, x: np.ndarray) -> np.ndarray:
        time.sleep(self.delay_s)
        return self.model.predict(x)  # type: ignore[attr-defined, no-any-return]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        time.sleep(self.delay_s)
        return self.model.predict_proba(x)  # type: ignore[attr-defined, no-any-return]
