"""Explanations of a model's outputs: permutation importance and partial dependence.

Permutation importance is scikit-learn's ``sklearn.inspection.permutation_importance``, number
for number for the same ``random_state`` and ``n_repeats``: the same permutations (each column
gets a fresh ``RandomState`` seeded from ``random_state``, whose index array is shuffled again at
each repeat), the same baseline minus permuted score (for a loss, permuted minus baseline, as
sklearn's ``neg_*`` scorers give it), and the mean and population standard deviation over repeats.

Through a bundle with a feature pipeline the raw columns are permuted without transforming the
data again: the pipeline computes each output feature from one raw column, row by row, so the
features of a permuted column are the permuted rows of its features. The model then runs on the
feature matrix (computed once) with one block of columns permuted: the same matrix, of the same
shape, that it gets in sklearn's loop, so even float32 models give the same numbers. An estimator or a callable runs on the permuted data itself, as sklearn
does.

Partial dependence sets one raw column to each value of a grid for every row and averages the
model's output (sklearn's ``partial_dependence`` with ``method="brute"``); the grid is the
column's distinct values when there are at most ``grid_resolution`` of them, else evenly spaced
values between its 5th and 95th percentiles (numpy's linear quantiles; sklearn's use scipy's
``mquantiles``, so pass the same ``grid`` to compare).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..bundles import Bundle, numpy_dtype
from ..errors import InvalidInputError, MissingColumnError
from . import _inputs
from .metrics import (
    HIGHER_IS_BETTER,
    PROBABILITY_METRICS,
    BinarySettings,
    resolve_metrics,
    single_value,
)

__all__ = [
    "FeatureImportance",
    "Importance",
    "PartialDependence",
    "partial_dependence",
    "permutation_importance",
]


@dataclass(frozen=True)
class FeatureImportance:
    feature: str
    mean: float
    std: float
    values: list[float]  # one per repeat

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Importance:
    """Permutation importance of each raw column, largest first."""

    metric: str
    baseline: float
    n_repeats: int
    random_state: int | None
    features: list[FeatureImportance]

    def __getitem__(self, feature: str) -> FeatureImportance:
        for f in self.features:
            if f.feature == feature:
                return f
        raise MissingColumnError(f"no importance for {feature!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "baseline": self.baseline,
            "n_repeats": self.n_repeats,
            "random_state": self.random_state,
            "features": [f.to_dict() for f in self.features],
        }


@dataclass
class PartialDependence:
    """The average output with one column set to each grid value (binary: the positive class's
    probability; multiclass: one list per grid value, a probability per class)."""

    feature: str
    kind: str  # "numeric" or "categorical"
    grid: list[Any]
    average: list[Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "grid": self.grid,
            "average": self.average,
        }


# --- the model's input matrix, once ----------------------------------------------------------


class _Matrix:
    """A bundle's model input for the data, and the columns of it each raw column makes."""

    def __init__(self, bundle: Bundle, table: pa.Table, task: str, output: str | None) -> None:
        self.bundle = bundle
        self.task = task
        self.output = _inputs._bundle_output(bundle, task, output)
        self._run = _inputs.output_function(bundle, self.output)
        pipeline = bundle.pipeline
        self.blocks: dict[str, np.ndarray] = {}
        if pipeline is not None:
            self.matrix = np.ascontiguousarray(pipeline.transform(table))
            start = 0
            for feature in pipeline.features_:
                width = len(feature.output_names())
                block = np.arange(start, start + width)
                self.blocks[feature.column] = np.concatenate(
                    [self.blocks.get(feature.column, np.empty(0, dtype=np.int64)), block]
                )
                start += width
        else:
            dtype = numpy_dtype(bundle.signature.model_inputs[0].datatype)
            self.matrix = np.ascontiguousarray(
                np.column_stack([table.column(c).to_numpy() for c in table.column_names]),
                dtype=dtype,
            )
            self.blocks = {c: np.array([j]) for j, c in enumerate(table.column_names)}

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])

    def outputs(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self._run(matrix))

    def with_block(self, column: str, values: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The matrix with `column`'s block set to each of `values` (rows x block, or one row
        x block to set every row), one at a time: one working copy, the block restored after."""
        block = self.blocks[column]
        work = self.matrix.copy()
        for v in values:
            work[:, block] = v
            yield work
        work[:, block] = self.matrix[:, block]

    def block_values(self, column: str, table: pa.Table, grid: list[Any]) -> np.ndarray:
        """The feature block of `column` for each grid value (grid x block width)."""
        assert self.bundle.pipeline is not None
        rows = table.slice(0, 1).take(np.zeros(len(grid), dtype=np.int64))
        values = pa.array(grid, type=table.column(column).type)
        rows = rows.set_column(rows.column_names.index(column), column, values)
        return np.asarray(self.bundle.pipeline.transform(rows))[:, self.blocks[column]]


def _check_random_state(random_state: Any) -> np.random.RandomState:
    """sklearn.utils.check_random_state."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    raise InvalidInputError(
        f"random_state must be None, an int or a RandomState, got {random_state!r}"
    )


