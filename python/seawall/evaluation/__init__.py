"""Model evaluation: metrics overall and per slice with bootstrap intervals, fairness across
sensitive columns, and explanations (permutation importance, partial dependence).

::

    import seawall as sw

    ev = sw.evaluate(bundle, table, "is_fraud", slices=["country", sw.Bucket("amount", 5)],
                     sensitive="gender")
    ev["roc_auc"].value, ev["roc_auc"].low, ev["roc_auc"].high
    ev.save_html("evaluation.html")

The metrics are computed natively (each group's scores sorted once, the GIL released) and equal
scikit-learn's (ties included); fairness follows Fairlearn's definitions. Files: ``slices``
(slices and buckets), ``metrics`` (the metrics by group), ``fairness``, ``explain``
(permutation importance, partial dependence), ``results`` and ``report`` (what an evaluation
holds, as HTML and JSON), ``evaluate``.
"""

from .evaluate import evaluate, measure_fairness
from .explain import (
    FeatureImportance,
    Importance,
    PartialDependence,
    partial_dependence,
    permutation_importance,
)
from .fairness import Fairness, GroupRates
from .metrics import ALIASES, metric_names
from .report import Evaluation
from .results import CalibrationBin, Curve, MetricValue, SliceResult
from .slices import Bucket

__all__ = [
    "ALIASES",
    "Bucket",
    "CalibrationBin",
    "Curve",
    "Evaluation",
    "Fairness",
    "FeatureImportance",
    "GroupRates",
    "Importance",
    "MetricValue",
    "PartialDependence",
    "SliceResult",
    "evaluate",
    "measure_fairness",
    "metric_names",
    "partial_dependence",
    "permutation_importance",
]
