"""The continuous-training loop: monitor, retrain, evaluate, promote.

One :meth:`ContinuousTraining.check` looks at recent traffic (a Profile of the features the
server saw, or the raw records) and, where labels have arrived, a recent labelled window:

1. Triggers (see :class:`Policy`): drift of the traffic against the champion's reference
   profile, the champion's score falling on the labelled window, the champion's age, the count
   of new labelled rows.
2. When one fires: ``train(data, run)`` builds a bundle from the training data inside a registry
   run; the bundle is registered as the next version, with the profile of its training features
   as its reference, and gets the ``challenger`` alias.
   With a latency gate (``Policy(latency=LatencyGate(...))``) the bundle is load-tested first,
   served in-process: one that fails never gets an alias but ``rejected``.
3. Challenger and champion are scored on the same labelled window; the challenger takes the
   ``champion`` alias only when it wins by the policy's margin. The alias move carries the
   reason, so the registry's alias audit says why each promotion happened. With
   ``Policy(canary=True)`` a winner keeps the ``challenger`` alias instead, for the canary of a
   server's traffic policy to promote (or roll back) on live traffic.
4. Every check, whatever it decided, is recorded as a run of the experiment ``<model>.loop``
   (tags, metrics and the whole decision as ``decision.json``); :meth:`history` reads them back.
   The registry's ``loop.decision`` event is written with ``decision.json``, in one transaction.

A server started with ``seawall serve models:/<model>@champion`` picks the new champion up on its
own (hot swap), so promotion is all the loop has to do.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .._data import to_table
from ..errors import InvalidInputError, MissingColumnError, NotFoundError
from ..profiles import Profile
from ..registry.events import LOOP_DECISION, NewEvent
from .policy import Decision, Policy, Trigger

__all__ = ["ContinuousTraining"]

TrainFn = Callable[[pa.Table, Any], "str | Path"]
ScoreFn = Callable[[np.ndarray, Mapping[str, np.ndarray]], float]

_SCORE_TAG = "loop.score"  # the score a version had on the window that promoted it


class ContinuousTraining:
    """Ties a model in the registry to its training function and a :class:`Policy`.

    ``train(data, run)`` gets the training data (an Arrow table, label column included) and the
    registry run it trains in (log params and metrics there), and returns the path of a bundle
    (:func:`seawall.serving.save_bundle`). ``score(y_true, outputs)`` scores the bundle's outputs
    on labelled data, e.g. ``lambda y, out: roc_auc_score(y, out["proba"])``.
    """

    def __init__(
        self,
        registry: Any,
        model: str,
        *,
        train: TrainFn,
        score: ScoreFn,
        policy: Policy | None = None,
        label: str = "label",
        champion_alias: str = "champion",
        challenger_alias: str = "challenger",
        rejected_alias: str = "rejected",
        trust_code: bool = False,
    ) -> None:
        if not callable(train) or not callable(score):
            raise InvalidInputError("train and score must be callables")
        self.registry = registry
        self.model = model
        self.train = train
        self.score = score
        self.policy = policy if policy is not None else Policy()
        if not isinstance(self.policy, Policy):
            raise InvalidInputError(f"policy must be a seawall.loop.Policy, got {policy!r}")
        self.label = label
        self.champion_alias = champion_alias
        self.challenger_alias = challenger_alias
        self.rejected_alias = rejected_alias
        self.trust_code = trust_code

    # --- public ---------------------------------------------------------------------------

    def bootstrap(self, training_data: Any, labelled: Any = None) -> Decision:
        """Trains the first version and makes it champion (there must be no champion yet)."""
        if self._champion() is not None:
            raise InvalidInputError(
                f"model {self.model!r} already has a {self.champion_alias!r}: use check()"
            )
        started = time.time()
        try:
            version = self._train_version(self._table(training_data, "training_data"))
            score = None
            if labelled is not None:
                score = self._score_version(version, self._table(labelled, "labelled"))
            self._promote(version, score, "first version (bootstrap)")
            if self.policy.canary:  # a canary following the challenger alias has a version
                self.registry.set_alias(
                    self.model, self.challenger_alias, version, reason="first version (bootstrap)"
                )
        except Exception as exc:
            return self._record(
                Decision("failed", (), "training the first version failed", error=_error(exc)),
                started,
            )
        decision = Decision(
            "promoted", (), "first version (bootstrap)", challenger=version, challenger_score=score
        )
        return self._record(decision, started)

    def check(
        self,
        traffic: Any = None,
        *,
        labelled: Any = None,
        training_data: Any = None,
        new_rows: int = 0,
        now: float | None = None,
    ) -> Decision:
        """Evaluates the triggers and, when one fires, retrains and maybe promotes.

        ``traffic``: recent inputs, as a :class:`seawall.Profile` (what the server keeps) or raw
        records. ``labelled``: recent records with the label column, for the quality trigger and
        for scoring challenger against champion. ``training_data``: what to train on when a
        trigger fires (a table, or a callable returning one, called only then); default: the
        labelled window. ``new_rows``: labelled rows arrived since the champion was trained.
        """
        started = time.time()
        now = started if now is None else now
        champion = self._champion()
        if champion is None:
            raise NotFoundError(
                f"model {self.model!r} has no {self.champion_alias!r}: call bootstrap() first"
            )
        window = self._table(labelled, "labelled") if labelled is not None else None
        triggers: list[Trigger] = []
        details: dict[str, Any] = {}
        drift_share, drifted = self._drift(champion, traffic, details)
        if drift_share is not None and self.policy.drift_share is not None:
            if drift_share >= self.policy.drift_share:
                triggers.append("drift")
        champion_score = None
        if window is not None:
            champion_score = self._score_version(champion.version, window)
            before = champion.tags.get(_SCORE_TAG)
            if before is not None and self.policy.dropped(champion_score, float(before)):
                triggers.append("quality")
                details["promoted_score"] = float(before)
        if self.policy.every_s is not None and now - champion.created_at >= self.policy.every_s:
            triggers.append("schedule")
        if self.policy.min_new_rows is not None and new_rows >= self.policy.min_new_rows:
            triggers.append("new_data")
        base = Decision(
            "none",
            tuple(triggers),
            "no trigger fired",
            champion=champion.version,
            champion_score=champion_score,
            drift_share=drift_share,
            drifted_features=tuple(drifted),
            details=details,
        )
        if not triggers:
            return self._record(base, started)
        return self._record(self._retrain(base, window, training_data), started)

    def history(self, max_results: int = 100) -> list[Decision]:
        """The recorded decisions, newest first."""
        runs = self.registry.search_runs(self._decisions_experiment, max_results=max_results)
        out = []
        for run in runs:
            d = json.loads(run.read_artifact("decision.json"))
            d["triggers"] = tuple(d["triggers"])
            d["drifted_features"] = tuple(d["drifted_features"])
            out.append(Decision(**d))
        return out

    # --- steps ----------------------------------------------------------------------------

    def _retrain(self, base: Decision, window: pa.Table | None, training_data: Any) -> Decision:
        fired = ", ".join(base.triggers)
        try:
            data = training_data() if callable(training_data) else training_data
            if data is None:
                data = window
            if data is None:
                raise InvalidInputError(
                    "a trigger fired but there is nothing to train on: pass training_data= or "
                    "labelled="
                )
            table = self._table(data, "training_data")
            version = self._train_version(table)
        except Exception as exc:
            return replace(
                base, action="failed", reason=f"{fired}: training failed", error=_error(exc)
            )
        gate = ""  # the latency gate's verdict, added to the alias moves' reasons
        if self.policy.latency is not None:
            try:
                figures = self._latency_gate(version, table.drop_columns([self.label]))
            except Exception as exc:
                return replace(
                    base,
                    action="failed",
                    challenger=version,
                    reason=f"{fired}: the latency gate could not load-test challenger {version}",
                    error=_error(exc),
                )
            base = replace(base, details={**base.details, "latency": figures})
            if not figures["passed"]:
                self.registry.set_alias(
                    self.model,
                    self.rejected_alias,
                    version,
                    reason=f"loop: {figures['reason']}; not promoted",
                )
                return replace(
                    base,
                    action="kept",
                    challenger=version,
                    reason=f"{fired}: challenger {version} failed the {figures['reason']}",
                )
            gate = f"; {figures['reason']}"
        self.registry.set_alias(
            self.model, self.challenger_alias, version, reason=f"loop: retrained on {fired}{gate}"
        )
        if window is None or base.champion_score is None:
            return replace(
                base,
                action="kept",
                challenger=version,
                reason=f"{fired}: challenger {version} trained; no labelled window to compare on",
            )
        try:
            score = self._score_version(version, window)
        except Exception as exc:
            return replace(
                base,
                action="failed",
                challenger=version,
                reason=f"{fired}: scoring the challenger failed",
                error=_error(exc),
            )
        versus = f"challenger {version} scored {score:.6g}, champion {base.champion_score:.6g}"
        if not self.policy.better(score, base.champion_score):
            return replace(
                base,
                action="kept",
                challenger=version,
                challenger_score=score,
                reason=f"{fired}: {versus}; margin {self.policy.margin:g} not beaten",
            )
        if self.policy.canary:  # the challenger alias is set: a server's canary promotes it
            if score is not None:
                self.registry.set_version_tag(self.model, version, _SCORE_TAG, repr(score))
            return replace(
                base,
                action="canary",
                challenger=version,
                challenger_score=score,
                reason=f"{fired}: {versus}; the canary decides",
            )
        self._promote(version, score, f"loop: {fired}; {versus}{gate}")
        return replace(
            base,
            action="promoted",
            challenger=version,
            challenger_score=score,
            reason=f"{fired}: {versus}",
        )

    def _drift(
        self, champion: Any, traffic: Any, details: dict[str, Any]
    ) -> tuple[float | None, list[str]]:
        if traffic is None or self.policy.drift_share is None:
            return None, []
        from ..drift import compare

        reference = self.registry.reference_profile(champion.uri)
        if reference is None:
            raise NotFoundError(
                f"{champion.uri} has no reference profile: register it with profile= to monitor "
                "drift"
            )
        table = None if isinstance(traffic, Profile) else self._table(traffic, "traffic")
        present = traffic.columns if table is None else table.column_names
        columns = [c for c in reference.columns if c in present and c != self.label]
        if not columns:
            raise MissingColumnError(
                "the traffic has none of the columns of the champion's reference profile "
                f"({', '.join(reference.columns)})"
            )
        if table is not None:
            traffic = Profile.from_data(table.select(columns))
        report = compare(reference, traffic, columns)
        details["drift"] = {c.column: c.statistic for c in report.columns}
        return report.drift_share, [c.column for c in report.columns if c.drifted]

    def _train_version(self, data: pa.Table) -> int:
        if self.label not in data.column_names:
            raise MissingColumnError(f"the training data has no label column {self.label!r}")
        features = data.drop_columns([self.label])
        with self.registry.start_run(
            experiment=f"{self.model}.training", params={"rows": data.num_rows}
        ) as run:
            reference = Profile.from_data(features)
            run.log_input(features, name="training", context="training", profile=reference)
            bundle = self.train(data, run)
            if not isinstance(bundle, (str, Path)):
                raise InvalidInputError(
                    f"train must return the path of a bundle, got {type(bundle).__name__}"
                )
            mv = self.registry.register_model(self.model, bundle, run=run, profile=reference)
        return int(mv.version)

    def _score_version(self, version: int, window: pa.Table) -> float:
        if self.label not in window.column_names:
            raise MissingColumnError(f"the labelled window has no label column {self.label!r}")
        from ..serving import load_bundle

        bundle = load_bundle(
            self.registry.bundle_path(f"models:/{self.model}/{version}"),
            trust_code=self.trust_code,
        )
        y = window.column(self.label).to_numpy(zero_copy_only=False)
        value = float(self.score(y, bundle.predict(window.drop_columns([self.label]))))
        if not np.isfinite(value):
            raise InvalidInputError(f"score returned {value} for version {version}")
        return value

    def _latency_gate(self, version: int, rows: pa.Table) -> dict[str, Any]:
        """Load-tests `version` served in-process (see :class:`LatencyGate`) with `rows` as
        inputs; the figures, the verdict and its reason. The verdict is also a tag of the
        version (``loop.latency``), for whatever decides on it later (a canary)."""
        from ..bench import load_test_bundle

        gate = self.policy.latency
        assert gate is not None
        result = load_test_bundle(
            self.registry.bundle_path(f"models:/{self.model}/{version}"),
            rps=gate.at_rps,
            duration_s=gate.duration_s,
            rows=rows.slice(0, 256),
            trust_code=self.trust_code,
        )
        p99 = result.latency_ms["p99"]
        passed, reason = gate.judge(p99_ms=p99, sent=result.sent, failed=result.failed)
        self.registry.set_version_tag(
            self.model, version, "loop.latency", f"{'passed' if passed else 'failed'}: {reason}"
        )
        return {
            "passed": passed,
            "reason": reason,
            "p99_ms": p99,
            "p50_ms": result.latency_ms["p50"],
            "target_p99_ms": gate.p99_ms,
            "at_rps": gate.at_rps,
            "throughput": result.throughput,
            "sent": result.sent,
            "failed": result.failed,
            "stable": result.stable,
            "seconds": result.seconds,
        }

    def _promote(self, version: int, score: float | None, reason: str) -> None:
        if score is not None:
            self.registry.set_version_tag(self.model, version, _SCORE_TAG, repr(score))
        self.registry.set_alias(self.model, self.champion_alias, version, reason=reason)

    # --- helpers --------------------------------------------------------------------------

    @property
    def _decisions_experiment(self) -> str:
        return f"{self.model}.loop"

    def _champion(self) -> Any:
        try:
            return self.registry.resolve(f"models:/{self.model}@{self.champion_alias}")
        except NotFoundError:
            return None

    def _table(self, data: Any, what: str) -> pa.Table:
        table = to_table(data)
        if table.num_rows == 0:
            raise InvalidInputError(f"{what} has no rows")
        return table

    def _record(self, decision: Decision, started: float) -> Decision:
        decision = replace(decision, time=started)
        with self.registry.start_run(experiment=self._decisions_experiment) as run:
            run.set_tags(
                {
                    "loop.action": decision.action,
                    "loop.triggers": ",".join(decision.triggers) or "-",
                    "loop.reason": decision.reason[:4000],
                }
            )
            metrics = {
                k: v
                for k, v in (
                    ("champion_score", decision.champion_score),
                    ("challenger_score", decision.challenger_score),
                    ("drift_share", decision.drift_share),
                )
                if v is not None
            }
            latency = decision.details.get("latency")
            if latency is not None:
                run.set_tags({"loop.latency": "passed" if latency["passed"] else "failed"})
                for key in ("p99_ms", "p50_ms", "throughput", "failed"):
                    metrics[f"latency_{key}"] = float(latency[key])
            if metrics:
                run.log_metrics(metrics)
            decision = replace(decision, run_id=run.id)
            record = decision.to_dict()
            # The decision's event commits with its record, or neither does.
            event = NewEvent(
                LOOP_DECISION,
                f"models/{self.model}/decisions/{run.id}",
                f"{LOOP_DECISION}:{run.id}",
                {"model": self.model, **record},
            )
            run.log_text(json.dumps(record, default=float), "decision.json", event=event)
        return decision


def _error(exc: BaseException) -> str:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return last[:2000]