def _permutations(n: int, n_repeats: int, seed: int) -> list[np.ndarray]:
    """For each repeat, the rows of the original column that sklearn's loop puts in each row:
    its index array is shuffled again at each repeat and applied to the already permuted
    column, so the permutations compose."""
    rng = np.random.RandomState(seed)
    shuffling = np.arange(n)
    current = np.arange(n)
    out = []
    for _ in range(n_repeats):
        rng.shuffle(shuffling)
        current = current[shuffling]
        out.append(current)
    return out


def _prepare(
    model: Any,
    data: Any,
    labels: Any,
    task: str,
    pos_label: Any,
    classes: Sequence[Any] | None,
) -> tuple[pa.Table, np.ndarray, list[Any] | None]:
    table = _inputs.table_of(data)
    if table is None:
        raise InvalidInputError("explanations need the data the model reads: pass data=")
    arr = _inputs.label_column(labels, table)
    found: list[Any] | None = None
    if task == "binary":
        y = _inputs.binary_labels(arr, pos_label)
    elif task == "multiclass":
        y, found = _inputs.class_labels(arr, classes)
    else:
        y = _inputs.numeric_labels(arr)
    if len(y) != table.num_rows:
        raise InvalidInputError(f"there are {len(y):,} labels for {table.num_rows:,} rows of data")
    return table, y, found


def permutation_importance(
    model: Any,
    data: Any,
    labels: Any,
    *,
    task: str = "binary",
    metric: str | None = None,
    n_repeats: int = 5,
    random_state: Any = None,
    columns: Sequence[str] | None = None,
    output: str | None = None,
    pos_label: Any = None,
    classes: Sequence[Any] | None = None,
    threshold: float = 0.5,
    quantile: float = 0.5,
) -> Importance:
    """How much `metric` worsens when each column of `data` is permuted, over `n_repeats`
    permutations: scikit-learn's ``permutation_importance`` (see the module's docstring).

    ``model`` is a bundle (columns are its pipeline's raw columns, or the model input's columns
    without a pipeline), an estimator or a callable (columns are the data's). ``metric``
    defaults to roc_auc (binary), log_loss (multiclass) or rmse (regression); ``columns`` limits
    the columns permuted. ``labels`` are values or the name of a column of `data`.
    """
    metric = metric or {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}.get(
        task, ""
    )
    (metric,) = resolve_metrics(task, [metric])
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, int) or n_repeats < 1:
        raise InvalidInputError(f"n_repeats must be at least 1, got {n_repeats!r}")
    rng = _check_random_state(random_state)
    seed = rng.randint(np.iinfo(np.int32).max + 1)
    table, y, _ = _prepare(model, data, labels, task, pos_label, classes)
    # Losses read the outputs as probabilities; ranking and threshold metrics need no more.
    settings = BinarySettings(threshold=threshold, probabilities=metric in PROBABILITY_METRICS)
    sign = 1.0 if metric in HIGHER_IS_BETTER else -1.0

    def score(outputs: np.ndarray) -> float:
        scores = _inputs.scores_for_task(outputs, task, len(y))
        return single_value(task, metric, scores, y, settings, quantile)

    if isinstance(model, Bundle):
        inputs = _Matrix(model, table, task, output)
        names = _columns(columns, list(inputs.blocks))
        baseline = score(inputs.outputs(inputs.matrix))
        permutations = _permutations(inputs.rows, n_repeats, seed)
        values: dict[str, list[float]] = {}
        for name in names:
            block = np.ascontiguousarray(inputs.matrix[:, inputs.blocks[name]])
            buffer = np.empty_like(block)
            permuted = (np.take(block, order, axis=0, out=buffer) for order in permutations)
            values[name] = [
                sign * (baseline - score(inputs.outputs(m)))
                for m in inputs.with_block(name, permuted)
            ]
    else:
        predict = _predictor(model, data, task)
        frame, names_all = _frame(data, table)
        names = _columns(columns, names_all)
        baseline = score(predict(frame))
        permutations = _permutations(table.num_rows, n_repeats, seed)
        values = {}
        for name in names:
            scores = []
            for order in permutations:
                permuted = _permute(frame, name, order)
                scores.append(sign * (baseline - score(predict(permuted))))
            values[name] = scores
    features = [
        FeatureImportance(name, float(np.mean(v)), float(np.std(v)), [float(x) for x in v])
        for name, v in values.items()
    ]
    features.sort(key=lambda f: -f.mean)
    return Importance(
        metric,
        float(baseline),
        n_repeats,
        int(random_state) if isinstance(random_state, (int, np.integer)) else None,
        features,
    )


