"""What evaluate() is given, made ready for the native kernels: the data as an Arrow table,
labels as float64 (class indices for multiclass), and the model's outputs as float64 in the
shape the task needs, from a bundle, an estimator, a callable or precomputed outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .._data import is_matrix, matrix_to_table, to_table
from ..bundles import Bundle, OnnxModel, PythonModel, numpy_dtype
from ..errors import DTypeError, InvalidInputError, MissingColumnError

__all__ = [
    "binary_labels",
    "class_labels",
    "is_model",
    "model_outputs",
    "numeric_labels",
    "scores_for_task",
    "table_of",
]

#: Rows a bundle runs at a time in evaluate() (bounded memory on large data).
BATCH_ROWS = 65_536


def table_of(data: Any) -> pa.Table | None:
    if data is None:
        return None
    if is_matrix(data):
        return matrix_to_table(data)
    return to_table(data)


def is_model(obj: Any) -> bool:
    """A bundle, an estimator (predict or predict_proba) or a callable; anything else is taken
    for outputs already computed."""
    if isinstance(obj, (np.ndarray, list, tuple, pa.Array, pa.ChunkedArray)):
        return False
    if type(obj).__module__.startswith(("pandas", "polars")) and not hasattr(obj, "predict"):
        return False
    return isinstance(obj, Bundle) or hasattr(obj, "predict") or callable(obj)


def _values(values: Any, what: str) -> np.ndarray:
    """A 1-D numpy array of `values` (missing values as None or NaN)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values.to_numpy(zero_copy_only=False)
    elif hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        arr = values.to_numpy()
    else:
        arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(f"{what} must be one value per row (1-D), got shape {arr.shape}")
    return arr


def label_column(labels: Any, table: pa.Table | None) -> np.ndarray:
    """Labels given as values, or as the name of a column of the data."""
    if isinstance(labels, str):
        if table is None or labels not in table.column_names:
            have = ", ".join(table.column_names) if table is not None else "no data"
            raise MissingColumnError(f"label column {labels!r} is not in the data (it has: {have})")
        return _values(table.column(labels), f"label column {labels!r}")
    if labels is None:
        raise InvalidInputError("labels are needed: an array of them, or a column name of the data")
    return _values(labels, "labels")


def _missing(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f":
        return np.isnan(arr)
    if arr.dtype == object:
        return np.fromiter(
            (v is None or (isinstance(v, float) and v != v) for v in arr),
            dtype=bool,
            count=len(arr),
        )
    return np.zeros(len(arr), dtype=bool)


def binary_labels(arr: np.ndarray, pos_label: Any) -> np.ndarray:
    """0/1 labels as float64 (NaN where missing: the kernels name that row)."""
    if pos_label is not None:
        y = (arr == pos_label).astype(np.float64)
        y[_missing(arr)] = np.nan
        return y
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False)
    if arr.dtype == object and all(
        v is None or isinstance(v, (bool, int, float, np.number)) for v in arr
    ):
        return np.array([np.nan if v is None else v for v in arr], dtype=np.float64)
    present = [v for v in np.unique(arr[~_missing(arr)])][:5]
    raise DTypeError(
        f"binary labels are 0 and 1 (or booleans); these are {present}...: say which is the "
        "positive class with pos_label=..."
    )


def class_labels(arr: np.ndarray, classes: Sequence[Any] | None) -> tuple[np.ndarray, list[Any]]:
    """Class indices (float64, NaN where missing) and the classes in column order (the given
    ones, else the sorted distinct labels, as scikit-learn orders predict_proba's columns)."""
    missing = _missing(arr)
    if classes is None:
        classes = sorted(np.unique(arr[~missing]).tolist())
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise InvalidInputError(f"classes repeat a class: {classes}")
    index = {c: i for i, c in enumerate(classes)}
    y = np.full(len(arr), np.nan)
    for i, v in enumerate(arr.tolist()):
        if missing[i]:
            continue
        k = index.get(v)
        if k is None:
            raise InvalidInputError(
                f"the label of row {i} is {v!r}, not one of the classes {classes}"
            )
        y[i] = k
    return y, classes


