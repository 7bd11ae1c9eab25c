"""The figures of one arm of a traffic policy: requests, errors, latency quantiles, the
distribution of its predictions and, for a shadow, its agreement with the primary.

:class:`ArmFigures` holds counts that merge by addition (a latency histogram on fixed
log-spaced buckets, class counts, score moments), so that figures taken over short spans add up
to those of a longer one: the rollout's evaluation windows, the monitor's windows and the
cumulative series on ``/metrics`` all come from the same counts. :class:`ArmStats` is the
thread-safe recorder the request path writes to: one lock, a few additions and an append per
request; the outputs are summarised a block of requests at a time (numpy over the block's
outputs joined), and the readers drain what it recorded into their own views.

Predictions, from a model's outputs (``{name: array}``): the *class* of a row is the first 1-D
output of integers, strings or booleans (else the arg-max of a 2-D float output), its *score*
the first float output (a 1-D output itself; of an ``(n, 2)`` output the second column, the
positive class; of ``(n, 1)`` the column; of ``(n, k)`` the largest value). Agreement of a
shadow with the primary on the same request: the share of rows whose classes are equal, and the
mean absolute difference of the two score outputs, element by element.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["ArmFigures", "ArmStats", "outputs_of"]

# Latency buckets: bucket i holds [LOW * GROWTH**i, LOW * GROWTH**(i+1)); a quantile is read at
# a bucket's geometric middle, within 2% of the true value between 10 us and 1000 s.
_LOW = 1e-5
_GROWTH = 1.04
_SCALE = 1 / math.log(_GROWTH)
_BUCKETS = math.ceil(math.log(1e3 / _LOW) * _SCALE) + 1
# Distinct classes counted per arm; more go under OTHER (a model emitting free text as classes
# must not grow the figures without bound).
MAX_CLASSES = 64
OTHER = "(other)"
QUANTILES = (0.5, 0.9, 0.99)
# Requests whose outputs wait to be summarised together.
_BLOCK = 256


def _bucket(seconds: float) -> int:
    if seconds <= _LOW:
        return 0
    return min(int(math.log(seconds / _LOW) * _SCALE), _BUCKETS - 1)


def _bucket_value(i: int) -> float:
    return _LOW * _GROWTH ** (i + 0.5)


def outputs_of(result: Mapping[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(classes, scores) of a model's outputs, as the module's docstring defines them."""
    classes = scores = None
    for value in result.values():
        a = np.asarray(value)
        if a.ndim == 0 or a.ndim > 2:
            continue
        kind = a.dtype.kind
        if classes is None and a.ndim == 1 and kind in "iubUSO":
            classes = a
        elif scores is None and kind == "f":
            scores = a
    if classes is None and scores is not None and scores.ndim == 2 and scores.shape[1] > 1:
        classes = scores.argmax(axis=1)
    return classes, scores


def _row_scores(scores: np.ndarray) -> np.ndarray:
    if scores.ndim == 1:
        return scores
    if scores.shape[1] == 2:
        return scores[:, 1]
    if scores.shape[1] == 1:
        return scores[:, 0]
    return scores.max(axis=1)


