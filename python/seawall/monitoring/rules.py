"""Alert rules and alerts: a rule looks at each evaluated window, an alert is one rule firing for
one subject (a feature, a quality metric, or the model as a whole).

Deduplication: while an alert is firing, the same rule and subject breaching again does not
fire again (its value is updated); it resolves, and the sinks hear a ``"resolved"`` event, on
the first window where its condition is evaluated and clear. A window where the condition
cannot be evaluated (no labels for a quality rule, a feature with no values) changes nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..errors import InvalidInputError
from ._report import WindowReport

__all__ = ["SEVERITIES", "Alert", "Rule"]

SEVERITIES = ("info", "warning", "critical")
Kind = Literal["drift_score", "drifted", "drift_share", "quality", "missing", "no_data"]
State = Literal["firing", "resolved"]


@dataclass(frozen=True)
class Rule:
    """A condition on each window; build one with the class methods::

        Rule.drifted("*")                          # a feature's drift test says drifted
        Rule.drift_score("amount", above=0.2)      # distance methods: the statistic
        Rule.drift_score("age", below=0.01)        # test methods: the p-value
        Rule.drift_share(above=0.5)                # share of drifted features
        Rule.quality("accuracy", below=0.8)        # from add_labels / log_quality
        Rule.quality("auc", below=0.8, arm="canary")   # of one traffic arm's labelled rows
        Rule.missing("*", above=0.1)               # share of null or NaN values
        Rule.no_data("*")                          # no values to compare (see FeatureDrift)

    ``"*"`` applies the rule to every feature, one alert per feature. ``above`` and ``below``
    are strict (a value equal to the threshold does not breach). ``name`` identifies the rule
    (unique in a monitor; the default describes the condition); ``severity`` is ``"info"``,
    ``"warning"`` or ``"critical"``.
    """

    kind: Kind
    subject: str | None
    op: Literal["above", "below"]
    threshold: float
    name: str
    severity: str = "warning"
    arm: str | None = None  # quality rules: one traffic arm's metric (None: all rows)

    # --- building -----------------------------------------------------------------------------

    @classmethod
    def drift_score(
        cls,
        feature: str = "*",
        *,
        above: float | None = None,
        below: float | None = None,
        name: str | None = None,
        severity: str = "warning",
    ) -> Rule:
        """A feature's drift score (the p-value for tests, else the statistic) passes a bound."""
        op, value = _bound(above, below)
        return cls._make("drift_score", _feature(feature), op, value, name, severity)

    @classmethod
    def drifted(
        cls, feature: str = "*", *, name: str | None = None, severity: str = "warning"
    ) -> Rule:
        """A feature's drift method says it drifted (the method's own threshold)."""
        return cls._make("drifted", _feature(feature), "above", 0.5, name, severity)

    @classmethod
    def drift_share(
        cls, *, above: float, name: str | None = None, severity: str = "warning"
    ) -> Rule:
        """The share of drifted features is above a bound (0 to 1)."""
        op, value = _bound(above, None)
        if not 0 <= value <= 1:
            raise InvalidInputError(f"a drift share bound must be in [0, 1], got {value}")
        return cls._make("drift_share", None, op, value, name, severity)

    @classmethod
    def quality(
        cls,
        metric: str,
        *,
        below: float | None = None,
        above: float | None = None,
        name: str | None = None,
        severity: str = "warning",
        arm: str | None = None,
    ) -> Rule:
        """A quality metric (accuracy, f1, auc, log_loss, rmse, or one logged with
        ``log_quality``) passes a bound: ``below=`` for scores, ``above=`` for errors. With
        ``arm``, the metric of that traffic arm's labelled rows only."""
        if not isinstance(metric, str) or not metric:
            raise InvalidInputError(f"metric must be a non-empty string, got {metric!r}")
        if arm is not None and (not isinstance(arm, str) or not arm):
            raise InvalidInputError(f"arm must be a non-empty string, got {arm!r}")
        op, value = _bound(above, below)
        if name is None and arm is not None:
            name = f"quality:{metric}@{arm} {op} {value:g}"
        rule = cls._make("quality", metric, op, value, name, severity)
        return rule if arm is None else replace(rule, arm=arm)

    @classmethod
    def missing(
        cls,
        feature: str = "*",
        *,
        above: float,
        name: str | None = None,
        severity: str = "warning",
    ) -> Rule:
        """The share of a feature's values that are missing (null or NaN) is above a bound."""
        op, value = _bound(above, None)
        if not 0 <= value <= 1:
            raise InvalidInputError(f"a missing share bound must be in [0, 1], got {value}")
        return cls._make("missing", _feature(feature), op, value, name, severity)

    @classmethod
    def no_data(
        cls, feature: str = "*", *, name: str | None = None, severity: str = "warning"
    ) -> Rule:
        """A feature cannot be compared because the window (or the reference) has no value of
        it left after dropping missing and infinite ones (``FeatureDrift.status == "no_data"``):
        a broken feed, which a drift rule cannot see. It resolves when the feature has values
        again; a feature whose comparison failed for another reason changes nothing."""
        return cls._make("no_data", _feature(feature), "above", 0.5, name, severity)

    @classmethod
    def _make(
        cls,
        kind: Kind,
        subject: str | None,
        op: Literal["above", "below"],
        value: float,
        name: str | None,
        severity: str,
    ) -> Rule:
        if severity not in SEVERITIES:
            raise InvalidInputError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        if name is None:
            if kind in ("drifted", "no_data"):
                name = f"{kind}:{subject}"
            elif subject is None:
                name = f"{kind} {op} {value:g}"
            else:
                name = f"{kind}:{subject} {op} {value:g}"
        elif not isinstance(name, str) or not 1 <= len(name) <= 250:
            raise InvalidInputError(f"a rule name is a string of 1 to 250 characters: {name!r}")
        return cls(kind, subject, op, value, name, severity)

    # --- evaluating ---------------------------------------------------------------------------

    def check(self, report: WindowReport) -> dict[str | None, tuple[float, float, bool]]:
        """Per subject this window can evaluate: (value, threshold, breached)."""
        out: dict[str | None, tuple[float, float, bool]] = {}
        if self.kind in ("drift_score", "drifted", "missing", "no_data"):
            features = (
                report.features.values()
                if self.subject == "*"
                else [f for f in report.features.values() if f.feature == self.subject]
            )
            for f in features:
                if self.kind == "missing":
                    if f.missing_share is not None:
                        out[f.feature] = self._test(f.missing_share)
                elif self.kind == "no_data":
                    if f.status != "error":
                        out[f.feature] = self._test(1.0 if f.status == "no_data" else 0.0)
                elif f.drifted is not None:
                    score = f.drift_score
                    assert score is not None and f.threshold is not None
                    if self.kind == "drifted":
                        out[f.feature] = (score, f.threshold, bool(f.drifted))
                    else:
                        out[f.feature] = self._test(score)
        elif self.kind == "drift_share":
            if report.drift_share is not None:
                out[None] = self._test(report.drift_share)
        elif self.kind == "quality":
            assert self.subject is not None
            quality = (
                report.quality if self.arm is None else report.quality_by_arm.get(self.arm, {})
            )
            value = quality.get(self.subject)
            if value is not None and math.isfinite(value):
                out[self.subject] = self._test(value)
        return out

    def _test(self, value: float) -> tuple[float, float, bool]:
        breached = value > self.threshold if self.op == "above" else value < self.threshold
        return float(value), self.threshold, bool(breached)

    def describe(self, subject: str | None, value: float, threshold: float) -> str:
        if self.kind == "drifted":
            return f"feature {subject!r} drifted (drift score {value:.4g}, threshold {threshold:g})"
        if self.kind == "no_data":
            if value > threshold:
                return f"feature {subject!r} has no values to compare (all missing or infinite)"
            return f"feature {subject!r} has values to compare"
        what = {
            "drift_score": f"drift score of {subject!r}",
            "drift_share": "share of drifted features",
            "quality": f"quality metric {subject!r}"
            + (f" of arm {self.arm!r}" if self.arm is not None else ""),
            "missing": f"missing share of {subject!r}",
        }[self.kind]
        return f"{what} is {value:.4g}, {self.op} {threshold:g}"