def numeric_labels(arr: np.ndarray) -> np.ndarray:
    try:
        if arr.dtype == object:
            return np.array([np.nan if v is None else v for v in arr], dtype=np.float64)
        return arr.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise DTypeError(f"regression labels must be numbers: {exc}") from exc


def _bundle_output(bundle: Bundle, task: str, output: str | None) -> str:
    names = [s.name for s in bundle.signature.outputs]
    if output is not None:
        if output not in names:
            raise InvalidInputError(f"the bundle has no output {output!r} (it has: {names})")
        return output
    if task != "regression":
        for name in names:
            if "prob" in name.lower():
                return name
    return names[0]


def output_function(bundle: Bundle, name: str) -> Any:
    """A callable on the model's input that computes only the output `name` (a bundle's model
    computes all its outputs: a Python model's every method, an ONNX model's every output)."""
    model = bundle.model
    if isinstance(model, PythonModel):
        method = getattr(model.obj, model.methods[name])
        return lambda x: np.asarray(method(x))
    if isinstance(model, OnnxModel) and len(model.inputs) == 1:
        spec = model.inputs[0]
        dtype = numpy_dtype(spec.datatype)
        return lambda x: model.session.run(
            [name], {spec.name: np.ascontiguousarray(x, dtype=dtype)}
        )[0]
    return lambda x: np.asarray(model(x)[name])


def model_outputs(
    model: Any, data: Any, table: pa.Table | None, task: str, output: str | None
) -> np.ndarray:
    """The model's outputs on the data: a bundle runs its pipeline and model in batches; an
    estimator gets predict_proba (classification) or predict; a callable is called on the data."""
    if data is None:
        raise InvalidInputError("a model needs data to predict on: pass data=")
    if isinstance(model, Bundle):
        assert table is not None
        run = output_function(model, _bundle_output(model, task, output))
        parts = [
            run(model.features(table.slice(start, BATCH_ROWS)))
            for start in range(0, max(table.num_rows, 1), BATCH_ROWS)
        ]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]
    features = (
        table.to_pandas()
        if table is not None and isinstance(data, (pa.Table, pa.RecordBatch))
        else data
    )
    if task != "regression" and hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(features))
    if hasattr(model, "predict"):
        return np.asarray(model.predict(features))
    return np.asarray(model(data))


def scores_for_task(outputs: Any, task: str, rows: int) -> np.ndarray:
    """Outputs as float64 in the task's shape: one score per row (binary: the positive class's
    probability, or column 1 of two), rows x classes (multiclass), one value (regression)."""
    if isinstance(outputs, (pa.Array, pa.ChunkedArray)):
        outputs = outputs.to_numpy(zero_copy_only=False)
    elif hasattr(outputs, "to_numpy") and not isinstance(outputs, np.ndarray):
        outputs = outputs.to_numpy()
    try:
        arr = np.asarray(outputs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DTypeError(f"the model's outputs must be numbers: {exc}") from exc
    if arr.ndim == 2 and arr.shape[1] == 1 and task != "multiclass":
        arr = arr[:, 0]
    if task == "binary" and arr.ndim == 2 and arr.shape[1] == 2:
        arr = arr[:, 1]
    shape_ok = arr.ndim == 2 and arr.shape[1] >= 2 if task == "multiclass" else arr.ndim == 1
    if not shape_ok:
        need = {
            "binary": "one score per row (or two columns of class probabilities)",
            "multiclass": "one column of probabilities per class (rows x classes)",
            "regression": "one prediction per row",
        }[task]
        raise InvalidInputError(
            f"the outputs have shape {arr.shape}, which does not match task={task!r}: it needs {need}"
        )
    if arr.shape[0] != rows:
        raise InvalidInputError(f"there are {arr.shape[0]:,} outputs for {rows:,} labels")
    return np.ascontiguousarray(arr)
