"""Automatic rollback and promotion of a traffic policy's challenger, from rules over the arms'
figures.

A rule reads one figure of one arm over the latest evaluation window: a latency quantile
(``p50``, ``p90``, ``p99``, seconds), the error rate (``errors``: answers with a 5xx status over
requests), and for a shadow its agreement with the primary (``agreement``: share of rows of
equal class) or the mean absolute difference of its scores (``mad``). It compares the figure
with a bound, or with ``x`` times the primary's same figure over the same window::

    p99>2x          the challenger's p99 latency is over twice the primary's
    p99>250ms       ... over 250 ms (also 0.25s, or 0.25: seconds)
    errors>1%       more than 1% of its answers are errors (also 0.01, or 3x the primary's rate)
    agreement<0.9   the shadow gives the primary's class for fewer than 90% of rows
    canary.p99>2x   an explicit arm: canary or shadow

Without an arm, ``agreement`` and ``mad`` read the shadow, the others the *challenger*: the
canary, or the shadow when there is no canary.

Evaluation, every ``interval_s`` on the rollout's own thread: each arm's figures of the interval
join a short history; a rule reads the newest intervals of it that hold at least
``min_requests`` requests (compared rows for agreement, score elements for ``mad``) of its arm,
and of the primary for a relative rule; a rule without that much data is not evaluated yet.
When any rollback rule is breached, the arm it reads is rolled back: its share goes to 0 in this
server at once, and its alias is moved to the primary's version in the registry
(``Registry.set_alias``), with the rule and the figures as the reason in the alias history. When
the challenger has answered ``promote_after_requests`` requests, or ``promote_after_s`` seconds
have passed (whichever comes first), and every promotion rule holds over everything since the
rollout (re)started, the primary's alias moves to the challenger's version the same way (the
server then hot-swaps the primary to it) and the challenger's share goes to 0. After either the
rollout stops evaluating, until a new share is set (:meth:`TrafficRouter.set_share`), which
starts it again. Requests in flight during either move finish on the version they went to and
are counted there.
"""

from __future__ import annotations

import collections
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidInputError
from .figures import ArmFigures

__all__ = ["ArmRule", "RolloutEvent", "parse_after", "parse_rules"]

log = logging.getLogger("seawall.serving")

Metric = Literal["p50", "p90", "p99", "errors", "agreement", "mad"]
METRICS: tuple[str, ...] = ("p50", "p90", "p99", "errors", "agreement", "mad")
_SHADOW_METRICS = ("agreement", "mad")
_OPS = {">": "above", ">=": "at least", "<": "below", "<=": "at most"}
_RULE = re.compile(
    r"^\s*(?:(?P<arm>canary|shadow)\.)?(?P<metric>[a-z0-9_]+)\s*(?P<op>>=|<=|>|<)\s*"
    r"(?P<value>[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*(?P<unit>x|%|ms|us|s)?\s*$",
    re.IGNORECASE,
)
# Evaluation windows kept per arm: a rule reaches back at most this many intervals for data.
HISTORY = 12


