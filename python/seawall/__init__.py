"""seawall: the machine-learning loop in production, with a compiled core."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core, errors, stats
from .contracts import Schema, ValidationReport
from .evaluation import Bucket, Evaluation, evaluate
from .features import (
    Bucketize,
    Categorify,
    Clip,
    FeaturePipeline,
    HashBucket,
    Impute,
    Log1p,
    MinMaxScale,
    OneHot,
    RobustScale,
    StandardScale,
)
from .pipelines import Pipeline, step
from .profiles import Profile

if TYPE_CHECKING:
    from .registry import Registry

__version__: str = _core.__version__

__all__ = [
    "Bucket",
    "Bucketize",
    "Categorify",
    "Clip",
    "Evaluation",
    "FeaturePipeline",
    "HashBucket",
    "Impute",
    "Log1p",
    "MinMaxScale",
    "OneHot",
    "Pipeline",
    "Profile",
    "Registry",
    "RobustScale",
    "Schema",
    "StandardScale",
    "ValidationReport",
    "__version__",
    "build_info",
    "errors",
    "evaluate",
    "get_num_threads",
    "set_num_threads",
    "stats",
    "step",
]


def build_info() -> dict[str, Any]:
    """How this seawall was built and what it sees: version, compiler, CUDA, SIMD, threads."""
    info = dict(_core.build_info())
    info["python"] = platform.python_version()
    return info


def set_num_threads(n: int | None) -> None:
    """Threads the native kernels use: an integer from 1 to 1024, or None for the default
    (``SEAWALL_NUM_THREADS``, else the cores this process may use). Anything else, 0 included,
    is an InvalidInputError."""
    if n is None:
        _core.set_num_threads(0)  # the native core's spelling of "the default"
        return
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 1024:
        raise errors.InvalidInputError(
            f"set_num_threads takes a thread count from 1 to 1024, or None for the default "
            f"(SEAWALL_NUM_THREADS, else the cores); got {n!r}"
        )
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads the native kernels use now."""
    return int(_core.num_threads())


def _monitor_collector(monitors: list[Any]) -> Any:
    from .monitoring import MonitorCollector

    return MonitorCollector(monitors)


def _dashboard_app(registry: Any, monitors: list[Any], auth: Any = None) -> Any:
    from .dashboard import create_dashboard_app

    return create_dashboard_app(registry, monitors, auth=auth)


# The model server exports monitors and mounts the dashboard, which are built on top of it:
# they are connected here, where every layer may be imported, so that serving imports neither.
from .serving import extensions as _serving_extensions  # noqa: E402

_serving_extensions.connect(monitor_collector=_monitor_collector, dashboard_app=_dashboard_app)


def __getattr__(name: str) -> Any:
    # seawall.Registry loads on first use, so `import seawall` does not import SQLAlchemy.
    if name == "Registry":
        from .registry import Registry

        return Registry
    raise AttributeError(f"module 'seawall' has no attribute {name!r}")
