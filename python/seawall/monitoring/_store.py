"""The monitoring history in the registry's database (tables of migration 0003): evaluated
windows with their per-feature drift, and alerts.

Reading is forgiving: a row that does not decode (details that are not JSON, a feature row with
impossible values) is skipped with a logged warning naming it, and counted in the result's
``skipped``, so one corrupt row never hides the rest of the history.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from ..errors import IntegrityError, InvalidInputError, NotFoundError, UnsupportedVersionError
from ..profiles import Profile
from ..registry._actor import current_actor
from ..registry._schema import monitor_alerts, monitor_drift, monitor_windows
from ..registry.events import (
    ALERT_ACKNOWLEDGED,
    ALERT_FIRING,
    ALERT_RESOLVED,
    NewEvent,
    write_event,
)
from ._report import FeatureDrift, WindowReport
from .rules import Alert

__all__ = ["History", "HistoryStore"]

log = logging.getLogger("seawall.monitoring")


class History(list[WindowReport]):
    """Windows, oldest first; ``skipped`` lists (row id, reason) of rows that did not decode."""

    def __init__(self, items: Iterable[WindowReport] = (), skipped: Sequence[Any] = ()) -> None:
        super().__init__(items)
        self.skipped: list[tuple[int, str]] = list(skipped)


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class HistoryStore:
    """Windows and alerts of every monitor writing to one registry (through its server, for a
    registry served over HTTP: a :class:`~seawall.monitoring._remote.RemoteHistoryStore`)."""

    def __new__(cls, registry: Any) -> HistoryStore:
        if cls is HistoryStore:
            from ..registry.remote import RemoteRegistry

            if isinstance(registry, RemoteRegistry):
                from ._remote import RemoteHistoryStore

                return super().__new__(RemoteHistoryStore)
        return super().__new__(cls)

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._db = registry._db

    # --- windows ------------------------------------------------------------------------------

    def save_window(self, report: WindowReport, store_profiles: bool = True) -> int:
        """Inserts the window (replacing one with the same model and bounds); returns its id."""
        details = json.dumps(
            {
                "format": 1,
                "slices": report.slices,
                "labels": report.labels,
                "predictions": report.predictions,
                "quality": {k: _clean(v) for k, v in report.quality.items()},
                "quality_by_arm": {
                    arm: {k: _clean(v) for k, v in metrics.items()}
                    for arm, metrics in report.quality_by_arm.items()
                },
                "labels_by_arm": report.labels_by_arm,
                "missing": {f.feature: f.missing_share for f in report.features.values()},
                "errors": {f.feature: f.error for f in report.features.values() if f.error},
                "status": {
                    f.feature: f.status for f in report.features.values() if f.status != "ok"
                },
                "order": list(report.features),
                "arms": report.arms,
            },
            allow_nan=False,
        )
        profile = report.profile.to_bytes() if store_profiles and report.profile else None
        predictions = (
            report.prediction_profile.to_bytes()
            if store_profiles and report.prediction_profile
            else None
        )
        row = {
            "model": report.model,
            "version": report.version,
            "window_start": report.start,
            "window_end": report.end,
            "rows": report.rows,
            "drift_share": report.drift_share,
            "dataset_drift": report.dataset_drift,
            "details": details,
            "profile": profile,
            "prediction_profile": predictions,
            "created_at": time.time(),
        }
        drift_rows = [
            {
                "feature": f.feature,
                "method": f.method,
                "statistic": f.statistic,
                "pvalue": f.pvalue,
                "threshold": f.threshold,
                "drifted": bool(f.drifted),
            }
            for f in report.features.values()
            if f.drifted is not None
        ]

        def tx(conn: Connection) -> int:
            existing = conn.execute(
                select(monitor_windows.c.id).where(
                    monitor_windows.c.model == report.model,
                    monitor_windows.c.window_start == report.start,
                    monitor_windows.c.window_end == report.end,
                )
            ).scalar()
            if existing is not None:
                conn.execute(delete(monitor_drift).where(monitor_drift.c.window_id == existing))
                conn.execute(
                    update(monitor_windows).where(monitor_windows.c.id == existing).values(**row)
                )
                window_id = int(existing)
            else:
                window_id = int(
                    conn.execute(
                        monitor_windows.insert().values(**row).returning(monitor_windows.c.id)
                    ).scalar_one()
                )
            if drift_rows:
                conn.execute(
                    monitor_drift.insert(), [{"window_id": window_id, **r} for r in drift_rows]
                )
            return window_id

        return self._db.write(tx)

    def windows(
        self,
        model: str,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> History:
        """The model's windows ending in ``(since, until]``, oldest first; with `limit`, the
        newest `limit` of them. Profiles are not loaded (see :meth:`profiles`)."""
        query = select(
            monitor_windows.c.id,
            monitor_windows.c.model,
            monitor_windows.c.version,
            monitor_windows.c.window_start,
            monitor_windows.c.window_end,
            monitor_windows.c.rows,
            monitor_windows.c.drift_share,
            monitor_windows.c.dataset_drift,
            monitor_windows.c.details,
        ).where(monitor_windows.c.model == model)
        if since is not None:
            query = query.where(monitor_windows.c.window_end > since)
        if until is not None:
            query = query.where(monitor_windows.c.window_end <= until)
        query = query.order_by(monitor_windows.c.window_end.desc(), monitor_windows.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            drift: dict[int, list[Any]] = {r.id: [] for r in rows}
            ids = list(drift)
            for start in range(0, len(ids), 5000):
                part = ids[start : start + 5000]
                for d in conn.execute(
                    select(monitor_drift).where(monitor_drift.c.window_id.in_(part))
                ):
                    drift[d.window_id].append(d)
        out = History()
        for r in reversed(rows):
            try:
                out.append(_window_from_row(r, drift[r.id]))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "monitoring history: window row %d of model %r (%s to %s) is corrupt and was "
                    "skipped (%s)",
                    r.id,
                    model,
                    r.window_start,
                    r.window_end,
                    reason,
                )
                out.skipped.append((int(r.id), reason))
        return out

    def window(self, window_id: int) -> WindowReport | None:
        """One window by id, with its profiles (None when there is no such row, or it is
        corrupt: logged as in :meth:`windows`)."""
        with self._db.read() as conn:
            r = conn.execute(
                select(monitor_windows).where(monitor_windows.c.id == window_id)
            ).first()
            if r is None:
                return None
            drift = conn.execute(
                select(monitor_drift).where(monitor_drift.c.window_id == window_id)
            ).all()
        try:
            report = _window_from_row(r, drift)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning(
                "monitoring history: window row %d is corrupt and was skipped (%s: %s)",
                window_id,
                type(exc).__name__,
                exc,
            )
            return None
        profiles = []
        for blob, what in ((r.profile, "features"), (r.prediction_profile, "predictions")):
            profiles.append(self._profile(blob, f"the {what} profile of window {window_id}"))
        return replace(report, profile=profiles[0], prediction_profile=profiles[1])

    @staticmethod
    def _profile(blob: bytes | None, source: str) -> Profile | None:
        if blob is None:
            return None
        try:
            return Profile.from_bytes(bytes(blob), source=source)
        except (IntegrityError, UnsupportedVersionError, ValueError) as exc:
            log.warning("monitoring history: %s is unreadable and was skipped (%s)", source, exc)
            return None

    def latest_by_model(self, per_model: int = 30) -> dict[str, list[tuple[int, float, float]]]:
        """The newest `per_model` windows of every model: (id, end, drift share or NaN),
        oldest first, in one query."""
        rank = (
            func.row_number()
            .over(
                partition_by=monitor_windows.c.model,
                order_by=(monitor_windows.c.window_end.desc(), monitor_windows.c.id.desc()),
            )
            .label("rank")
        )
        inner = select(
            monitor_windows.c.id,
            monitor_windows.c.model,
            monitor_windows.c.window_end,
            monitor_windows.c.drift_share,
            rank,
        ).subquery()
        query = (
            select(inner.c.id, inner.c.model, inner.c.window_end, inner.c.drift_share)
            .where(inner.c.rank <= per_model)
            .order_by(inner.c.model, inner.c.window_end)
        )
        out: dict[str, list[tuple[int, float, float]]] = {}
        with self._db.read() as conn:
            for r in conn.execute(query):
                share = r.drift_share if r.drift_share is not None else math.nan
                out.setdefault(r.model, []).append((int(r.id), float(r.window_end), share))
        return out

    def models(self) -> list[str]:
        with self._db.read() as conn:
            return list(
                conn.execute(
                    select(monitor_windows.c.model).distinct().order_by(monitor_windows.c.model)
                ).scalars()
            )

    # --- alerts -------------------------------------------------------------------------------

    def save_alert(self, alert: Alert) -> int:
        """Inserts a new alert, or updates the row of `alert.id`; returns the id."""
        row = {
            "model": alert.model,
            "rule": alert.rule,
            "kind": alert.kind,
            "subject": alert.subject,
            "severity": alert.severity,
            "state": alert.state,
            "value": _clean(alert.value),
            "threshold": alert.threshold,
            "message": alert.message,
            "started_at": alert.started_at,
            "resolved_at": alert.resolved_at,
            "updated_at": alert.updated_at,
        }

        def tx(conn: Connection) -> int:
            if alert.id is not None:
                conn.execute(
                    update(monitor_alerts).where(monitor_alerts.c.id == alert.id).values(**row)
                )
                alert_id = alert.id
            else:
                alert_id = int(
                    conn.execute(
                        monitor_alerts.insert().values(**row).returning(monitor_alerts.c.id)
                    ).scalar_one()
                )
            write_event(conn, _alert_event(replace(alert, id=alert_id)))
            return alert_id

        return self._db.write(tx)

    def alerts(
        self, model: str | None = None, *, open: bool | None = None, limit: int | None = None
    ) -> list[Alert]:
        """Alerts, newest first: of one model or all, open (firing) or resolved or both."""
        query = select(monitor_alerts)
        if model is not None:
            query = query.where(monitor_alerts.c.model == model)
        if open is not None:
            query = query.where(monitor_alerts.c.state == ("firing" if open else "resolved"))
        query = query.order_by(monitor_alerts.c.started_at.desc(), monitor_alerts.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [_alert_from_row(r) for r in rows]

    def acknowledge_alert(self, model: str, alert_id: int) -> Alert:
        """Marks alert `alert_id` of `model` acknowledged by whom the registry acts for now (a
        token's principal through ``seawall server``, else the OS login), with an
        ``alert.acknowledged`` event in the same transaction. An alert acknowledged already
        keeps its first acknowledgement. NotFoundError when `model` has no such alert."""
        if not isinstance(model, str) or not model:
            raise InvalidInputError(f"model must be a model's name, got {model!r}")
        if isinstance(alert_id, bool) or not isinstance(alert_id, int) or alert_id < 1:
            raise InvalidInputError(
                f"alert_id must be an alert's id (a positive int), got {alert_id!r}"
            )
        actor = current_actor(self.registry)
        now = time.time()
        this = (monitor_alerts.c.id == alert_id, monitor_alerts.c.model == model)

        def tx(conn: Connection) -> Alert:
            marked = conn.execute(
                update(monitor_alerts)
                .where(*this, monitor_alerts.c.acknowledged_at.is_(None))
                .values(acknowledged_by=actor, acknowledged_at=now)
            ).rowcount
            row = conn.execute(select(monitor_alerts).where(*this)).first()
            if row is None:
                raise NotFoundError(f"model {model!r} has no alert {alert_id}")
            alert = _alert_from_row(row)
            if marked:
                write_event(
                    conn,
                    NewEvent(
                        ALERT_ACKNOWLEDGED,
                        f"models/{model}/alerts/{alert_id}",
                        f"{ALERT_ACKNOWLEDGED}:{model}:{alert_id}",
                        alert.to_dict(),
                    ),
                )
            return alert

        return self._db.write(tx)

    def resolve_alerts(self, ids: Sequence[int], note: str) -> None:
        if not ids:
            return
        now = time.time()

        def tx(conn: Connection) -> None:
            conn.execute(
                update(monitor_alerts)
                .where(monitor_alerts.c.id.in_(list(ids)))
                .values(state="resolved", resolved_at=now, updated_at=now, message=note)
            )
            rows = conn.execute(
                select(monitor_alerts)
                .where(monitor_alerts.c.id.in_(list(ids)))
                .order_by(monitor_alerts.c.id)
            ).all()
            for r in rows:
                write_event(conn, _alert_event(_alert_from_row(r)))

        self._db.write(tx)


def _alert_from_row(r: Any) -> Alert:
    return Alert(
        r.model,
        r.rule,
        r.kind,
        r.subject,
        r.severity,
        "firing" if r.state == "firing" else "resolved",
        r.value,
        r.threshold,
        r.message,
        r.started_at,
        r.resolved_at,
        r.updated_at,
        int(r.id),
        r.acknowledged_by,
        r.acknowledged_at,
    )


def _alert_event(alert: Alert) -> NewEvent:
    """The registry event of an alert that fires or resolves. Saving it again in the same state
    (its value changed while it fires) makes the same key: no new event."""
    kind = ALERT_FIRING if alert.state == "firing" else ALERT_RESOLVED
    return NewEvent(
        kind,
        f"models/{alert.model}/alerts/{alert.id}",
        f"{kind}:{alert.model}:{alert.id}:{alert.started_at!r}",
        alert.to_dict(),
    )


def _window_from_row(r: Any, drift_rows: Sequence[Any]) -> WindowReport:
    details = json.loads(r.details)
    if not isinstance(details, dict):
        raise ValueError(f"details are a JSON {type(details).__name__}, not an object")
    missing = details.get("missing", {})
    errors = details.get("errors", {})
    status = details.get("status", {})
    by_feature = {d.feature: d for d in drift_rows}
    order = list(details.get("order") or sorted(set(missing) | set(by_feature)))
    features: dict[str, FeatureDrift] = {}
    for name in order:
        d = by_feature.get(name)
        share = missing.get(name)
        if share is not None:
            share = float(share)
        if d is not None:
            for label, x in (("statistic", d.statistic), ("threshold", d.threshold)):
                if x is None or math.isnan(x):
                    raise ValueError(f"feature {name!r} has no {label}")
            features[name] = FeatureDrift(
                name,
                str(d.method),
                float(d.statistic),
                None if d.pvalue is None else float(d.pvalue),
                float(d.threshold),
                bool(d.drifted),
                share,
            )
        else:
            features[name] = FeatureDrift(
                name,
                None,
                None,
                None,
                None,
                None,
                share,
                errors.get(name),
                "no_data" if status.get(name) == "no_data" else "error",
            )
    quality = {str(k): float(v) for k, v in details.get("quality", {}).items() if v is not None}
    quality_by_arm = {
        str(arm): {str(k): float(v) for k, v in metrics.items() if v is not None}
        for arm, metrics in details.get("quality_by_arm", {}).items()
    }
    labels_by_arm = {str(arm): int(n) for arm, n in details.get("labels_by_arm", {}).items()}
    predictions = details.get("predictions", {})
    if not isinstance(predictions, dict):
        raise ValueError("predictions are not a JSON object")
    return WindowReport(
        model=r.model,
        version=r.version,
        start=float(r.window_start),
        end=float(r.window_end),
        rows=int(r.rows),
        slices=int(details.get("slices", 0)),
        features=features,
        drift_share=None if r.drift_share is None else float(r.drift_share),
        dataset_drift=None if r.dataset_drift is None else bool(r.dataset_drift),
        predictions=predictions,
        quality=quality,
        labels=int(details.get("labels", 0)),
        id=int(r.id),
        arms=_arms(details.get("arms", {})),
        quality_by_arm=quality_by_arm,
        labels_by_arm=labels_by_arm,
    )


def _arms(arms: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(arms, dict) or not all(isinstance(v, dict) for v in arms.values()):
        raise ValueError("arms are not a JSON object of objects")
    return arms