@dataclass(frozen=True)
class ArmRule:
    """One condition on an arm's figures (module docstring); ``ArmRule.parse("p99>2x")``, or
    ``ArmRule("p99", ">", 2.0, relative=True)``. ``arm`` None: the default arm of the metric."""

    metric: str
    op: str
    threshold: float
    relative: bool = False
    arm: str | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise InvalidInputError(
                f"unknown rule metric {self.metric!r}: use one of {', '.join(METRICS)}"
            )
        if self.op not in _OPS:
            raise InvalidInputError(f"unknown rule comparison {self.op!r}: use >, >=, < or <=")
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, (int, float))
            or not math.isfinite(self.threshold)
            or self.threshold < 0
        ):
            raise InvalidInputError(
                f"rule {self.metric}: the bound must be a non-negative number, got "
                f"{self.threshold!r}"
            )
        if self.relative and self.metric in _SHADOW_METRICS:
            raise InvalidInputError(
                f"rule {self.metric}: a shadow's {self.metric} is already against the primary; "
                "give a bound, not a multiple (x)"
            )
        if self.arm not in (None, "canary", "shadow"):
            raise InvalidInputError(f"a rule's arm is canary or shadow, got {self.arm!r}")
        if self.arm == "canary" and self.metric in _SHADOW_METRICS:
            raise InvalidInputError(
                f"rule {self.metric}: only a shadow is compared with the primary request by "
                "request; write shadow.{self.metric}"
            )

    @classmethod
    def parse(cls, text: str) -> ArmRule:
        """A rule from its text, e.g. ``p99>2x``, ``errors>1%``, ``agreement<0.9``."""
        if not isinstance(text, str):
            raise InvalidInputError(f"a rule is text like 'p99>2x', got {text!r}")
        m = _RULE.match(text)
        if m is None:
            raise InvalidInputError(
                f"cannot read the rule {text!r}: write METRIC OP BOUND, e.g. p99>2x, "
                "p99>250ms, errors>1%, agreement<0.9 (metrics: " + ", ".join(METRICS) + ")"
            )
        metric = m["metric"].lower()
        metric = "mad" if metric == "score_mad" else metric
        value = float(m["value"])
        unit = (m["unit"] or "").lower()
        relative = unit == "x"
        if unit == "%":
            if metric not in ("errors", "agreement"):
                raise InvalidInputError(f"rule {text!r}: % applies to errors and agreement")
            value /= 100
        elif unit in ("ms", "us", "s"):
            if metric not in ("p50", "p90", "p99"):
                raise InvalidInputError(f"rule {text!r}: a time unit applies to p50, p90, p99")
            value *= {"ms": 1e-3, "us": 1e-6, "s": 1.0}[unit]
        arm = m["arm"].lower() if m["arm"] else None
        return cls(metric, m["op"], value, relative, arm)

    def arm_for(self, has_canary: bool) -> str:
        """The arm this rule reads in a policy with (or without) a canary."""
        if self.arm is not None:
            return self.arm
        if self.metric in _SHADOW_METRICS or not has_canary:
            return "shadow"
        return "canary"

    def count(self, figures: ArmFigures) -> int:
        """How much data `figures` hold for this rule."""
        if self.metric == "agreement":
            return figures.compared
        if self.metric == "mad":
            return figures.diff_n
        return figures.requests

    def value(self, figures: ArmFigures) -> float | None:
        if self.metric == "errors":
            return figures.error_rate
        if self.metric == "agreement":
            return figures.agreement
        if self.metric == "mad":
            return figures.score_mad
        return figures.quantile(int(self.metric[1:]) / 100)

    def check(self, figures: ArmFigures, primary: ArmFigures | None) -> tuple[float, float] | None:
        """(value, bound) when it breaches — the bound scaled by the primary's figure for a
        relative rule — else None. Raises nothing; call it only with enough data."""
        value = self.value(figures)
        if value is None:
            return None
        bound = self.threshold
        if self.relative:
            base = self.value(primary) if primary is not None else None
            if base is None:
                return None
            bound = self.threshold * base
        if self.holds(value, bound):
            return value, bound
        return None

    @staticmethod
    def _cmp(op: str, value: float, bound: float) -> bool:
        if op == ">":
            return value > bound
        if op == ">=":
            return value >= bound
        if op == "<":
            return value < bound
        return value <= bound

    def holds(self, value: float, bound: float) -> bool:
        return self._cmp(self.op, value, bound)

    def __str__(self) -> str:
        arm = f"{self.arm}." if self.arm else ""
        if self.relative:
            bound = f"{self.threshold:g}x"
        elif self.metric in ("errors", "agreement"):
            bound = f"{self.threshold * 100:g}%"
        elif self.metric in ("p50", "p90", "p99"):
            bound = f"{self.threshold * 1e3:g}ms"
        else:
            bound = f"{self.threshold:g}"
        return f"{arm}{self.metric}{self.op}{bound}"

    def describe(self, arm: str, value: float, bound: float) -> str:
        def fmt(x: float) -> str:
            if self.metric in ("errors", "agreement"):
                return f"{x * 100:.3g}%"
            if self.metric in ("p50", "p90", "p99"):
                return f"{x * 1e3:.3g} ms"
            return f"{x:.4g}"

        against = (
            f" ({self.threshold:g} x the primary's {fmt(bound / self.threshold)})"
            if self.relative and self.threshold
            else ""
        )
        return f"{arm} {self.metric} {fmt(value)} {_OPS[self.op]} {fmt(bound)}{against}"


def parse_rules(rules: str | ArmRule | Iterable[str | ArmRule] | None) -> tuple[ArmRule, ...]:
    """Rules from a comma-separated text (``"p99>2x,errors>1%"``), ArmRule objects, or a list
    of either."""
    if rules is None:
        return ()
    if isinstance(rules, ArmRule):
        return (rules,)
    if isinstance(rules, str):
        parts: list[str | ArmRule] = [p for p in rules.split(",") if p.strip()]
    else:
        parts = list(rules)
    out = []
    for r in parts:
        out.append(r if isinstance(r, ArmRule) else ArmRule.parse(r))
    return tuple(out)


_AFTER = re.compile(
    r"^\s*(?P<n>[0-9]*\.?[0-9]+)\s*(?P<unit>requests?|s|sec|seconds?|m|min|minutes?)?\s*$",
    re.IGNORECASE,
)