def _feature(feature: str) -> str:
    if not isinstance(feature, str) or not feature:
        raise InvalidInputError(f"feature must be a column name or '*', got {feature!r}")
    return feature


def _bound(above: float | None, below: float | None) -> tuple[Literal["above", "below"], float]:
    if (above is None) == (below is None):
        raise InvalidInputError("give exactly one of above= and below=")
    op: Literal["above", "below"] = "above" if above is not None else "below"
    value = above if above is not None else below
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(f"{op}= must be a finite number, got {value!r}")
    return op, float(value)


@dataclass(frozen=True)
class Alert:
    """One rule firing for one subject of one model.

    ``started_at`` and ``resolved_at`` are the ends of the windows where it fired and cleared
    (event time, seconds since the epoch); ``value`` is the latest value seen while firing.
    ``id`` is the history row's (None without a registry). ``acknowledged_by`` and
    ``acknowledged_at`` say who acknowledged it in the registry (a token's principal or an OS
    login) and when (None until someone does).
    """

    model: str
    rule: str
    kind: str
    subject: str | None
    severity: str
    state: State
    value: float | None
    threshold: float
    message: str
    started_at: float
    resolved_at: float | None = None
    updated_at: float = 0.0
    id: int | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.rule, self.subject)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "rule": self.rule,
            "kind": self.kind,
            "subject": self.subject,
            "severity": self.severity,
            "state": self.state,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "started_at": self.started_at,
            "resolved_at": self.resolved_at,
            "updated_at": self.updated_at,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
        }


