"""Monitor: drift, missing data, predictions and quality of a served model, per time window,
from the profiles the server makes of its traffic; a history in the registry; alerts.

The server calls three things (``add_slice`` from its live profiler, the collector on
``/metrics``, the dashboard at ``/ui``)::

    monitor = Monitor("fraud", registry=reg, window_s=3600, rules=[Rule.drifted("*")],
                      sinks=[WebhookSink("http://alerts.local/hook")])
    monitor.add_slice(start, end, features_profile, predictions_profile)   # cheap, never blocks

Windows
-------
Time is cut into *panes* of ``step_s`` seconds from ``origin`` (default: the epoch, so panes are
aligned on whole hours for ``step_s=3600``). A window is ``window_s // step_s`` consecutive
panes: tumbling windows when ``step_s == window_s`` (the default), sliding ones when ``step_s``
is smaller (``window_s`` must be a multiple of it). A slice counts in the pane holding its
``start``; a pane's profile is the merge of its slices in the order they arrived, and a window's
the merge of its panes, oldest first. (Choose a window length that is a multiple of the server's
slice length, so that no slice straddles two windows.)

A window is evaluated once, when it closes: when the *watermark* (the latest slice ``end`` seen,
or a time given to :meth:`advance`) reaches its end plus ``grace_s``. Slices and labels for a
window already evaluated are late: they are dropped and counted (``stats()["late"]``); raise
``grace_s`` to wait for labels that arrive after their window. Windows with no data are not
evaluated.

Evaluating a window (on the monitor's own thread unless ``background=False``): drift of each
feature against the reference (``seawall.drift.compare(reference, window_profile)`` with the
monitor's ``methods``, ``thresholds`` and ``drift_share``; a feature without values on a side
gets compare's ``status="no_data"``, one compare cannot take ``status="error"``, and neither
counts in the share), the share of drifted features, the share of missing values per feature,
the prediction distribution, the quality metrics; then the history row (in the registry's
database, when there is a registry), the alert rules, the sinks.

Cost to the caller
------------------
``add_slice``, ``add_labels``, ``log_quality`` and ``advance`` check their arguments and put
one item on a bounded queue (``max_pending``); they never wait. When the queue is full (the
evaluation thread is behind) the item is dropped, counted (``stats()["dropped"]``) and logged,
so a slow database or drift computation can never slow or stop serving.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import (
    InvalidInputError,
    MissingColumnError,
    MissingReferenceError,
    NotFoundError,
    QueueFullError,
)
from ..profiles import Profile
from ..serving.figures import ArmFigures
from ._report import (
    FeatureDrift,
    QualityCounts,
    WindowReport,
    drift_of,
    label_counts,
    summarize_predictions,
)
from ._store import History, HistoryStore
from .rules import Alert, AlertBook, Rule, event_payload, open_by_rule
from .sinks import Sink

__all__ = ["Monitor"]

log = logging.getLogger("seawall.monitoring")

_TASKS = ("classification", "regression")


@dataclass
class _Pane:
    features: Profile | None = None
    predictions: Profile | None = None
    slices: int = 0
    quality: QualityCounts = field(default_factory=QualityCounts)
    arms: dict[str, ArmFigures] = field(default_factory=dict)


@dataclass(frozen=True)
class _Slice:
    start: float
    end: float
    features: Profile
    predictions: Profile | None


@dataclass(frozen=True)
class _Quality:
    time: float
    counts: QualityCounts


@dataclass(frozen=True)
class _Arms:
    time: float
    figures: dict[str, ArmFigures]


@dataclass(frozen=True)
class _Advance:
    time: float


@dataclass(frozen=True)
class _Reference:
    profile: Profile
    version: str | None
    predictions: Profile | None


@dataclass(frozen=True)
class _Marker:
    done: threading.Event
    stop: bool = False


def _time(value: Any, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{label} must be seconds since the epoch, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidInputError(f"{label} must be finite, got {value}")
    return value


def _positive(value: Any, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidInputError(f"{label} must be a positive number of seconds, got {value!r}")
    if not math.isfinite(value):
        raise InvalidInputError(f"{label} must be finite, got {value}")
    return float(value)


class Monitor:
    """Drift and quality of one model's traffic, window by window (module docstring).

    ``model`` names the model (as in the registry). The reference is ``reference`` (a Profile
    of the training data), else the reference profile registered with the version: ``version``
    (a number or alias; default the latest) of ``model`` in ``registry``. Without either, or
    when the version was registered without a profile, :class:`MissingReferenceError`.

    ``registry`` (a :class:`seawall.Registry`) also keeps the history: each evaluated window
    (with its merged profiles unless ``store_profiles=False``) and each alert. Without it the
    history is the newest ``history_size`` windows in memory. ``columns`` are the features to
    watch (default: every column of the reference); ``methods``, ``thresholds`` and
    ``drift_share`` are passed to :func:`seawall.drift.compare`. ``reference_predictions``, a
    Profile of the model's outputs on reference data, adds the drift of the predictions (columns
    named ``prediction:<output>``).

    ``task`` ("classification" or "regression") says which quality metrics ``add_labels``
    computes; ``positive_label`` is the class precision, recall and F1 are about.
    ``rules`` (:class:`Rule`) are checked on each window; their alerts go to ``sinks``
    (:class:`WebhookSink`, :class:`CallbackSink`, or anything with ``send(event)``).
    """

    def __init__(
        self,
        model: str,
        reference: Profile | None = None,
        *,
        registry: Any = None,
        version: int | str | None = None,
        window_s: float = 3600.0,
        step_s: float | None = None,
        grace_s: float = 0.0,
        origin: float = 0.0,
        columns: Sequence[str] | None = None,
        methods: Mapping[str, str] | None = None,
        thresholds: Mapping[str, float] | None = None,
        drift_share: float = 0.5,
        reference_predictions: Profile | None = None,
        task: str | None = None,
        positive_label: Any = 1,
        rules: Iterable[Rule] = (),
        sinks: Iterable[Sink] = (),
        store_profiles: bool = True,
        history_size: int = 1000,
        max_pending: int = 1024,
        background: bool = True,
    ) -> None:
        if not isinstance(model, str) or not 1 <= len(model) <= 128:
            raise InvalidInputError(f"model must be a name of 1 to 128 characters, got {model!r}")
        self.model = model
        self.window_s = _positive(window_s, "window_s")
        self.step_s = self.window_s if step_s is None else _positive(step_s, "step_s")
        ratio = self.window_s / self.step_s
        if self.step_s > self.window_s or abs(ratio - round(ratio)) > 1e-9:
            raise InvalidInputError(
                f"window_s ({window_s}) must be a whole multiple of step_s ({step_s}): a window "
                "is made of whole steps"
            )
        self._panes_per_window = round(ratio)
        if isinstance(grace_s, bool) or not isinstance(grace_s, (int, float)) or grace_s < 0:
            raise InvalidInputError(f"grace_s must be a non-negative number, got {grace_s!r}")
        self.grace_s = float(grace_s)
        self.origin = _time(origin, "origin")
        if task is not None and task not in _TASKS:
            raise InvalidInputError(f"task must be one of {_TASKS} or None, got {task!r}")
        self.task = task
        self.positive_label = positive_label
        if isinstance(drift_share, bool) or not isinstance(drift_share, (int, float)):
            raise InvalidInputError(f"drift_share must be a number in [0, 1], got {drift_share!r}")
        self.drift_share = float(drift_share)
        self.methods = dict(methods or {})
        self.thresholds = dict(thresholds or {})
        self.store_profiles = bool(store_profiles)
        for label, value in (("history_size", history_size), ("max_pending", max_pending)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{label} must be a positive integer, got {value!r}")
        if isinstance(registry, (str, os.PathLike)):
            from ..registry import Registry

            registry = Registry(registry)
        self.registry = registry
        self._store = HistoryStore(registry) if registry is not None else None

        profile, version_label = self._find_reference(reference, registry, version)
        if reference_predictions is not None and not isinstance(reference_predictions, Profile):
            raise InvalidInputError("reference_predictions must be a seawall Profile")
        self.columns = self._check_columns(profile, columns)
        self._reference = _Reference(profile, version_label, reference_predictions)

        self.sinks: list[Sink] = list(sinks)
        for s in self.sinks:
            if not callable(getattr(s, "send", None)):
                raise InvalidInputError(f"a sink needs a send(event) method: {s!r}")
        open_alerts: list[Alert] = []
        self._history: collections.deque[WindowReport] = collections.deque(maxlen=history_size)
        self._latest: WindowReport | None = None
        self._closed_until: int | None = None
        if self._store is not None:
            open_alerts = self._store.alerts(model, open=True)
            recent = self._store.windows(model, limit=1)
            if recent:
                self._latest = recent[-1]
                self._closed_until = math.floor((recent[-1].end - self.origin) / self.step_s)
        self._book = AlertBook(model, rules, open_alerts)
        if self._store is not None:
            stale = [a.id for a in open_alerts if a.key not in self._book.open and a.id]
            self._store.resolve_alerts(
                [i for i in stale if i is not None], "resolved: its rule is no longer monitored"
            )

        self._panes: dict[int, _Pane] = {}
        self._watermark = -math.inf
        # _lock is held only for short reads and writes of what other threads read (counters,
        # the history deque, the open alerts), never while evaluating: a caller never waits on
        # an evaluation. _work serializes processing when there is no evaluation thread.
        self._lock = threading.Lock()
        self._work = threading.RLock()
        self._stats = collections.Counter[str]()
        self._slice_columns: list[str] | None = None
        self._background = bool(background)
        self._queue: queue.Queue[Any] = queue.Queue(max_pending)
        self._closed = False
        self._thread: threading.Thread | None = None
        if self._background:
            self._thread = threading.Thread(
                target=self._run, name=f"seawall-monitor-{model}", daemon=True
            )
            self._thread.start()

    # --- reference ----------------------------------------------------------------------------

    def _find_reference(
        self, reference: Profile | None, registry: Any, version: int | str | None
    ) -> tuple[Profile, str | None]:
        if reference is not None:
            if not isinstance(reference, Profile):
                raise InvalidInputError(
                    f"reference must be a seawall Profile, got {type(reference).__name__}"
                )
            return reference, None if version is None else str(version)
        if registry is None:
            raise MissingReferenceError(
                f"monitor of {self.model!r}: give reference= (a Profile of the training data) or "
                "registry= holding a version registered with a reference profile"
            )
        # NotFoundError: no such model, version or alias
        mv = registry.get_model_version(self.model, "latest" if version is None else version)
        if mv.profile_sha256 is None:
            raise MissingReferenceError(
                f"monitor of {self.model!r}: {mv.uri} was registered without a reference "
                "profile; register it with profile=Profile.from_data(training_data), or give "
                "the monitor reference="
            )
        try:
            profile = registry.reference_profile(mv.uri)
        except NotFoundError as exc:
            raise MissingReferenceError(f"monitor of {self.model!r}: {exc}") from exc
        return profile, str(mv.version)

    def _check_columns(self, profile: Profile, columns: Sequence[str] | None) -> list[str]:
        if columns is None:
            return profile.columns
        if isinstance(columns, str):
            raise InvalidInputError("columns must be a list of column names, not a string")
        names = list(columns)
        if not names or len(set(names)) != len(names):
            raise InvalidInputError(f"columns must be distinct names, got {names}")
        present = set(profile.columns)  # (profile.columns makes a new list each time)
        missing = [c for c in names if c not in present]
        if missing:
            raise MissingColumnError(
                f"monitor of {self.model!r}: the reference profile has no column {missing[0]!r} "
                f"(it has: {', '.join(profile.columns)})"
            )
        return names

    def set_reference(
        self,
        reference: Profile,
        version: int | str | None = None,
        reference_predictions: Profile | None = None,
    ) -> None:
        """Compares the windows evaluated from now on with a new reference (after a new version
        goes live); its columns must include the monitored ones."""
        if not isinstance(reference, Profile):
            raise InvalidInputError("reference must be a seawall Profile")
        self._check_columns(reference, self.columns)
        item = _Reference(
            reference, None if version is None else str(version), reference_predictions
        )
        self._put(item, control=True)

    @property
    def version(self) -> str | None:
        """The version label of the current reference (None when given without one)."""
        return self._reference.version

    @property
    def reference(self) -> Profile:
        return self._reference.profile

    # --- what the server calls ----------------------------------------------------------------

    def add_slice(
        self,
        start: float,
        end: float,
        features: Profile | None,
        predictions: Profile | None = None,
    ) -> None:
        """One slice of traffic, ``[start, end)`` in seconds since the epoch: a Profile of the
        raw features the server received (None for a slice without traffic), and one of its
        predictions. Returns at once; raises only for arguments it cannot use. From the
        server's live profiler::

            profiler.add_callback(
                lambda s: monitor.add_slice(s.start, s.end, s.features, s.predictions)
            )
        """
        start, end = _time(start, "start"), _time(end, "end")
        if end < start:
            raise InvalidInputError(f"a slice ends ({end}) before it starts ({start})")
        if features is None:  # a slice without traffic: it only moves the watermark
            self._put(_Advance(end))
            return
        if not isinstance(features, Profile):
            raise InvalidInputError(
                f"features must be a seawall Profile, got {type(features).__name__}"
            )
        if predictions is not None and not isinstance(predictions, Profile):
            raise InvalidInputError(
                f"predictions must be a seawall Profile or None, got {type(predictions).__name__}"
            )
        seen = self._slice_columns
        columns = features.columns
        if seen is None:
            present = set(columns)
            missing = [c for c in self.columns if c not in present]
            if missing:
                raise MissingColumnError(
                    f"monitor of {self.model!r}: the slice's features have no column "
                    f"{missing[0]!r} (it has: {', '.join(columns)})"
                )
            self._slice_columns = columns
        elif columns != seen and set(columns) != set(seen):
            raise InvalidInputError(
                f"monitor of {self.model!r}: every slice must profile the same columns; this one "
                f"has {columns}, the first had {seen}"
            )
        self._put(_Slice(start, end, features, predictions))

    def add_arms(self, start: float, end: float, arms: Mapping[str, ArmFigures]) -> None:
        """The figures of a traffic policy's arms (primary, canary, shadow) over ``[start,
        end)``, for the window holding `start`: its report's ``arms`` gives each arm's requests,
        errors, latency quantiles, predictions and, for a shadow, its agreement with the
        primary. The server sends them with each slice, just before it."""
        start, end = _time(start, "start"), _time(end, "end")
        if end < start:
            raise InvalidInputError(f"a slice ends ({end}) before it starts ({start})")
        if not isinstance(arms, Mapping) or not all(
            isinstance(k, str) and isinstance(v, ArmFigures) for k, v in arms.items()
        ):
            raise InvalidInputError("arms must map arm names to seawall ArmFigures")
        if arms:
            self._put(_Arms(start, dict(arms)))

    def add_labels(
        self,
        y_true: Any = None,
        y_pred: Any = None,
        time: Any = None,
        *,
        y_score: Any = None,
        arm: Any = None,
        labels: Any = None,
        payloads: Any = None,
        id_column: str = "request_id",
        label_column: str = "label",
        score: str | None = None,
        prediction: str | None = None,
    ) -> int:
        """The true outcomes of predictions made at `time` (default: now), for the quality
        metrics of the window holding `time`: accuracy, precision, recall and F1 (of
        ``positive_label``) for classification, MAE and RMSE for regression. Returns the
        number of labelled rows taken.

        ``y_score``, the predicted probability of ``positive_label`` (classification; then
        ``y_pred`` may be left out: positive above 0.5), adds the ROC AUC (left out of a window
        whose labels are all of one class) and the log-loss. ``arm`` (a name, or one per row)
        adds the same metrics per traffic arm (``WindowReport.quality_by_arm``). ``time`` may
        also give one time per row.

        Delayed labels joined to the server's payload log by request id: ``labels`` (a Parquet
        or CSV file, a pyarrow Table or a pandas DataFrame, with ``id_column`` and
        ``label_column``) and ``payloads`` (the ``PayloadLog`` folder, or a table from
        ``read_payloads``). Each labelled request of this monitor's model counts in the window
        of the time it was served, under the arm that answered it; ``score`` and ``prediction``
        name the logged outputs that are the score and the predicted class (such as
        ``"probabilities_1"`` and ``"label"``). Labels of windows already evaluated are late
        (``stats()["late"]``): raise ``grace_s`` to wait for them.
        """
        if self.task is None:
            raise InvalidInputError(
                f"monitor of {self.model!r}: set task='classification' or 'regression' to add "
                "labels"
            )
        if labels is not None or payloads is not None:
            if labels is None or payloads is None:
                raise InvalidInputError("give both labels= and payloads= to join labels")
            if y_true is not None or y_pred is not None or y_score is not None or arm is not None:
                raise InvalidInputError(
                    "give either labels= and payloads=, or y_true and y_pred (not both)"
                )
            if time is not None:
                raise InvalidInputError("joined labels count at the time each request was served")
            from .labels import join_labels, labelled_rows

            joined = join_labels(
                payloads, labels, id_column=id_column, label_column=label_column, model=self.model
            )
            y_true, y_pred, y_score, time, arm = labelled_rows(
                joined, label_column, score=score, prediction=prediction
            )
        elif y_true is None:
            raise InvalidInputError("give y_true (and y_pred or y_score), or labels and payloads")
        y = np.asarray(y_true)
        if y.ndim != 1:
            raise InvalidInputError(f"y_true must be 1-D, got shape {y.shape}")
        p = None if y_pred is None else _aligned(y_pred, y, "y_pred")
        scores = None if y_score is None else _aligned(y_score, y, "y_score")
        if p is None and (scores is None or self.task != "classification"):
            raise InvalidInputError(
                "give y_pred (or, for classification, y_score: the probability of positive_label)"
            )
        if scores is not None and self.task != "classification":
            raise InvalidInputError("y_score is for classification")
        if time is None or np.ndim(time) == 0:
            times = np.full(len(y), _now() if time is None else _time(time, "time"))
        else:
            times = _aligned(time, y, "time").astype(np.float64)
            if not np.isfinite(times).all():
                raise InvalidInputError("time must be finite seconds since the epoch")
        arms = None
        if arm is not None:
            arms = (
                np.full(len(y), arm, dtype=object)
                if isinstance(arm, str)
                else _aligned(arm, y, "arm")
            )
            if not all(isinstance(a, str) and a for a in arms):
                raise InvalidInputError("arm must be a name (a non-empty string) per row")
        if len(y) == 0:
            return 0
        # One item per pane: each row counts in the window of the time it was predicted.
        panes = np.floor((times - self.origin) / self.step_s)
        items = []  # all counted before any is queued: a bad row adds nothing
        for pane in np.unique(panes):
            rows = np.flatnonzero(panes == pane)
            counts = self._counts(y[rows], _take(p, rows), _take(scores, rows))
            if arms is not None:
                for name in np.unique(arms[rows]):
                    mine = rows[arms[rows] == name]
                    counts.arms[str(name)] = self._counts(
                        y[mine], _take(p, mine), _take(scores, mine)
                    )
            items.append(_Quality(float(times[rows[0]]), counts))
        for item in items:
            self._put(item)
        return len(y)

    def _counts(
        self, y: np.ndarray, p: np.ndarray | None, scores: np.ndarray | None
    ) -> QualityCounts:
        assert self.task is not None
        return label_counts(self.task, self.positive_label, y, p, scores)

    def log_quality(self, metric: str, value: float, time: float | None = None) -> None:
        """A quality metric computed elsewhere (an AUC from a labelling job...) for the window
        holding `time` (default: now); a window reports the mean of its points per metric."""
        if not isinstance(metric, str) or not 1 <= len(metric) <= 250:
            raise InvalidInputError(f"metric must be a name of 1 to 250 characters: {metric!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InvalidInputError(f"quality {metric!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidInputError(f"quality {metric!r} must be finite, got {value}")
        counts = QualityCounts()
        counts.logged[metric] = (float(value), 1)
        self._put(_Quality(_now() if time is None else _time(time, "time"), counts))

    def advance(self, time: float | None = None) -> None:
        """Moves the watermark to `time` (default: now), closing the windows that end by then
        (less ``grace_s``): for quiet periods when no slice comes to move it."""
        if time is None:
            when = _now()
        elif isinstance(time, (int, float)) and time == math.inf:
            when = math.inf  # evaluate every window still open
        else:
            when = _time(time, "time")
        self._put(_Advance(when))

    # --- control ------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until everything given so far was processed (windows that closed are
        evaluated, stored and alerted); False on timeout."""
        if not self._background:
            return True
        done = threading.Event()
        try:
            self._queue.put(_Marker(done), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Processes what is queued, then stops the evaluation thread. Windows still open are
        not evaluated (call ``advance(math.inf)`` first to evaluate them)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            try:
                self._queue.put(_Marker(threading.Event(), stop=True), timeout=timeout)
            except queue.Full:
                log.warning(
                    "monitor of %r: the evaluation thread is stuck; closing without it",
                    self.model,
                )
                return
            self._thread.join(timeout)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "tumbling" if self._panes_per_window == 1 else f"sliding every {self.step_s:g} s"
        return (
            f"Monitor({self.model!r}, version={self.version!r}, window_s={self.window_s:g}, "
            f"{kind}, {len(self.columns)} features)"
        )

    # --- reading ------------------------------------------------------------------------------

    @property
    def latest(self) -> WindowReport | None:
        """The newest evaluated window (read back from the registry after a restart)."""
        return self._latest

    def history(
        self, since: float | None = None, until: float | None = None, limit: int | None = None
    ) -> History:
        """Evaluated windows ending in ``(since, until]``, oldest first: from the registry when
        the monitor has one (corrupt rows skipped, see ``History.skipped``), else the newest
        ``history_size`` in memory."""
        if self._store is not None:
            return self._store.windows(self.model, since=since, until=until, limit=limit)
        with self._lock:
            items = [
                w
                for w in self._history
                if (since is None or w.end > since) and (until is None or w.end <= until)
            ]
        return History(items[-limit:] if limit else items)

    def alerts(self, open: bool = True) -> list[Alert]:
        """Open (firing) alerts, oldest first; ``open=False``: the whole alert history, newest
        first (from the registry; without one, only the open alerts are kept)."""
        if open:
            with self._lock:
                return open_by_rule(dict(self._book.open))
        if self._store is None:
            raise InvalidInputError(
                "a monitor without a registry keeps only its open alerts: monitor.alerts()"
            )
        return self._store.alerts(self.model)

    @property
    def rules(self) -> list[Rule]:
        return list(self._book.rules)

    def stats(self) -> dict[str, int]:
        """Counters: slices, windows evaluated, items dropped (queue full), late items,
        evaluation errors, and items waiting now."""
        with self._lock:
            out = {
                k: int(self._stats[k])
                for k in ("slices", "windows", "dropped", "late", "errors", "alerts_fired")
            }
        out["pending"] = self._queue.qsize()
        return out

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    # --- the evaluation thread ----------------------------------------------------------------

    def _put(self, item: Any, control: bool = False) -> None:
        if self._closed:
            raise InvalidInputError(f"monitor of {self.model!r} is closed")
        if not self._background:
            with self._work:
                self._process(item)
            return
        if control:
            try:
                self._queue.put(item, timeout=60)
            except queue.Full:
                raise QueueFullError(
                    f"monitor of {self.model!r}: its evaluation thread took nothing for 60 s"
                ) from None
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._lock:
                self._stats["dropped"] += 1
                dropped = self._stats["dropped"]
            if dropped == 1 or dropped % 1000 == 0:
                log.warning(
                    "monitor of %r is %d items behind: dropped %s (%d dropped so far); serving "
                    "goes on",
                    self.model,
                    self._queue.maxsize,
                    type(item).__name__.strip("_").lower(),
                    dropped,
                )

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _Marker):
                item.done.set()
                if item.stop:
                    return
                continue
            try:
                self._process(item)
            except Exception:
                self._count("errors")
                log.exception("monitor of %r: processing %r failed", self.model, item)

    def _pane(self, t: float) -> int:
        return math.floor((t - self.origin) / self.step_s)

    def _window_bounds(self, last_pane: int) -> tuple[float, float]:
        first = last_pane - self._panes_per_window + 1
        return self.origin + first * self.step_s, self.origin + (last_pane + 1) * self.step_s

    def _accepts(self, pane: int) -> bool:
        """False when every window holding this pane was evaluated already (late data)."""
        last_window = pane + self._panes_per_window - 1
        return self._closed_until is None or last_window >= self._closed_until

    def _process(self, item: Any) -> None:
        if isinstance(item, _Slice):
            self._count("slices")
            p = self._pane(item.start)
            if not self._accepts(p):
                self._count("late")
            else:
                pane = self._panes.setdefault(p, _Pane())
                pane.features = (
                    item.features if pane.features is None else pane.features.merge(item.features)
                )
                if item.predictions is not None:
                    pane.predictions = (
                        item.predictions
                        if pane.predictions is None
                        else pane.predictions.merge(item.predictions)
                    )
                pane.slices += 1
            self._watermark = max(self._watermark, item.end)
        elif isinstance(item, _Quality):
            p = self._pane(item.time)
            if not self._accepts(p):
                self._count("late")
            else:
                self._panes.setdefault(p, _Pane()).quality.merge(item.counts)
        elif isinstance(item, _Arms):
            p = self._pane(item.time)
            if not self._accepts(p):
                self._count("late")
            else:
                pane = self._panes.setdefault(p, _Pane())
                for arm, figures in item.figures.items():
                    pane.arms.setdefault(arm, ArmFigures()).merge(figures)
        elif isinstance(item, _Advance):
            self._watermark = max(self._watermark, item.time)
        elif isinstance(item, _Reference):
            self._reference = item
            return
        self._close_windows()

    def _close_windows(self) -> None:
        m = self._panes_per_window
        while self._panes:
            first_pending = min(self._panes)
            e = (
                first_pending
                if self._closed_until is None
                else max(self._closed_until, first_pending)
            )
            start, end = self._window_bounds(e)
            if self._watermark < end + self.grace_s:
                return
            panes = [self._panes[i] for i in range(e - m + 1, e + 1) if i in self._panes]
            try:
                self._evaluate(start, end, panes)
            except Exception:
                self._count("errors")
                log.exception(
                    "monitor of %r: evaluating the window %s to %s failed", self.model, start, end
                )
            self._closed_until = e + 1
            for i in [i for i in self._panes if i <= e - m + 1]:
                del self._panes[i]

    def _evaluate(self, start: float, end: float, panes: list[_Pane]) -> None:
        features: Profile | None = None
        predictions: Profile | None = None
        quality = QualityCounts()
        slices = 0
        arms: dict[str, ArmFigures] = {}
        for pane in panes:
            for arm, figures in pane.arms.items():
                arms.setdefault(arm, ArmFigures()).merge(figures)
            if pane.features is not None:
                features = pane.features if features is None else features.merge(pane.features)
            if pane.predictions is not None:
                predictions = (
                    pane.predictions if predictions is None else predictions.merge(pane.predictions)
                )
            quality.merge(pane.quality)
            slices += pane.slices
        if features is None and quality.empty():
            return
        ref = self._reference
        drift = None
        by_feature: dict[str, FeatureDrift] = {}
        drift_share = None
        dataset_drift = None
        rows = 0
        if features is not None:
            rows = features.num_rows
            drift, by_feature = drift_of(
                ref.profile, features, self.columns, self.methods, self.thresholds, self.drift_share
            )
            if drift is not None:
                drift_share = drift.drift_share
                dataset_drift = drift.dataset_drift
        summary = summarize_predictions(predictions) if predictions is not None else {}
        if predictions is not None and ref.predictions is not None:
            outputs = [c for c in ref.predictions.columns if c in predictions.columns]
            _, prediction_drift = drift_of(
                ref.predictions, predictions, outputs, None, None, self.drift_share
            )
            for name, fd in prediction_drift.items():
                summary[name]["drift"] = fd.to_dict()
        report = WindowReport(
            model=self.model,
            version=ref.version,
            start=start,
            end=end,
            rows=rows,
            slices=slices,
            features=by_feature,
            drift_share=drift_share,
            dataset_drift=dataset_drift,
            predictions=summary,
            quality=quality.metrics(),
            labels=quality.rows,
            quality_by_arm=quality.arm_metrics(),
            labels_by_arm=quality.arm_rows(),
            drift=drift,
            profile=features,
            prediction_profile=predictions,
            arms={arm: figures.summary() for arm, figures in arms.items()},
        )
        if self._store is not None:
            try:
                report = replace(report, id=self._store.save_window(report, self.store_profiles))
            except Exception:
                self._count("errors")
                log.exception(
                    "monitor of %r: the window %s to %s could not be stored", self.model, start, end
                )
        self._count("windows")
        with self._lock:
            self._history.append(replace(report, profile=None, prediction_profile=None, drift=None))
        self._latest = report
        self._alert(report)

    def _alert(self, report: WindowReport) -> None:
        with self._lock:
            events = self._book.update(report)
        for status, alert in events:
            if self._store is not None:
                try:
                    alert_id = self._store.save_alert(alert)
                    if status == "firing":
                        with self._lock:
                            self._book.set_id(alert.key, alert_id)
                        alert = replace(alert, id=alert_id)
                except Exception:
                    self._count("errors")
                    log.exception("monitor of %r: alert %s not stored", self.model, alert.rule)
            if status == "updated":
                continue
            if status == "firing":
                self._count("alerts_fired")
            event = event_payload(status, alert, report)
            for sink in self.sinks:
                try:
                    sink.send(event)
                except Exception:
                    log.exception("monitor of %r: sink %r raised", self.model, sink)


def _now() -> float:
    return time.time()


def _aligned(values: Any, y: np.ndarray, label: str) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != y.shape:
        raise InvalidInputError(
            f"y_true and {label} must be 1-D and of one length, got {y.shape} and {array.shape}"
        )
    return array


def _take(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[rows]