def parse_after(text: str) -> tuple[int | None, float | None]:
    """``"1000"`` or ``"1000 requests"`` -> (1000, None); ``"30s"``, ``"5m"`` -> (None, secs)."""
    m = _AFTER.match(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidInputError(
            f"cannot read {text!r} as a promotion delay: give N requests ('1000') or a time "
            "('30s', '5m')"
        )
    n = float(m["n"])
    unit = (m["unit"] or "requests").lower()
    if unit.startswith("r"):
        if n != int(n) or n < 1:
            raise InvalidInputError(f"a promotion delay in requests is a whole number: {text!r}")
        return int(n), None
    seconds = n * (60 if unit.startswith("m") else 1)
    if seconds <= 0:
        raise InvalidInputError(f"a promotion delay must be positive: {text!r}")
    return None, seconds


@dataclass
class RolloutEvent:
    """A rollback or a promotion: when (and at which evaluation), which arm, the alias moved and
    the versions, and why. ``moved`` is False while the registry could not be written (it is
    retried each interval)."""

    time: float
    evaluation: int
    action: Literal["rollback", "promotion"]
    arm: str
    alias: str | None
    from_version: str | None
    to_version: str | None
    reason: str
    moved: bool
    failures: int = 0  # refused writes of the alias so far

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "evaluation": self.evaluation,
            "action": self.action,
            "arm": self.arm,
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "reason": self.reason,
            "moved": self.moved,
            "failures": self.failures,
        }


