"""An :class:`Evaluation`: overall and per-slice metrics, fairness and explanations of one
model on one set of labelled rows. It shows itself in a notebook (``_repr_html_``), saves as
one self-contained HTML file, and dumps to JSON and back."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from .._files import write_atomic
from ..errors import InvalidInputError, MissingColumnError
from .explain import FeatureImportance, Importance, PartialDependence
from .fairness import Fairness, GroupRates
from .results import CalibrationBin, Curve, MetricValue, SliceResult
from .slices import slicing_name

__all__ = ["FORMAT", "Evaluation"]

#: The JSON document's format name and version.
FORMAT = {"name": "seawall.Evaluation", "version": 1}


@dataclass
class Evaluation:
    """The result of :func:`seawall.evaluate`.

    ``overall`` holds the metrics on every row; ``slices`` maps each slicing's name ("country",
    "country x channel", "amount (5 buckets)") to one :class:`SliceResult` per slice;
    ``fairness`` maps each sensitive column to its :class:`Fairness`; ``importance`` and
    ``partial_dependence`` are there when asked for. ``options`` records how it was computed
    (threshold, bootstrap resamples, confidence, seed...), so the same call gives the same numbers.
    """

    task: str
    metrics: list[str]
    rows: int
    overall: SliceResult
    slices: dict[str, list[SliceResult]] = field(default_factory=dict)
    fairness: dict[str, Fairness] = field(default_factory=dict)
    importance: Importance | None = None
    partial_dependence: list[PartialDependence] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] | None = None

    def __getitem__(self, metric: str) -> MetricValue:
        """The overall value of `metric`."""
        return self.overall[metric]

    def slice(self, slicing: Any) -> list[SliceResult]:
        """The slices of one slicing, by its name or by the spec given to evaluate()."""
        name = slicing if isinstance(slicing, str) and slicing in self.slices else None
        if name is None:
            try:
                name = slicing_name(tuple(slicing) if isinstance(slicing, list) else slicing)
            except TypeError:
                name = str(slicing)
        if name not in self.slices:
            raise MissingColumnError(
                f"no slicing {slicing!r} (there are: {', '.join(self.slices) or 'none'})"
            )
        return self.slices[name]

    # --- output ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": dict(FORMAT),
            "task": self.task,
            "metrics": list(self.metrics),
            "rows": self.rows,
            "model": self.model,
            "options": self.options,
            "overall": self.overall.to_dict(),
            "slices": {k: [s.to_dict() for s in v] for k, v in self.slices.items()},
            "fairness": {k: f.to_dict() for k, f in self.fairness.items()},
            "importance": self.importance.to_dict() if self.importance is not None else None,
            "partial_dependence": [p.to_dict() for p in self.partial_dependence],
        }

    def to_json(self, indent: int | None = None) -> str:
        """The evaluation as JSON (no NaN: undefined values are null, with their reason)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def save_json(self, path: str | os.PathLike[str]) -> None:
        write_atomic(path, self.to_json(indent=1).encode("utf-8"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evaluation:
        """The evaluation a :meth:`to_dict` (or parsed :meth:`to_json`) gave."""
        fmt = d.get("format") if isinstance(d, dict) else None
        if not isinstance(fmt, dict) or fmt.get("name") != FORMAT["name"]:
            raise InvalidInputError("this is not a seawall Evaluation document")
        if fmt.get("version") != FORMAT["version"]:
            from ..errors import UnsupportedVersionError

            raise UnsupportedVersionError(
                f"Evaluation format version {fmt.get('version')!r}; this seawall reads {FORMAT['version']}"
            )
        importance = d.get("importance")
        return cls(
            task=d["task"],
            metrics=list(d["metrics"]),
            rows=int(d["rows"]),
            overall=_slice_from(d["overall"]),
            slices={k: [_slice_from(s) for s in v] for k, v in d.get("slices", {}).items()},
            fairness={k: _fairness_from(f) for k, f in d.get("fairness", {}).items()},
            importance=_importance_from(importance) if importance else None,
            partial_dependence=[
                PartialDependence(p["feature"], p["kind"], p["grid"], p["average"])
                for p in d.get("partial_dependence", [])
            ],
            options=dict(d.get("options", {})),
            model=d.get("model"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Evaluation:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"not JSON: {exc}") from exc
        return cls.from_dict(document)

    def to_html(self) -> str:
        """One self-contained page: tables and inline SVG plots, no scripts, no network."""
        from ._html import render

        return render(self, full_page=True)

    def _repr_html_(self) -> str:
        from ._html import render

        return render(self, full_page=False)

    def save_html(self, path: str | os.PathLike[str]) -> None:
        """Writes :meth:`to_html` to `path` atomically (a temporary file, then a rename)."""
        write_atomic(path, self.to_html().encode("utf-8"))

    def summary(self) -> str:
        lines = [f"{self.task} evaluation of {self.rows:,} rows"]
        for name, value in self.overall.metrics.items():
            lines.append(f"  {name}: {value}")
        for slicing, results in self.slices.items():
            lines.append(f"  by {slicing}: {len(results)} slices")
        for column, f in self.fairness.items():
            lines.append(
                f"  fairness by {column}: demographic parity difference "
                f"{_text(f.demographic_parity_difference)}, equalized odds difference "
                f"{_text(f.equalized_odds_difference)}"
            )
        if self.importance is not None:
            top = ", ".join(f"{f.feature} {f.mean:.3g}" for f in self.importance.features[:5])
            lines.append(f"  permutation importance ({self.importance.metric}): {top}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={v.value:.4g}" for k, v in self.overall.metrics.items() if v.value is not None
        )
        return f"Evaluation({self.task}, {self.rows:,} rows: {shown}; {len(self.slices)} slicings)"


def _text(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.4g}"


def _key_from(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _slice_from(d: dict[str, Any]) -> SliceResult:
    metrics = {
        name: MetricValue(
            name,
            m["value"],
            int(m["count"]),
            low=m.get("low"),
            high=m.get("high"),
            resamples=int(m.get("resamples", 0)),
            reason=m.get("reason"),
        )
        for name, m in d["metrics"].items()
    }
    result = SliceResult(d["slicing"], _key_from(d["key"]), d["label"], int(d["count"]), metrics)
    result.status = d.get("status", "ok")
    result.positives = d.get("positives")
    result.confusion = d.get("confusion")
    if d.get("calibration") is not None:
        result.calibration = [CalibrationBin(**b) for b in d["calibration"]]
    result.class_roc_auc = d.get("class_roc_auc")
    for which in ("roc", "pr"):
        c = d.get(which)
        if c is not None:
            threshold = [float("inf") if t is None else t for t in c["threshold"]]
            setattr(result, which, Curve(c["x"], c["y"], threshold))
    return result


def _fairness_from(d: dict[str, Any]) -> Fairness:
    groups = [GroupRates(**{**g, "group": _key_from(g["group"])}) for g in d["groups"]]
    return Fairness(
        d["sensitive"],
        d["threshold"],
        groups,
        d["demographic_parity_difference"],
        d["demographic_parity_ratio"],
        d["equal_opportunity_difference"],
        d["equal_opportunity_ratio"],
        d["equalized_odds_difference"],
        d["equalized_odds_ratio"],
        undefined=d.get("undefined", {}),
    )


def _importance_from(d: dict[str, Any]) -> Importance:
    return Importance(
        d["metric"],
        d["baseline"],
        d["n_repeats"],
        d.get("random_state"),
        [FeatureImportance(**f) for f in d["features"]],
    )
