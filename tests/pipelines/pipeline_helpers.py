"""Helpers of the pipeline tests: a partitioned Parquet dataset and a FeaturePipeline for the
distributed fits, and modules of steps written from source (to change a step's code)."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import seawall


def write_dataset(folder: Path, rng: np.random.Generator, files: int = 4, rows: int = 6000) -> Path:
    """Parquet files of several row groups each: numbers with NaNs and nulls, skewed numbers,
    strings of a long-tailed vocabulary (more categories than top_k), integer categories."""
    folder.mkdir()
    vocabulary = np.array([f"c{i:03d}" for i in range(300)])
    weights = 1.0 / np.arange(1, 301)
    weights /= weights.sum()
    for f in range(files):
        n = rows + int(rng.integers(0, rows // 2))
        x = rng.normal(10.0, 3.0, n)
        x[rng.random(n) < 0.05] = np.nan
        table = pa.table(
            {
                "x": pa.array(x, mask=rng.random(n) < 0.03),
                "y": rng.lognormal(0.0, 1.5, n),
                "z": rng.integers(0, 20, n).astype(np.float64),
                "s": pa.array(rng.choice(vocabulary, n, p=weights), mask=rng.random(n) < 0.02),
                "k": rng.integers(0, 12, n),
            }
        )
        pq.write_table(table, folder / f"part-{f:02d}.parquet", row_group_size=2500)
    return folder


def feature_pipeline() -> seawall.FeaturePipeline:
    """Ops of every kind of fitted state: moments, sketch and exact quantiles, number counts,
    string counts, and chains fit in several passes."""
    return seawall.FeaturePipeline(
        [
            ("x", "x", [seawall.Impute("median"), seawall.StandardScale()]),
            ("x_exact", "x", [seawall.Impute("median", exact=True), seawall.MinMaxScale()]),
            ("y", "y", [seawall.Log1p(), seawall.RobustScale()]),
            (
                "y_bins",
                "y",
                [seawall.Clip(quantiles=(0.01, 0.99)), seawall.Bucketize(n_bins=8)],
            ),
            ("z", "z", [seawall.Impute("most_frequent"), seawall.StandardScale()]),
            ("s", "s", seawall.OneHot(min_frequency=20)),
            ("s_ids", "s", [seawall.Impute("most_frequent"), seawall.Categorify()]),
            ("k", "k", seawall.Categorify()),
        ]
    )


def load_module(path: Path, source: str) -> ModuleType:
    """Writes `source` to `path` and imports it, so that inspect.getsource reads the file."""
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module
