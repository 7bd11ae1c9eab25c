"""Delayed labels joined to the model server's payload log by request id, and the quality of each
traffic arm they give.

A server with ``create_app(..., payload_log=PayloadLog(folder))`` writes what it was asked and
what it answered, each request under its id (the client's v2 ``id``, or the one the server
echoed back). When the outcomes are known (a chargeback weeks later), a table of ``id, label``
joined to the log gives predictions and outcomes side by side::

    joined = join_labels("payloads/", "labels.parquet", id_column="request_id",
                         label_column="is_fraud")
    quality_by_arm(joined, "is_fraud", score="probabilities_1", prediction="label")
    # {"primary": {"labels": 9731, "accuracy": ..., "auc": ..., "log_loss": ...}, ...}

``Monitor.add_labels(labels=..., payloads=...)`` does the same join and counts each labelled
request in the window of the time it was served; ``seawall labels join`` writes the joined
table to a Parquet file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidInputError, MissingColumnError
from ..serving.payload_records import OUTPUT_PREFIX, read_payloads
from ._report import QualityCounts, label_counts

__all__ = ["join_labels", "labelled_rows", "quality_by_arm", "read_labels"]


def read_labels(labels: Any, id_column: str | None = None) -> pa.Table:
    """A labels table from a Parquet or CSV file (by its suffix; `id_column` is read as text
    from a CSV file, so that an id such as 007 keeps its zeros), a pyarrow Table or a pandas
    DataFrame."""
    if isinstance(labels, pa.Table):
        return labels
    if isinstance(labels, (str, os.PathLike)):
        path = Path(labels)
        if not path.is_file():
            raise InvalidInputError(f"no labels file at {path}")
        try:
            if path.suffix.lower() in (".csv", ".tsv"):
                from pyarrow import csv

                types = {id_column: pa.string()} if id_column else {}
                return csv.read_csv(
                    path,
                    parse_options=csv.ParseOptions(
                        delimiter="\t" if path.suffix == ".tsv" else ","
                    ),
                    convert_options=csv.ConvertOptions(column_types=types),
                )
            import pyarrow.parquet as pq

            return pq.read_table(path)
        except pa.ArrowException as exc:
            raise InvalidInputError(f"cannot read the labels in {path}: {exc}") from None
    if hasattr(labels, "to_dict") and hasattr(labels, "columns"):  # a pandas DataFrame
        return pa.Table.from_pandas(labels, preserve_index=False)
    raise InvalidInputError(
        f"labels must be a Parquet or CSV file, a pyarrow Table or a pandas DataFrame, got "
        f"{type(labels).__name__}"
    )


def _column(table: pa.Table, name: str, what: str) -> pa.ChunkedArray:
    if not isinstance(name, str) or name not in table.column_names:
        raise MissingColumnError(
            f"the {what} have no column {name!r} (they have: {', '.join(table.column_names)})"
        )
    return table.column(name)


def join_labels(
    payloads: Any,
    labels: Any,
    *,
    id_column: str = "request_id",
    label_column: str = "label",
    row_column: str | None = None,
    model: str | None = None,
) -> pa.Table:
    """The payload records that have a label, in the log's order, with the label as a column
    named `label_column` (an inner join, as ``pandas.merge(payloads, labels, how="inner",
    left_on="request_id", right_on=id_column)``).

    ``payloads``: a payload log's folder (or one model's) or a table from ``read_payloads``;
    ``labels``: see :func:`read_labels`. Ids are compared as text (an integer id 42 matches
    the request id "42"); an id given twice in the labels is an error. Every row of a request
    gets its label, unless ``row_column`` names the labels' column of the row in the request.
    ``model`` keeps only that model's records."""
    table = payloads if isinstance(payloads, pa.Table) else read_payloads(payloads)
    _column(table, "request_id", "payload records")
    if model is not None:
        table = table.filter(pc.equal(table.column("model"), model))
    lab = read_labels(labels, id_column)
    keys = [id_column] + ([row_column] if row_column is not None else [])
    for name in (*keys, label_column):
        _column(lab, name, "labels")
    if label_column in table.column_names:
        raise InvalidInputError(
            f"the label column {label_column!r} has the name of a payload column: rename it"
        )
    ids = lab.column(id_column)
    if ids.null_count:
        raise InvalidInputError(f"{ids.null_count} labels have no {id_column!r}")
    right = {"__id": ids if pa.types.is_string(ids.type) else ids.cast(pa.string())}
    if row_column is not None:
        right["__row"] = lab.column(row_column).cast(pa.int32())
    right[label_column] = lab.column(label_column)
    right_table = pa.table(right)
    right_keys = list(right)[:-1]
    counts = right_table.group_by(right_keys).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1))
    if repeated.num_rows:
        first = {k: repeated.column(k)[0].as_py() for k in right_keys}
        raise InvalidInputError(
            f"the labels give {repeated.num_rows} {'ids' if row_column is None else 'rows'} "
            f"more than once, e.g. {id_column}={first['__id']!r}"
            + (f", {row_column}={first['__row']!r}" if row_column is not None else "")
        )
    left = table.append_column("__order", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    left_keys = ["request_id"] + (["row"] if row_column is not None else [])
    joined = left.join(right_table, keys=left_keys, right_keys=right_keys, join_type="inner")
    joined = joined.sort_by("__order")
    return joined.select([*table.column_names, label_column])


def _output(joined: pa.Table, name: str) -> pa.ChunkedArray:
    """An output column by its logged name, with or without the ``output.`` prefix."""
    for candidate in (name, OUTPUT_PREFIX + name):
        if candidate in joined.column_names:
            return joined.column(candidate)
    outputs = [c for c in joined.column_names if c.startswith(OUTPUT_PREFIX)]
    raise MissingColumnError(f"the payloads have no output {name!r} (they have: {outputs})")


def labelled_rows(
    joined: pa.Table,
    label_column: str,
    *,
    score: str | None = None,
    prediction: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray]:
    """(labels, predictions, scores, times in seconds, arms) of the joined rows that were
    answered (status 200) and have a label; `score` and `prediction` name output columns."""
    if score is None and prediction is None:
        raise InvalidInputError(
            "name the output that is the score (score=, e.g. 'probabilities_1') or the "
            "predicted class (prediction=, e.g. 'label')"
        )
    keep = pc.and_(
        pc.equal(_column(joined, "status", "joined rows"), 200),
        pc.is_valid(_column(joined, label_column, "joined rows")),
    )
    rows = joined.filter(keep)

    def values(column: pa.ChunkedArray) -> np.ndarray:
        return column.to_numpy(zero_copy_only=False)

    y = values(rows.column(label_column))
    p = None if prediction is None else values(_output(rows, prediction))
    s = None if score is None else values(_output(rows, score))
    times = values(rows.column("time").cast(pa.int64())).astype(np.float64) / 1e6
    arms = values(rows.column("arm").fill_null("primary")).astype(object)
    return y, p, s, times, arms


def quality_by_arm(
    joined: pa.Table,
    label_column: str,
    *,
    score: str | None = None,
    prediction: str | None = None,
    task: str = "classification",
    positive_label: Any = 1,
) -> dict[str, dict[str, float]]:
    """Per arm: the labelled rows (``labels``) and the quality metrics over all of them (as a
    Monitor's window computes them: accuracy, precision, recall, F1, and with a score the ROC
    AUC, left out when the labels are of one class, and the log-loss)."""
    y, p, s, _, arms = labelled_rows(joined, label_column, score=score, prediction=prediction)
    out: dict[str, dict[str, float]] = {}
    for arm in sorted({str(a) for a in arms}):
        mine = arms == arm
        counts: QualityCounts = label_counts(
            task,
            positive_label,
            y[mine],
            None if p is None else p[mine],
            None if s is None else s[mine],
        )
        out[arm] = {"labels": float(counts.rows), **counts.metrics()}
    return out