def _label(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class ArmFigures:
    """Mergeable figures of one arm over some span (module docstring). ``version`` is the version
    that answered last."""

    __slots__ = (
        "classes",
        "compared",
        "diff_n",
        "diff_sum",
        "dropped",
        "equal",
        "errors",
        "incomparable",
        "latency",
        "latency_sum",
        "load_error",
        "requests",
        "score_max",
        "score_min",
        "score_n",
        "score_sq",
        "score_sum",
        "version",
    )

    def __init__(self, version: str | None = None) -> None:
        self.version = version
        self.requests = 0
        self.errors = 0
        self.latency = [0] * _BUCKETS
        self.latency_sum = 0.0
        self.classes: dict[str, int] = {}
        self.score_n = 0
        self.score_sum = 0.0
        self.score_sq = 0.0
        self.score_min = math.inf
        self.score_max = -math.inf
        self.compared = 0  # rows whose classes were compared with the primary's
        self.equal = 0
        self.diff_n = 0  # score elements compared with the primary's
        self.diff_sum = 0.0
        self.incomparable = 0  # answers whose outputs could not be compared
        self.load_error: str | None = None  # why the arm's version did not load, if it did not
        self.dropped = 0  # shadow copies dropped because the queue was full

    # --- recording ----------------------------------------------------------------------------

    def add_request(self, error: bool, seconds: float, count: int = 1) -> None:
        """`count` requests, each answered (or failed) in `seconds`."""
        self.requests += count
        if error:
            self.errors += count
        if seconds >= 0:
            self.latency[_bucket(seconds)] += count
            self.latency_sum += seconds * count

    def add_predictions(self, result: Mapping[str, Any]) -> None:
        classes, scores = outputs_of(result)
        if classes is not None and len(classes):
            counts = self.classes
            if len(classes) <= 8:
                pairs: Any = ((_label(v), 1) for v in classes.tolist())
            else:
                values, n = np.unique(classes, return_counts=True)
                pairs = zip([_label(v) for v in values.tolist()], n.tolist(), strict=True)
            for label, n in pairs:
                if label in counts or len(counts) < MAX_CLASSES:
                    counts[label] = counts.get(label, 0) + n
                else:
                    counts[OTHER] = counts.get(OTHER, 0) + n
        if scores is not None and scores.size:
            s = _row_scores(scores).astype(np.float64, copy=False)
            s = s[np.isfinite(s)] if not np.isfinite(s).all() else s
            if s.size:
                self.score_n += int(s.size)
                self.score_sum += float(s.sum())
                self.score_sq += float(np.dot(s, s))
                self.score_min = min(self.score_min, float(s.min()))
                self.score_max = max(self.score_max, float(s.max()))

    def add_predictions_of(self, results: list[Mapping[str, Any]]) -> None:
        """:meth:`add_predictions` for many requests' outputs at once (one model's: the same
        outputs), joined first so that numpy does the work."""
        if not results:
            return
        try:
            joined = {n: np.concatenate([np.asarray(r[n]) for r in results]) for n in results[0]}
        except (KeyError, ValueError):  # outputs that do not join: one request at a time
            for r in results:
                self.add_predictions(r)
            return
        self.add_predictions(joined)

    def add_agreement(self, primary: Mapping[str, Any], shadow: Mapping[str, Any]) -> None:
        """Compares the shadow's outputs for a request with the primary's for the same one."""
        pc, ps = outputs_of(primary)
        sc, ss = outputs_of(shadow)
        compared = False
        if pc is not None and sc is not None and pc.shape == sc.shape:
            same = pc == sc if pc.dtype.kind == sc.dtype.kind else pc.astype(str) == sc.astype(str)
            self.compared += int(pc.size)
            self.equal += int(np.count_nonzero(same))
            compared = True
        if ps is not None and ss is not None and ps.shape == ss.shape:
            diff = np.abs(ps.astype(np.float64) - ss.astype(np.float64))
            diff = diff[np.isfinite(diff)]
            self.diff_n += int(diff.size)
            self.diff_sum += float(diff.sum())
            compared = True
        if not compared:
            self.incomparable += 1

    # --- combining and reading ----------------------------------------------------------------

    def merge(self, other: ArmFigures) -> ArmFigures:
        """Adds `other`'s counts to these (in place); returns self."""
        if other.version is not None:
            self.version = other.version
        self.requests += other.requests
        self.errors += other.errors
        if other.requests:
            self.latency = [a + b for a, b in zip(self.latency, other.latency, strict=True)]
            self.latency_sum += other.latency_sum
        for label, n in other.classes.items():
            if label in self.classes or len(self.classes) < MAX_CLASSES:
                self.classes[label] = self.classes.get(label, 0) + n
            else:
                self.classes[OTHER] = self.classes.get(OTHER, 0) + n
        self.score_n += other.score_n
        self.score_sum += other.score_sum
        self.score_sq += other.score_sq
        self.score_min = min(self.score_min, other.score_min)
        self.score_max = max(self.score_max, other.score_max)
        self.compared += other.compared
        self.equal += other.equal
        self.diff_n += other.diff_n
        self.diff_sum += other.diff_sum
        self.incomparable += other.incomparable
        self.dropped += other.dropped
        if other.load_error is not None:
            self.load_error = other.load_error
        return self

    def copy(self) -> ArmFigures:
        return ArmFigures().merge(self)

    @property
    def answered(self) -> int:
        """Requests with a latency recorded (every request but those dropped)."""
        return sum(self.latency)

    def quantile(self, q: float) -> float | None:
        """The latency quantile `q` in seconds (within 2%), None without requests."""
        total = sum(self.latency)
        if total == 0:
            return None
        rank = q * total
        seen = 0
        for i, n in enumerate(self.latency):
            seen += n
            if n and seen >= rank:
                return _bucket_value(i)
        return _bucket_value(_BUCKETS - 1)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def agreement(self) -> float | None:
        return self.equal / self.compared if self.compared else None

    @property
    def score_mad(self) -> float | None:
        return self.diff_sum / self.diff_n if self.diff_n else None

    def summary(self) -> dict[str, Any]:
        """The figures as plain values (JSON-ready; None where there is nothing to say)."""
        total = sum(self.latency)
        latency: dict[str, Any] = {f"p{round(q * 100)}": self.quantile(q) for q in QUANTILES}
        latency["mean"] = self.latency_sum / total if total else None
        classes = sum(self.classes.values())
        score: dict[str, Any] | None = None
        if self.score_n:
            mean = self.score_sum / self.score_n
            var = max(self.score_sq / self.score_n - mean * mean, 0.0)
            score = {
                "count": self.score_n,
                "mean": mean,
                "std": math.sqrt(var),
                "min": self.score_min,
                "max": self.score_max,
            }
        return {
            "version": self.version,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "latency_s": latency,
            "classes": {k: n / classes for k, n in sorted(self.classes.items())} if classes else {},
            "score": score,
            "compared": self.compared,
            "agreement": self.agreement,
            "score_mad": self.score_mad,
            "incomparable": self.incomparable,
            "dropped": self.dropped,
            "load_error": self.load_error,
        }

    def __repr__(self) -> str:
        return (
            f"ArmFigures(version={self.version!r}, requests={self.requests}, "
            f"errors={self.errors}, compared={self.compared})"
        )


class ArmStats:
    """What one arm recorded, for several readers at once.

    The request path calls :meth:`record` (and a shadow :meth:`record_agreement`,
    :meth:`record_drop`); a reader asks for its own view by name: :meth:`take` gives what was
    recorded since its previous take and starts the view afresh, :meth:`peek` gives the view
    without clearing it (``"total"`` is never cleared: the cumulative figures).
    """

    def __init__(self, version: str | None, views: tuple[str, ...] = ()) -> None:
        self.version = version
        self._lock = threading.Lock()
        self._current = ArmFigures(version)
        self._views = {name: ArmFigures(version) for name in ("total", *views)}
        self._outputs: list[Mapping[str, Any]] = []  # waiting to be summarised

    def record(self, error: bool, seconds: float, result: Mapping[str, Any] | None) -> None:
        with self._lock:
            self._current.add_request(error, seconds)
            if result is not None:
                self._add_outputs(result)

    def _add_outputs(self, result: Mapping[str, Any]) -> None:
        outputs = self._outputs
        outputs.append(result)
        if len(outputs) >= _BLOCK:
            self._current.add_predictions_of(outputs)
            self._outputs = []

    def record_block(
        self, count: int, error: bool, seconds: float, result: Mapping[str, Any] | None
    ) -> None:
        """`count` requests answered together in `seconds` (a shadow's block of copies), with
        their outputs joined in `result`."""
        with self._lock:
            self._current.add_request(error, seconds, count)
            if result is not None:
                self._add_outputs(result)

    def record_agreement(self, primary: Mapping[str, Any], shadow: Mapping[str, Any]) -> None:
        with self._lock:
            self._current.add_agreement(primary, shadow)

    def record_drop(self) -> None:
        with self._lock:
            self._current.dropped += 1

    def _drain(self) -> None:
        self._current.add_predictions_of(self._outputs)
        self._outputs = []
        current = self._current
        self._current = ArmFigures(self.version)
        for view in self._views.values():
            view.merge(current)

    def take(self, view: str) -> ArmFigures:
        with self._lock:
            self._drain()
            out = self._views[view]
            self._views[view] = ArmFigures(self.version)
        return out

    def peek(self, view: str = "total") -> ArmFigures:
        with self._lock:
            self._drain()
            return self._views[view].copy()
