"""What the dashboard's pages read: the registry's summary (a fixed number of queries however
many models and runs there are), and the monitoring history from the monitors given to the app
or from the registry."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..monitoring import History, Monitor, WindowReport
from ..monitoring._store import HistoryStore
from ..monitoring.rules import Alert
from ..profiles import Profile

__all__ = ["Bins", "Data", "ModelRow", "distribution"]


@dataclass
class ModelRow:
    name: str
    description: str | None
    latest_version: int | None
    versions: int
    updated_at: float | None
    aliases: dict[str, int] = field(default_factory=dict)
    registered: bool = True


class Data:
    """The registry (required) and the live monitors (optional) behind one dashboard."""

    def __init__(
        self, registry: Any, monitors: Iterable[Monitor] | Callable[[], Iterable[Monitor]] | None
    ) -> None:
        self.registry = registry
        self.store = HistoryStore(registry)
        self._monitors = monitors
        self._profiles: OrderedDict[tuple[str, str], Profile | None] = OrderedDict()
        self._lock = threading.Lock()

    # --- monitors -----------------------------------------------------------------------------

    def monitors(self) -> dict[str, Monitor]:
        source = self._monitors
        if source is None:
            return {}
        items = source() if callable(source) else source
        if isinstance(items, Mapping):
            items = items.values()
        return {m.model: m for m in items}

    def windows(self, model: str, limit: int | None = None) -> History:
        monitor = self.monitors().get(model)
        if monitor is not None:
            return monitor.history(limit=limit)
        return self.store.windows(model, limit=limit)

    def window(self, model: str, window_id: int | None) -> WindowReport | None:
        """One window with its profiles: by id from the registry, or the newest (from a live
        monitor when there is one, as it keeps the newest window's profiles in memory)."""
        monitor = self.monitors().get(model)
        if window_id is None and monitor is not None and monitor.latest is not None:
            latest = monitor.latest
            if latest.profile is not None or latest.id is None:
                return latest
            window_id = latest.id
        if window_id is None:
            recent = self.store.windows(model, limit=1)
            if not recent:
                return None
            window_id = recent[-1].id
        if window_id is None:
            return None
        found = self.store.window(window_id)
        return found if found is not None and found.model == model else None

    def alerts(self, model: str | None = None, open: bool | None = True) -> list[Alert]:
        stored = self.store.alerts(model, open=open, limit=500)
        seen = {(a.model, a.rule, a.subject, a.started_at) for a in stored}
        live = []
        if open is not False:
            for m in self.monitors().values():
                if model is not None and m.model != model:
                    continue
                for a in m.alerts(open=True):
                    if (a.model, a.rule, a.subject, a.started_at) not in seen:
                        live.append(a)
        return sorted([*stored, *live], key=lambda a: a.started_at, reverse=True)

    def reference(self, model: str, version: str | None) -> Profile | None:
        """The reference profile a window was compared with: the live monitor's, else the one
        registered with the version (cached; None when there is none)."""
        monitor = self.monitors().get(model)
        if monitor is not None and (version is None or monitor.version == version):
            return monitor.reference
        if version is None:
            return None
        key = (model, version)
        with self._lock:
            if key in self._profiles:
                self._profiles.move_to_end(key)
                return self._profiles[key]
        try:
            profile = self.registry.reference_profile(f"models:/{model}/{version}")
        except Exception:
            profile = None
        with self._lock:
            self._profiles[key] = profile
            while len(self._profiles) > 32:
                self._profiles.popitem(last=False)
        return profile

    # --- the overview -------------------------------------------------------------------------

    def overview(self) -> tuple[dict[str, int], list[ModelRow]]:
        """Runs per experiment (every experiment), and a row per model (registered or
        monitored), by name."""
        summary = self.registry.summary()
        by_name = {
            m.name: ModelRow(
                m.name,
                m.description,
                m.latest_version,
                m.versions,
                m.updated_at,
                dict(m.aliases),
            )
            for m in summary.models
        }
        for name in self.monitors():
            if name not in by_name:
                by_name[name] = ModelRow(name, None, None, 0, None, registered=False)
        return dict(summary.runs_per_experiment), [by_name[n] for n in sorted(by_name)]

    def drift_summary(self, per_model: int = 30) -> dict[str, list[tuple[int, float, float]]]:
        """Per model the newest windows: (id, end, drift share or NaN), oldest first."""
        out = self.store.latest_by_model(per_model)
        for name, monitor in self.monitors().items():
            if monitor.registry is None or name not in out:
                history = monitor.history(limit=per_model)
                out[name] = [
                    (
                        w.id or 0,
                        w.end,
                        w.drift_share if w.drift_share is not None else math.nan,
                    )
                    for w in history
                ]
        return out


class Bins(NamedTuple):
    """Shares of two profiles on shared bins. ``edges`` (numbers only): the bins' edges; the
    first bin also holds what is below ``edges[0]``, and what is above ``edges[-1]`` is in a
    last bin of its own when there is any."""

    labels: list[str]
    reference: list[float]
    current: list[float]
    note: str
    edges: list[float] | None = None


def distribution(reference: Profile, current: Profile, column: str, bins: int = 20) -> Bins:
    """Both profiles' shares on shared bins: equal-width bins between the 0.5% and 99.5%
    quantiles of both sides (numbers, from the sketches' ranks) or the most frequent categories
    and "other" (strings)."""
    if reference.kind(column) != current.kind(column):
        return Bins([], [], [], "the column's kind differs between reference and window")
    rs, cs = reference.stats(column), current.stats(column)
    if not rs["count"] or not cs["count"]:
        return Bins([], [], [], "no values on one side")
    if reference.kind(column) == "numeric":
        # Equal bins between the 0.5% and 99.5% quantiles of both sides, and a bin for each
        # tail beyond them: skewed columns (amounts...) stay readable.
        lo = min(reference.quantiles(column, [0.005])[0], current.quantiles(column, [0.005])[0])
        hi = max(reference.quantiles(column, [0.995])[0], current.quantiles(column, [0.995])[0])
        full_lo = min(rs["min"], cs["min"])
        full_hi = max(rs["max"], cs["max"])
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return Bins([], [], [], "infinite values: no finite range to bin")
        if lo == hi:
            lo, hi = full_lo, full_hi
        if lo == hi:
            return Bins([f"{lo:.4g}"], [1.0], [1.0], "a single value", [lo, hi])
        edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]

        def cdf(p: Profile) -> list[float]:
            return [p.rank(column, e) for e in edges]

        ref_cdf, cur_cdf = cdf(reference), cdf(current)
        labels = [f"{edges[i]:.3g}" for i in range(bins)]
        r = [max(0.0, ref_cdf[i + 1] - ref_cdf[i]) for i in range(bins)]
        c = [max(0.0, cur_cdf[i + 1] - cur_cdf[i]) for i in range(bins)]
        r[0] += ref_cdf[0]  # values at or below the first edge
        c[0] += cur_cdf[0]
        if full_hi > hi:
            labels.append(f"> {hi:.3g}")
            r.append(max(0.0, 1 - ref_cdf[-1]))
            c.append(max(0.0, 1 - cur_cdf[-1]))
        else:
            r[-1] += max(0.0, 1 - ref_cdf[-1])
            c[-1] += max(0.0, 1 - cur_cdf[-1])
        if full_lo < lo:
            labels[0] = f"≤ {edges[1]:.3g}"
        return Bins(
            labels,
            r,
            c,
            f"{bins} equal bins over [{lo:.4g}, {hi:.4g}] (the 0.5% to 99.5% quantiles), the "
            "lowest and highest values in the end bins; shares from the profiles' sketches",
            edges,
        )
    ref_top = dict(reference.top_values(column, 64))
    cur_top = dict(current.top_values(column, 64))
    n_ref, n_cur = float(rs["count"]), float(cs["count"])
    keys = sorted(
        set(ref_top) | set(cur_top),
        key=lambda k: -(ref_top.get(k, 0) / n_ref + cur_top.get(k, 0) / n_cur),
    )[:15]
    r = [ref_top.get(k, 0) / n_ref for k in keys]
    c = [cur_top.get(k, 0) / n_cur for k in keys]
    if sum(r) < 0.9999 or sum(c) < 0.9999:
        keys.append("(other)")
        r.append(max(0.0, 1 - sum(r)))
        c.append(max(0.0, 1 - sum(c)))
    return Bins(keys, r, c, "most frequent categories (counts from the profiles' top-value lists)")