def _columns(columns: Sequence[str] | None, available: list[str]) -> list[str]:
    if columns is None:
        return available
    if isinstance(columns, str):
        columns = [columns]
    unknown = [c for c in columns if c not in available]
    if unknown:
        raise MissingColumnError(
            f"columns {unknown} are not among the model's input columns ({', '.join(available)})"
        )
    return list(columns)


def _predictor(model: Any, data: Any, task: str) -> Callable[[Any], np.ndarray]:
    if task != "regression" and hasattr(model, "predict_proba"):
        return lambda x: np.asarray(model.predict_proba(x))
    if hasattr(model, "predict"):
        return lambda x: np.asarray(model.predict(x))
    if callable(model):
        return lambda x: np.asarray(model(x))
    raise InvalidInputError(
        f"explanations need a model (a bundle, an estimator or a callable), got {type(model).__name__}"
    )


def _frame(data: Any, table: pa.Table) -> tuple[Any, list[str]]:
    """The data as the model reads it: a DataFrame or an array stays so, a table goes to pandas."""
    if isinstance(data, np.ndarray):
        return data, [f"x{j}" for j in range(data.shape[1])]
    if hasattr(data, "iloc"):
        return data, [str(c) for c in data.columns]
    return table.to_pandas(), table.column_names


def _permute(frame: Any, name: str, order: np.ndarray) -> Any:
    if isinstance(frame, np.ndarray):
        out = frame.copy()
        j = int(name[1:])
        out[:, j] = frame[order, j]
        return out
    out = frame.copy()
    column = frame[name].iloc[order]
    column.index = frame.index
    out[name] = column
    return out


# --- partial dependence ------------------------------------------------------------------------


def _grid(
    column: pa.ChunkedArray, resolution: int, percentiles: tuple[float, float]
) -> tuple[str, list[Any]]:
    values = column.drop_null()
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        arr = values.to_numpy().astype(np.float64)
        arr = arr[np.isfinite(arr)]
        if arr.size == 0:
            raise InvalidInputError("the column has no values to make a grid of")
        distinct = np.unique(arr)
        integer = pa.types.is_integer(column.type)
        if distinct.size <= resolution:
            grid = distinct
        else:
            low, high = np.quantile(arr, percentiles)
            if low == high:
                raise InvalidInputError(
                    f"the {percentiles[0]:.0%} and {percentiles[1]:.0%} percentiles are equal "
                    f"({low}): widen percentiles"
                )
            grid = np.linspace(low, high, resolution)
            if integer:  # the values an integer column can take
                grid = np.unique(np.round(grid))
        return "numeric", [int(v) for v in grid] if integer else grid.tolist()
    counts = pc.value_counts(values)
    top = sorted(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True),
        key=lambda vc: -vc[1],
    )[:resolution]
    if not top:
        raise InvalidInputError("the column has no values to make a grid of")
    return "categorical", sorted(v for v, _ in top)


def partial_dependence(
    model: Bundle,
    data: Any,
    features: Sequence[str] | str,
    *,
    task: str = "binary",
    grid_resolution: int = 20,
    percentiles: tuple[float, float] = (0.05, 0.95),
    grid: dict[str, Sequence[Any]] | None = None,
    output: str | None = None,
) -> list[PartialDependence]:
    """The partial dependence of a bundle's output on each of `features` (raw columns), on a
    grid of each (see the module's docstring); ``grid`` gives some columns' grids."""
    if not isinstance(model, Bundle) or model.pipeline is None:
        raise InvalidInputError("partial dependence needs a bundle with a feature pipeline")
    if (
        isinstance(grid_resolution, bool)
        or not isinstance(grid_resolution, int)
        or grid_resolution < 2
    ):
        raise InvalidInputError(f"grid_resolution must be at least 2, got {grid_resolution!r}")
    if not 0 <= percentiles[0] < percentiles[1] <= 1:
        raise InvalidInputError(
            f"percentiles must be two increasing numbers in [0, 1], got {percentiles!r}"
        )
    table = _inputs.table_of(data)
    if table is None or table.num_rows == 0:
        raise InvalidInputError("partial dependence needs rows of data")
    inputs = _Matrix(model, table, task, output)
    names = _columns([features] if isinstance(features, str) else features, list(inputs.blocks))
    out = []
    for name in names:
        given = (grid or {}).get(name)
        if given is not None:
            values = list(given)
            kind = "categorical" if any(isinstance(v, str) for v in values) else "numeric"
        else:
            kind, values = _grid(table.column(name), grid_resolution, percentiles)
        averages = []
        for m in inputs.with_block(name, inputs.block_values(name, table, values)):
            scores = _inputs.scores_for_task(inputs.outputs(m), task, inputs.rows)
            mean = scores.mean(axis=0)
            averages.append(mean.tolist() if task == "multiclass" else float(mean))
        out.append(PartialDependence(name, kind, values, averages))
    return out