class AlertBook:
    """The open alerts of one monitor, and the transitions each window causes."""

    def __init__(self, model: str, rules: Iterable[Rule], open_alerts: Iterable[Alert] = ()):
        self.model = model
        self.rules = list(rules)
        names = [r.name for r in self.rules]
        for r in self.rules:
            if not isinstance(r, Rule):
                raise InvalidInputError(f"rules must be Rule objects, got {type(r).__name__}")
        if len(set(names)) != len(names):
            raise InvalidInputError(f"rule names must be unique in a monitor: {names}")
        known = set(names)
        self.open: dict[tuple[str, str | None], Alert] = {
            a.key: a for a in open_alerts if a.rule in known
        }

    def update(self, report: WindowReport) -> list[tuple[str, Alert]]:
        """The (event, alert) pairs this window causes: "firing" for a new alert, "resolved"
        for one whose condition cleared; open alerts still breaching get their new value and
        come back as "updated" (for the history only: sinks are not told again)."""
        events: list[tuple[str, Alert]] = []
        now = time.time()
        for rule in self.rules:
            for subject, (value, threshold, breached) in rule.check(report).items():
                key = (rule.name, subject)
                current = self.open.get(key)
                if breached and current is None:
                    alert = Alert(
                        self.model,
                        rule.name,
                        rule.kind,
                        subject,
                        rule.severity,
                        "firing",
                        value,
                        threshold,
                        rule.describe(subject, value, threshold),
                        started_at=report.end,
                        updated_at=now,
                    )
                    self.open[key] = alert
                    events.append(("firing", alert))
                elif breached and current is not None:
                    alert = replace(
                        current,
                        value=value,
                        threshold=threshold,
                        message=rule.describe(subject, value, threshold),
                        updated_at=now,
                    )
                    self.open[key] = alert
                    events.append(("updated", alert))
                elif not breached and current is not None:
                    alert = replace(
                        current,
                        state="resolved",
                        value=value,
                        message=f"resolved: {rule.describe(subject, value, threshold)}",
                        resolved_at=report.end,
                        updated_at=now,
                    )
                    del self.open[key]
                    events.append(("resolved", alert))
        return events

    def set_id(self, key: tuple[str, str | None], alert_id: int) -> None:
        if key in self.open and self.open[key].id is None:
            self.open[key] = replace(self.open[key], id=alert_id)


def event_payload(status: str, alert: Alert, report: WindowReport) -> dict[str, Any]:
    """What the sinks receive: the status, the alert, and the window that caused it."""
    return {
        "status": status,
        "model": alert.model,
        "version": report.version,
        "alert": alert.to_dict(),
        "window": {"start": report.start, "end": report.end, "rows": report.rows},
    }


def open_by_rule(alerts: Mapping[tuple[str, str | None], Alert]) -> list[Alert]:
    return sorted(alerts.values(), key=lambda a: (a.started_at, a.rule, a.subject or ""))
