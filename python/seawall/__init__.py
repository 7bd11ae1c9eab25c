"""seawall: the machine-learning loop in production, with a compiled core."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

from . import _core, errors, stats
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
    "Bucketize",
    "Categorify",
    "Clip",
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
    "StandardScale",
    "__version__",
    "build_info",
    "errors",
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
    """Threads the native kernels use (None for the default: SEAWALL_NUM_THREADS, else the cores)."""
    if n is None:
        n = 0
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise errors.InvalidInputError(
            f"the thread count must be a positive integer or None, got {n!r}"
        )
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the native kernels use now."""
    return int(_core.num_threads())


def _monitor_collector(monitors: list[Any]) -> Any:
    from .monitoring import MonitorCollector

    return MonitorCollector(monitors)


def _dashboard_app(registry: Any, monitors: list[Any]) -> Any:
    from .dashboard import create_dashboard_app

    return create_dashboard_app(registry, monitors)


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
