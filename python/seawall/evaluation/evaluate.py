"""``seawall.evaluate``: a model's metrics on labelled rows, overall and per slice, each with a
bootstrap interval, with fairness across sensitive columns and explanations when asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..bundles import Bundle
from ..errors import InvalidInputError
from . import _inputs
from .explain import partial_dependence as _partial_dependence
from .explain import permutation_importance
from .fairness import Fairness, fairness_of
from .metrics import BinarySettings, BootstrapSettings, by_group, check_settings, resolve_metrics
from .report import Evaluation
from .slices import check_specs, group_rows

__all__ = ["evaluate", "measure_fairness"]

#: Points kept of each ROC and PR curve (for the plots).
CURVE_POINTS = 200


def evaluate(
    model_or_outputs: Any,
    data: Any = None,
    labels: Any = None,
    *,
    task: str = "binary",
    slices: Sequence[Any] = (),
    metrics: Sequence[str] | None = None,
    threshold: float = 0.5,
    sensitive: Any = None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = None,
    min_count: int = 1,
    probabilities: bool = True,
    calibration_bins: int = 10,
    calibration_strategy: str = "uniform",
    quantile: float = 0.5,
    pos_label: Any = None,
    classes: Sequence[Any] | None = None,
    output: str | None = None,
    importance: bool | dict[str, Any] = False,
    partial_dependence: Sequence[str] | bool | None = None,
) -> Evaluation:
    """Evaluates a model (or its outputs) on labelled rows.

    ``model_or_outputs``: a bundle (its pipeline and model run on `data`, in batches), an
    estimator (``predict_proba`` for classification, else ``predict``, called on `data`), a
    callable, or the outputs already computed (one score per row for ``task="binary"``: the
    positive class's probability; rows x classes for "multiclass"; one prediction per row for
    "regression"). ``labels``: values, or the name of a column of `data` (binary labels are 0/1
    or booleans, or any values with ``pos_label``; multiclass labels are mapped to the outputs'
    columns through ``classes``, by default the sorted distinct labels).

    ``slices``: column names, tuples of column names, and ``Bucket(column, n)`` quantile buckets
    of `data`; each slice gets every metric, its row count and its interval. A slice with fewer
    than ``min_count`` rows is listed with status "too_small" and no metric values.
    ``metrics``: names from the task's metrics (all by default; see
    ``seawall.evaluation.metric_names``). A metric undefined on some rows (ROC AUC where one
    class only is present) is reported as undefined, with the reason and counts, never as NaN.

    ``bootstrap``: resamples for the percentile intervals (0: none) at ``confidence``; ``seed``
    makes them reproducible (a fresh one is drawn and recorded in ``options`` when None).
    ``threshold``: a score at or above it predicts the positive class (binary accuracy,
    precision, recall, F1, confusion matrix and fairness). ``probabilities=False`` reads binary
    scores as any ranking (only ROC AUC, average precision and the threshold metrics apply);
    otherwise a probability outside [0, 1] is an error naming the row.

    ``sensitive``: column(s) (or tuples of columns) to measure fairness across (binary only).
    ``importance``: True (or keyword arguments for
    :func:`~seawall.evaluation.permutation_importance`) to add permutation importance;
    ``partial_dependence``: columns (or True for the three most important) to add partial
    dependence; both need a model, not outputs.
    """
    names = resolve_metrics(task, metrics)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy) % (1 << 63)  # type: ignore[arg-type]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 1 << 64:
        raise InvalidInputError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    binary = BinarySettings(
        threshold=float(threshold),
        probabilities=bool(probabilities),
        calibration_bins=calibration_bins,
        calibration_strategy=calibration_strategy,
        curve_points=CURVE_POINTS,
    )
    boot = BootstrapSettings(resamples=bootstrap, confidence=float(confidence), seed=int(seed))
    check_settings(task, names, binary, boot, min_count)
    specs = check_specs(slices)
    sensitive_specs = check_specs([] if sensitive is None else sensitive)
    if sensitive_specs and task != "binary":
        raise InvalidInputError("fairness (sensitive=) is measured on binary tasks")

    table = _inputs.table_of(data)
    arr = _inputs.label_column(labels, table)
    found_classes: list[Any] | None = None
    if task == "binary":
        y = _inputs.binary_labels(arr, pos_label)
    elif task == "multiclass":
        y, found_classes = _inputs.class_labels(arr, classes)
    else:
        y = _inputs.numeric_labels(arr)
    if table is not None and table.num_rows != len(y):
        raise InvalidInputError(f"there are {len(y):,} labels for {table.num_rows:,} rows of data")

    model = model_or_outputs if _inputs.is_model(model_or_outputs) else None
    raw = (
        _inputs.model_outputs(model, data, table, task, output)
        if model is not None
        else model_or_outputs
    )
    scores = _inputs.scores_for_task(raw, task, len(y))
    if task == "multiclass" and found_classes is not None and scores.shape[1] != len(found_classes):
        raise InvalidInputError(
            f"the outputs have {scores.shape[1]} columns for {len(found_classes)} classes "
            f"{found_classes}: pass classes= in the outputs' column order"
        )
    if (specs or sensitive_specs) and table is None:
        raise InvalidInputError("slices and sensitive columns are columns of data: pass data=")

    def results_of(grouping: Any) -> list[Any]:
        return by_group(
            task,
            scores,
            y,
            grouping,
            names,
            binary=binary,
            bootstrap=boot,
            quantile=quantile,
            min_count=min_count if grouping is not None else 0,  # a bar for slices only
        )

    overall = results_of(None)[0]
    binary = replace(binary, curve_points=0)  # the curves are for the overall plots
    sliced = {}
    for spec in specs:
        assert table is not None
        grouping = group_rows(table, spec)
        sliced[grouping.name] = results_of(grouping)
    fairness = {}
    for spec in sensitive_specs:
        assert table is not None
        grouping = group_rows(table, spec)
        fairness[grouping.name] = fairness_of(scores, y, grouping, binary.threshold)

    explained = None
    dependence: list[Any] = []
    if (importance or partial_dependence) and model is None:
        raise InvalidInputError("importance and partial dependence need a model, not outputs")
    if importance:
        options = dict(importance) if isinstance(importance, dict) else {}
        options.setdefault("random_state", int(seed) % (1 << 31))
        explained = permutation_importance(
            model,
            data,
            y if task != "multiclass" else arr,
            task=task,
            output=output,
            classes=found_classes,
            threshold=binary.threshold,
            quantile=quantile,
            **options,
        )
    if partial_dependence:
        if partial_dependence is True:
            if explained is not None:
                columns = [f.feature for f in explained.features[:3]]
            elif isinstance(model, Bundle) and model.pipeline is not None:
                columns = list(dict.fromkeys(f.column for f in model.pipeline.features_))[:3]
            else:
                columns = []
        else:
            columns = (
                [partial_dependence]
                if isinstance(partial_dependence, str)
                else list(partial_dependence)
            )
        if not isinstance(model, Bundle):
            raise InvalidInputError("partial dependence needs a bundle with a feature pipeline")
        dependence = _partial_dependence(model, data, columns, task=task, output=output)

    options_used: dict[str, Any] = {
        "threshold": binary.threshold,
        "probabilities": binary.probabilities,
        "bootstrap": boot.resamples,
        "confidence": boot.confidence,
        "seed": boot.seed,
        "min_count": min_count,
    }
    if task == "binary":
        options_used["calibration_bins"] = calibration_bins
        options_used["calibration_strategy"] = calibration_strategy
    if task == "regression":
        options_used["quantile"] = quantile
    if found_classes is not None:
        options_used["classes"] = [
            c if isinstance(c, (str, int, float, bool)) else str(c) for c in found_classes
        ]
    return Evaluation(
        task=task,
        metrics=names,
        rows=len(y),
        overall=overall,
        slices=sliced,
        fairness=fairness,
        importance=explained,
        partial_dependence=dependence,
        options=options_used,
        model=_model_info(model),
    )


def measure_fairness(
    outputs: Any,
    data: Any,
    labels: Any,
    sensitive: Any,
    *,
    threshold: float = 0.5,
    pos_label: Any = None,
) -> Fairness:
    """The fairness of binary `outputs` (scores, or 0/1 predictions) across `sensitive` (a
    column of `data`, or a tuple of columns), without the other metrics: one native pass. The
    same as ``evaluate(..., sensitive=...).fairness[...]``."""
    table = _inputs.table_of(data)
    if table is None:
        raise InvalidInputError("the sensitive column is a column of data: pass data=")
    y = _inputs.binary_labels(_inputs.label_column(labels, table), pos_label)
    scores = _inputs.scores_for_task(outputs, "binary", len(y))
    if table.num_rows != len(y):
        raise InvalidInputError(f"there are {len(y):,} labels for {table.num_rows:,} rows of data")
    (spec,) = check_specs([sensitive])
    return fairness_of(scores, y, group_rows(table, spec), float(threshold))


def _model_info(model: Any) -> dict[str, Any] | None:
    if model is None:
        return None
    if isinstance(model, Bundle):
        return {
            "name": model.name,
            "version": model.version,
            "flavor": model.flavor,
            "path": str(model.path),
        }
    return {"name": type(model).__name__}
