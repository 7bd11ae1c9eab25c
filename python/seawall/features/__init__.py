"""Feature transforms: fit once, apply identically in batch and per request."""

from __future__ import annotations

from .. import _core
from .ops import (
    Bucketize,
    Categorify,
    Clip,
    HashBucket,
    Impute,
    Log1p,
    MinMaxScale,
    OneHot,
    Op,
    RobustScale,
    StandardScale,
)
from .pipeline import FeaturePipeline

__all__ = [
    "Bucketize",
    "Categorify",
    "Clip",
    "FeaturePipeline",
    "HashBucket",
    "Impute",
    "Log1p",
    "MinMaxScale",
    "OneHot",
    "Op",
    "RobustScale",
    "StandardScale",
    "quantile_rank_error",
]


def quantile_rank_error(k: int = 200) -> float:
    """The stated rank error of the quantile sketch with parameter k (a share of the rows).

    A sketched quantile q is a value whose rank lies within q +/- this bound, with at least
    99.9% probability per quantile.
    """
    return float(_core.KllSketch.rank_error_bound(k))
