"""Rows a bundle keeps beside its model: its warm-up inputs and its example, as JSON.

With a feature pipeline they are raw records (``[{column: value}, ...]``, only the pipeline's
input columns; a missing or NaN value is ``null``); without one they are rows of the model's
input (nested lists). A server runs them through the bundle before it serves it (see
``seawall.serving.warmup``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import IntegrityError, InvalidInputError
from ..features.pipeline import FeaturePipeline
from .bundle import records_to_table

__all__ = ["EXAMPLE_ROWS", "decode_rows", "encode_rows"]

EXAMPLE_ROWS = 1000  # the example's first rows kept in a bundle, as reference data


def encode_rows(
    data: Any, pipeline: FeaturePipeline | None, what: str, limit: int | None = None
) -> bytes:
    """`data` (records, a table or frame; an array without a pipeline) as the JSON a bundle
    stores, at most `limit` rows of it."""
    if pipeline is not None:
        table = records_to_table(data)
        columns = [str(c) for c in pipeline.input_columns_]
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise InvalidInputError(
                f"the {what} has no column {missing[0]!r}, which the pipeline reads"
            )
        table = table.select(columns)
        if limit is not None:
            table = table.slice(0, limit)
        for field in table.schema:
            t = field.type
            if not (
                pa.types.is_integer(t)
                or pa.types.is_floating(t)
                or pa.types.is_boolean(t)
                or pa.types.is_string(t)
                or pa.types.is_large_string(t)
                or pa.types.is_null(t)
            ):
                raise InvalidInputError(
                    f"column {field.name!r} of the {what} is {t}: a bundle keeps numbers, "
                    "strings, booleans and nulls"
                )
        rows: Any = [
            {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
            for r in table.to_pylist()
        ]
    else:
        array = np.asarray(data)
        if limit is not None:
            array = array[:limit]
        if array.dtype.kind not in "biuf":
            raise InvalidInputError(
                f"the {what} holds {array.dtype} values: a bundle keeps numbers and booleans"
            )
        rows = array.tolist()
    try:
        text = json.dumps(rows, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise InvalidInputError(f"the {what} holds a value that is not finite: {exc}") from exc
    return (text + "\n").encode("utf-8")


def decode_rows(data: bytes, source: str) -> list[Any]:
    """The rows a bundle stored (checked to be a non-empty JSON list)."""
    try:
        rows = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{source} is not valid JSON: {exc}") from exc
    if not isinstance(rows, list) or not rows:
        raise IntegrityError(f"{source} must hold a non-empty list of rows")
    return rows
