"""Fairness across a sensitive column: per-group rates at a threshold and the disparities
between groups, with Fairlearn's definitions (``method="between_groups"``, ``agg="worst_case"``).

One native pass counts each group's confusion matrix; the rates and disparities are arithmetic on
those counts:

- selection rate ``(tp + fp) / n``; true positive rate ``tp / (tp + fn)``, false positive rate
  ``fp / (fp + tn)``, false negative and true negative rates, error rate ``(fp + fn) / n``;
- demographic parity difference: the largest selection rate minus the smallest; the ratio: the
  smallest over the largest;
- equal opportunity difference (and ratio): the same on true positive rates;
- equalized odds difference: the larger of the true and false positive rate differences; the
  ratio: the smaller of the two ratios.

A rate is undefined for a group without the rows it divides by (the true positive rate of a
group with no positive label): Fairlearn counts it 0 there, which makes a disparity of the
missing data; here it is None, the group is left out of that disparity, and ``undefined`` names
it. A sensitive column with missing values is an error (fill them with a label of their own,
such as "unknown", to treat them as a group).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _core
from ..errors import InvalidInputError
from .results import finite_or_none
from .slices import Grouping

__all__ = ["Fairness", "GroupRates", "fairness_of"]

_RATES = (
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "true_negative_rate",
    "error_rate",
)


@dataclass(frozen=True)
class GroupRates:
    """One group's counts and rates at the threshold (None where a rate is undefined)."""

    group: Any
    label: str
    count: int
    positives: int
    tp: int
    fp: int
    tn: int
    fn: int
    selection_rate: float | None
    true_positive_rate: float | None
    false_positive_rate: float | None
    false_negative_rate: float | None
    true_negative_rate: float | None
    error_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        d = dict(vars(self))
        d["group"] = list(self.group) if isinstance(self.group, tuple) else self.group
        return d


@dataclass
class Fairness:
    """Disparities across the groups of a sensitive column (or tuple of columns)."""

    sensitive: str
    threshold: float
    groups: list[GroupRates]
    demographic_parity_difference: float | None
    demographic_parity_ratio: float | None
    equal_opportunity_difference: float | None
    equal_opportunity_ratio: float | None
    equalized_odds_difference: float | None
    equalized_odds_ratio: float | None
    undefined: dict[str, list[str]] = field(default_factory=dict)

    @property
    def disparities(self) -> dict[str, float | None]:
        return {
            name: getattr(self, name)
            for name in (
                "demographic_parity_difference",
                "demographic_parity_ratio",
                "equal_opportunity_difference",
                "equal_opportunity_ratio",
                "equalized_odds_difference",
                "equalized_odds_ratio",
            )
        }

    def __getitem__(self, name: str) -> float | None:
        values = self.disparities
        if name not in values:
            raise KeyError(f"no disparity {name!r} (there are: {', '.join(values)})")
        return values[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sensitive": self.sensitive,
            "threshold": self.threshold,
            **self.disparities,
            "undefined": self.undefined,
            "groups": [g.to_dict() for g in self.groups],
        }


def _rate(num: int, den: int) -> float | None:
    return num / den if den > 0 else None


def _spread(rates: list[float | None]) -> tuple[float | None, float | None]:
    """(max - min, min / max) over the defined rates; None without any."""
    defined = [r for r in rates if r is not None]
    if not defined:
        return None, None
    high, low = max(defined), min(defined)
    return high - low, (low / high if high > 0 else None)


def fairness_of(
    scores: np.ndarray, labels: np.ndarray, grouping: Grouping, threshold: float
) -> Fairness:
    """The fairness of predictions ``scores >= threshold`` against labels (0 or 1) across the
    groups of `grouping`."""
    null_groups = [g for g, key in enumerate(grouping.keys) if _has_none(key)]
    if null_groups:
        rows = int(np.isin(grouping.ids, null_groups).sum())
        named = ", ".join(grouping.labels[g] for g in null_groups)
        raise InvalidInputError(
            f"the sensitive column {grouping.name!r} has {rows:,} rows without a value "
            f"({named}): fill them with a group label of their own (such as 'unknown') to "
            "treat them as a group, or drop those rows"
        )
    counts = _core.confusion_by_group(
        scores, labels, grouping.ids, max(grouping.count, 1), threshold
    )
    groups = []
    for g, (key, label) in enumerate(zip(grouping.keys, grouping.labels, strict=True)):
        tn, fp, fn, tp = (int(v) for v in counts[g])
        n = tn + fp + fn + tp
        groups.append(
            GroupRates(
                key,
                label,
                n,
                tp + fn,
                tp,
                fp,
                tn,
                fn,
                selection_rate=_rate(tp + fp, n),
                true_positive_rate=_rate(tp, tp + fn),
                false_positive_rate=_rate(fp, fp + tn),
                false_negative_rate=_rate(fn, tp + fn),
                true_negative_rate=_rate(tn, fp + tn),
                error_rate=_rate(fp + fn, n),
            )
        )
    undefined = {
        rate: [g.label for g in groups if getattr(g, rate) is None]
        for rate in _RATES
        if any(getattr(g, rate) is None for g in groups)
    }
    dp_diff, dp_ratio = _spread([g.selection_rate for g in groups])
    tpr_diff, tpr_ratio = _spread([g.true_positive_rate for g in groups])
    fpr_diff, fpr_ratio = _spread([g.false_positive_rate for g in groups])
    eo_diff = None if tpr_diff is None or fpr_diff is None else max(tpr_diff, fpr_diff)
    eo_ratio = None if tpr_ratio is None or fpr_ratio is None else min(tpr_ratio, fpr_ratio)
    return Fairness(
        grouping.name,
        float(threshold),
        groups,
        demographic_parity_difference=finite_or_none(dp_diff),
        demographic_parity_ratio=finite_or_none(dp_ratio),
        equal_opportunity_difference=finite_or_none(tpr_diff),
        equal_opportunity_ratio=finite_or_none(tpr_ratio),
        equalized_odds_difference=finite_or_none(eo_diff),
        equalized_odds_ratio=finite_or_none(eo_ratio),
        undefined=undefined,
    )


def _has_none(key: Any) -> bool:
    return key is None or (isinstance(key, tuple) and any(k is None for k in key))
