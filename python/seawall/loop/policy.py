"""When to retrain and when to promote: the policy, and the record of each decision."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..errors import InvalidInputError

Trigger = Literal["drift", "quality", "schedule", "new_data"]
Action = Literal["none", "promoted", "canary", "kept", "failed"]


def _check_optional_positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number or None, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


@dataclass(frozen=True)
class LatencyGate:
    """A load test a challenger must pass before it may become champion.

    The loop serves the challenger's bundle in-process on loopback and drives it open-loop at
    ``at_rps`` requests per second (constant arrivals, rows of its training data as inputs) for
    at most ``duration_s`` seconds (less once three measurement windows agree). It passes when
    every request got a 2xx answer and the p99 latency is at most ``p99_ms``. Latency counts from
    when each request was due, so a server that cannot keep up with ``at_rps`` fails on it too:
    its queue shows in the figures.
    """

    p99_ms: float
    at_rps: float
    duration_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("p99_ms", "at_rps", "duration_s"):
            value = getattr(self, name)
            _check_optional_positive(name, value)
            if value is None:
                raise InvalidInputError(f"{name} must be a number > 0, got None")

    def judge(self, *, p99_ms: float, sent: int, failed: int) -> tuple[bool, str]:
        """Whether a load test with these figures passes, and the sentence that says why."""
        at = f"at {self.at_rps:g} rps"
        if sent == 0 or failed:
            return False, f"latency gate: {failed} of {sent} requests failed {at}"
        if p99_ms > self.p99_ms:
            return (
                False,
                f"latency gate: p99 {p99_ms:.3g} ms {at}, over the {self.p99_ms:g} ms target",
            )
        return True, f"latency gate passed: p99 {p99_ms:.3g} ms {at} (target {self.p99_ms:g} ms)"


@dataclass(frozen=True)
class Policy:
    """The rules of the loop. Each trigger is off when None.

    - ``drift_share``: retrain when at least this share of the features drifted (the drift report
      of recent traffic against the champion's reference profile, Evidently's default methods).
    - ``quality_drop``: retrain when the champion's score on recent labelled data is this much
      worse than the score it had when it was promoted.
    - ``every_s``: retrain when the champion is older than this many seconds (a schedule).
    - ``min_new_rows``: retrain when at least this many new labelled rows have arrived.

    A retrained challenger replaces the champion only when it beats it, on the same recent
    labelled window, by more than ``margin`` (in the score's units; ``higher_is_better`` says
    which way is better).

    ``latency``: a :class:`LatencyGate` the challenger must pass first (None: no load test). A
    challenger that fails it never becomes champion (nor challenger): the loop points the
    ``rejected`` alias at it, with the measured figures as the reason.

    ``canary``: a winning challenger is not made champion by the loop: it keeps the
    ``challenger`` alias, and a server whose traffic policy follows that alias (a canary, or a
    shadow) tries it on live traffic, its ``promote_if`` rules moving ``champion`` (and its
    ``rollback_if`` rules moving ``challenger`` back). The bootstrap version then gets both
    aliases, so that such a server can start before the first challenger exists.
    """

    drift_share: float | None = 0.5
    quality_drop: float | None = None
    every_s: float | None = None
    min_new_rows: int | None = None
    margin: float = 0.0
    higher_is_better: bool = True
    latency: LatencyGate | None = None
    canary: bool = False

    def __post_init__(self) -> None:
        if self.drift_share is not None:
            _check_optional_positive("drift_share", self.drift_share)
            if self.drift_share > 1:
                raise InvalidInputError(f"drift_share must be in (0, 1], got {self.drift_share}")
        _check_optional_positive("quality_drop", self.quality_drop)
        _check_optional_positive("every_s", self.every_s)
        if self.min_new_rows is not None and (
            isinstance(self.min_new_rows, bool)
            or not isinstance(self.min_new_rows, int)
            or self.min_new_rows < 1
        ):
            raise InvalidInputError(
                f"min_new_rows must be a positive integer or None, got {self.min_new_rows!r}"
            )
        _check_optional_positive("margin", self.margin, allow_zero=True)
        if not isinstance(self.higher_is_better, bool):
            raise InvalidInputError("higher_is_better must be True or False")
        if not isinstance(self.canary, bool):
            raise InvalidInputError("canary must be True or False")
        if self.latency is not None and not isinstance(self.latency, LatencyGate):
            raise InvalidInputError(
                f"latency must be a seawall.loop.LatencyGate or None, got {self.latency!r}"
            )

    def better(self, challenger: float, champion: float) -> bool:
        """Whether `challenger` wins by more than the margin."""
        gain = challenger - champion if self.higher_is_better else champion - challenger
        return gain > self.margin

    def dropped(self, now: float, before: float) -> bool:
        """Whether the score fell by more than quality_drop."""
        if self.quality_drop is None:
            return False
        loss = before - now if self.higher_is_better else now - before
        return loss > self.quality_drop


@dataclass(frozen=True)
class Decision:
    """What one check of the loop saw and did; also recorded in the registry (``run_id``)."""

    action: Action
    """none: no trigger fired; promoted: the challenger became champion; canary: the challenger
    won and holds the ``challenger`` alias for a server's canary to promote (``Policy(canary=
    True)``); kept: a challenger was trained but did not win (or could not be evaluated); failed:
    training or evaluation raised."""
    triggers: tuple[Trigger, ...]
    reason: str
    champion: int | None = None
    """The champion's version when the check started."""
    challenger: int | None = None
    champion_score: float | None = None
    challenger_score: float | None = None
    drift_share: float | None = None
    drifted_features: tuple[str, ...] = ()
    error: str | None = None
    run_id: str | None = None
    time: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
