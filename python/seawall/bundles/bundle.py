"""A loaded bundle: its pipeline, model and signature, and ``predict`` on raw feature records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from .._data import to_table
from ..errors import DTypeError, InvalidInputError
from ..features.pipeline import FeaturePipeline
from .signature import Signature, numpy_dtype

if TYPE_CHECKING:
    from ..contracts import Schema

__all__ = ["Bundle", "records_to_table"]


def records_to_table(data: Any) -> pa.Table:
    """Raw feature records as a table: a list of {column: value} dicts, one such dict (one row),
    a dict of columns, a pyarrow Table, or a pandas or polars DataFrame."""
    if isinstance(data, (list, tuple)):
        if not data:
            raise InvalidInputError("no records: the list is empty")
        if not all(isinstance(r, Mapping) for r in data):
            bad = next(r for r in data if not isinstance(r, Mapping))
            raise InvalidInputError(
                f"records must be objects of column: value, got a {type(bad).__name__}"
            )
        try:
            return pa.Table.from_pylist([dict(r) for r in data])
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
            raise DTypeError(f"cannot read the records as columns of one type each: {exc}") from exc
    if isinstance(data, Mapping) and data and not any(_is_column(v) for v in data.values()):
        return records_to_table([data])
    return to_table(data)


def _is_column(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray, pa.Array, pa.ChunkedArray))


class Bundle:
    """A loaded bundle: ``predict`` runs raw feature records through the pipeline, then the model.

    Attributes: ``path``, ``name``, ``version``, ``flavor`` ("onnx" or "python"), ``loads_code``,
    ``pipeline`` (or None), ``model`` (a callable on the feature batch returning {output: array},
    what a server hands its batcher), ``signature``, ``metadata`` and ``manifest``; ``example``
    and ``warmup``, the rows saved with it (raw records, or model-input rows without a pipeline),
    or None; ``schema``, the data contract of its raw inputs (a :class:`~seawall.Schema`), or
    None.
    """

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        model: Any,
        pipeline: FeaturePipeline | None,
        *,
        example: list[Any] | None = None,
        warmup: list[Any] | None = None,
        schema: Schema | None = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.model = model
        self.pipeline = pipeline
        self.name: str = manifest["name"]
        self.version: str | None = manifest.get("version")
        self.flavor: str = manifest["model"]["flavor"]
        self.loads_code: bool = bool(manifest["model"]["loads_code"])
        self.signature = Signature.from_dict(manifest["signature"])
        self.metadata: dict[str, Any] = manifest.get("metadata") or {}
        self.example = example
        self.warmup = warmup
        self.schema = schema

    def features(self, data: Any) -> np.ndarray:
        """The model's input for `data`: the pipeline's float32 features of raw records, or,
        without a pipeline, `data` as an array of the model input's datatype."""
        if self.pipeline is not None:
            return np.asarray(self.pipeline.transform(records_to_table(data)))
        spec = self.signature.model_inputs[0]
        try:
            x = np.asarray(data, dtype=numpy_dtype(spec.datatype))
        except (TypeError, ValueError) as exc:
            raise DTypeError(f"cannot read the input as {spec.datatype}: {exc}") from exc
        spec.check_shape(x.shape)
        return x

    def predict(self, data: Any, outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """{output name: array} for `data`: raw feature records (a list of dicts, a dict of
        columns, an Arrow table, a pandas or polars DataFrame) when the bundle has a pipeline,
        else the model's input array. ``outputs`` picks some outputs by name."""
        wanted = self._outputs(outputs)
        result = self.model(self.features(data))
        return {name: result[name] for name in wanted}

    def _outputs(self, outputs: Sequence[str] | None) -> list[str]:
        names = [s.name for s in self.signature.outputs]
        if outputs is None:
            return names
        unknown = [o for o in outputs if o not in names]
        if unknown:
            raise InvalidInputError(f"unknown outputs {unknown}: the model gives {names}")
        return list(outputs)

    def __repr__(self) -> str:
        version = f" version {self.version}" if self.version is not None else ""
        pipe = "pipeline + " if self.pipeline is not None else ""
        return f"Bundle({self.name!r}{version}: {pipe}{self.flavor} model, {self.path})"