class Rollout:
    """Evaluates one router's rollback and promotion rules every ``interval_s`` (module
    docstring). ``router`` gives the arms' figures (``take(arm)``), their shares, versions and
    aliases; ``move_alias(alias, version, reason)`` writes the registry."""

    def __init__(
        self,
        router: Any,
        *,
        rollback: Sequence[ArmRule],
        promote: Sequence[ArmRule],
        promote_after_requests: int | None,
        promote_after_s: float | None,
        interval_s: float,
        min_requests: int,
        move_alias: Callable[[str, str, str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.rollback_rules = tuple(rollback)
        self.promote_rules = tuple(promote)
        self.promote_after_requests = promote_after_requests
        self.promote_after_s = promote_after_s
        self.interval_s = interval_s
        self.min_requests = min_requests
        self.move_alias = move_alias
        self.clock = clock
        self.state: Literal["running", "rolled_back", "promoted"] = "running"
        self.evaluations = 0
        self.events: collections.deque[RolloutEvent] = collections.deque(maxlen=100)
        self.counts: collections.Counter[str] = collections.Counter()  # rollback, promotion
        self._lock = threading.RLock()
        self._history: dict[str, collections.deque[ArmFigures]] = {}
        self._since_start: dict[str, ArmFigures] = {}
        self._versions: dict[str, str | None] = {}
        self._started = clock()
        self._pending: list[RolloutEvent] = []  # alias moves still to write: retried
        self._writing = threading.Lock()  # one registry write at a time, outside _lock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seawall-rollout", daemon=True)
        self._thread.start()

    @property
    def promotes(self) -> bool:
        return bool(
            self.promote_rules
            or self.promote_after_requests is not None
            or self.promote_after_s is not None
        )

    def restart(self) -> None:
        """Starts evaluating afresh (a new share was set): figures so far are forgotten."""
        with self._lock:
            self.state = "running"
            self._history.clear()
            self._since_start.clear()
            self._started = self.clock()
            for arm in self.router.arm_names():
                self.router.take(arm)  # what was recorded before now is not this rollout's

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.evaluate_now()
            except Exception:
                log.exception(
                    "traffic of %r: evaluating the rollout rules failed", self.router.name
                )

    # --- one evaluation -----------------------------------------------------------------------

    def evaluate_now(self) -> RolloutEvent | None:
        """Takes the figures of the interval that just ended and applies the rules; returns the
        rollback or promotion it decided (None when nothing happened). The decision stops the
        arm's traffic at once; the registry is written after, outside the lock that
        :meth:`restart` (the request path's share changes) takes."""
        with self._lock:
            decided = self._evaluate()
        self._write_pending()
        return decided

    def _evaluate(self) -> RolloutEvent | None:
        self.evaluations += 1
        for arm in self.router.arm_names():
            figures = self.router.take(arm)
            if self._versions.get(arm, figures.version) != figures.version:
                # the arm serves another version now: its figures so far are another model's
                self._history.pop(arm, None)
                self._since_start.pop(arm, None)
            self._versions[arm] = figures.version
            self._history.setdefault(arm, collections.deque(maxlen=HISTORY)).append(figures)
            self._since_start.setdefault(arm, ArmFigures()).merge(figures)
        if self.state != "running":
            return None
        has_canary = self.router.has_arm("canary")
        for rule in self.rollback_rules:
            arm = rule.arm_for(has_canary)
            if not self.router.active(arm):
                continue
            span = self._recent(rule, arm)
            if span is None:
                continue
            figures, primary = span
            breach = rule.check(figures, primary)
            if breach is not None:
                return self._rollback(rule, arm, figures, *breach)
        return self._maybe_promote(has_canary)

    def _recent(self, rule: ArmRule, arm: str) -> tuple[ArmFigures, ArmFigures | None] | None:
        """The arm's (and the primary's) figures over the newest intervals holding enough data
        for `rule`, or None when the history holds too little."""
        history = self._history.get(arm)
        primary_history = self._history.get("primary")
        if not history:
            return None
        figures = ArmFigures()
        primary = ArmFigures()
        for back in range(1, len(history) + 1):
            figures.merge(history[-back])
            if primary_history is not None and back <= len(primary_history):
                primary.merge(primary_history[-back])
            enough = rule.count(figures) >= self.min_requests
            if rule.relative:
                enough = enough and rule.count(primary) >= self.min_requests
            if enough:
                return figures, primary
        return None

    def _maybe_promote(self, has_canary: bool) -> RolloutEvent | None:
        if not self.promotes:
            return None
        arm = "canary" if has_canary else "shadow"
        if not self.router.active(arm):
            return None
        run = self._since_start.get(arm)
        if run is None:
            return None
        due = (
            self.promote_after_requests is not None and run.requests >= self.promote_after_requests
        ) or (
            self.promote_after_s is not None
            and self.clock() - self._started >= self.promote_after_s
        )
        if not due:
            return None
        if run.version is None or run.version == self.router.version_of("primary"):
            return None
        primary = self._since_start.get("primary")
        held = []
        for rule in self.promote_rules:
            figures = self._since_start.get(rule.arm_for(has_canary))
            if figures is None or rule.count(figures) < self.min_requests:
                return None  # not enough data to judge yet
            if rule.relative and (primary is None or rule.count(primary) < self.min_requests):
                return None
            value = rule.value(figures)
            base = rule.value(primary) if rule.relative and primary is not None else 1.0
            if value is None or base is None:
                return None
            bound = rule.threshold * base
            if not rule.holds(value, bound):
                return None
            held.append(rule.describe(rule.arm_for(has_canary), value, bound))
        span = (
            f"after {run.requests} {arm} requests"
            if self.promote_after_requests is not None
            else f"after {self.clock() - self._started:.0f} s"
        )
        why = f"promotion of the {arm} (v{run.version}) {span}" + (
            f": {'; '.join(held)}" if held else ": no rollback rule breached"
        )
        return self._move("promotion", arm, "primary", run.version, why)

    def _rollback(
        self, rule: ArmRule, arm: str, figures: ArmFigures, value: float, bound: float
    ) -> RolloutEvent:
        why = (
            f"rollback of the {arm} (v{figures.version}): {rule} breached, "
            f"{rule.describe(arm, value, bound)} over {figures.requests} requests"
        )
        target = self.router.version_of("primary")
        return self._move("rollback", arm, arm, target, why)

    def _move(
        self,
        action: Literal["rollback", "promotion"],
        arm: str,
        alias_arm: str,
        version: str | None,
        why: str,
    ) -> RolloutEvent:
        """Stops the arm's traffic here at once; `alias_arm`'s alias is moved to `version` by
        :meth:`_write_pending`, after the evaluation."""
        self.router.stop_arm(arm)
        self.state = "rolled_back" if action == "rollback" else "promoted"
        alias = self.router.alias_of(alias_arm)
        before = self.router.version_of(alias_arm)
        event = RolloutEvent(
            time.time(), self.evaluations, action, arm, alias, before, version, why, False
        )
        self.events.append(event)
        self.counts[action] += 1
        if alias is not None and version is not None:
            self._pending.append(event)
        # a rollback is a fault someone should see; a promotion is the rollout going to plan
        level = logging.WARNING if action == "rollback" else logging.INFO
        log.log(level, "traffic of %r: %s", self.router.name, why)
        return event

    def _write_pending(self) -> None:
        """Moves the aliases decided (and those the registry refused before)."""
        with self._writing:
            with self._lock:
                pending = list(self._pending)
            for event in pending:
                assert event.alias is not None and event.to_version is not None
                try:
                    self.move_alias(event.alias, event.to_version, event.reason)
                except Exception as exc:
                    if not event.failures:
                        log.error(
                            "traffic of %r: the alias %r could not be moved to v%s (%s); "
                            "retrying every %g s",
                            self.router.name,
                            event.alias,
                            event.to_version,
                            exc,
                            self.interval_s,
                        )
                    event.failures += 1
                    continue
                if event.failures:
                    log.info(
                        "traffic of %r: moved the alias %r to v%s now",
                        self.router.name,
                        event.alias,
                        event.to_version,
                    )
                with self._lock:
                    event.moved = True
                    self._pending.remove(event)
