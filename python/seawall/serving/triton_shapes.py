"""Triton's model configuration and statistics, as ``/v2/models/{m}/config`` and ``/stats`` answer
them, filled from a served model's bundle, its batcher's settings and its batcher's counters.

The shapes are those Triton's HTTP server writes (its ``ModelConfig`` and
``ModelStatisticsResponse`` protobufs as JSON, 64-bit integers as numbers), so that tritonclient's
``get_model_config`` and ``get_inference_statistics``, and perf_analyzer (which reads
``max_batch_size``, ``dynamic_batching``, ``input``/``output`` names and every ``{count, ns}``
of ``inference_stats``, cache_hit and cache_miss included), read them unchanged.

Statistics per model version: ``success`` and ``fail`` count the HTTP inference requests
answered (200, or anything else) with their time in the server; ``queue`` and the ``compute_*``
phases come from the batcher (per batcher request: a request of more rows than
``max_batch_size`` is several), ``inference_count`` is the rows the model ran and
``execution_count`` its calls. The warm-up the server ran before serving is not counted (the
batcher's counters are reset after it).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["RequestCounts", "model_config", "model_stats", "triton_datatype"]

_PHASES = ("compute_input", "compute_infer", "compute_output")


def triton_datatype(datatype: str) -> str:
    """A v2 datatype ("FP32", "BYTES") as Triton's config names it ("TYPE_FP32", "TYPE_STRING")."""
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


class RequestCounts:
    """The HTTP inference requests one served model answered: successes and failures with their
    total time in the server, and when the last one was answered."""

    def __init__(self) -> None:
        self.success = [0, 0]  # count, ns
        self.fail = [0, 0]
        self.last_ms = 0

    def observe(self, status: int, seconds: float) -> None:
        total = self.success if status == 200 else self.fail
        total[0] += 1
        total[1] += int(seconds * 1e9)
        self.last_ms = int(time.time() * 1000)


def _dims(shape: tuple[int, ...] | list[int]) -> dict[str, Any]:
    """Triton's dims of a tensor without its batch axis; a tensor of one value per row (shape
    [-1]) is dims [1] reshaped to [], as Triton writes such an input."""
    dims = [int(d) for d in shape[1:]]
    if dims:
        return {"dims": dims}
    return {"dims": [1], "reshape": {"shape": []}}


def model_config(served: Any, warmup_sizes: list[int]) -> dict[str, Any]:
    """The model configuration of `served` (a ServedModel) as Triton's /config answers it."""
    options = served.batcher.options
    signature = served.bundle.signature
    onnx = served.bundle.flavor == "onnx"
    version = served.version
    priority_levels = options["priority_levels"]
    return {
        "name": served.name,
        "platform": served.platform,
        "backend": "onnxruntime" if onnx else "python",
        "version_policy": (
            {"specific": {"versions": [int(version)]}}
            if version is not None and version.isdigit()
            else {"latest": {"num_versions": 1}}
        ),
        "max_batch_size": served.max_batch_size,
        "input": [
            {
                "name": spec.name,
                "data_type": triton_datatype(spec.datatype),
                "format": "FORMAT_NONE",
                **_dims(spec.shape),
                "is_shape_tensor": False,
                "allow_ragged_batch": False,
                "optional": False,
            }
            for spec in signature.inputs
        ],
        "output": [
            {
                "name": spec.name,
                "data_type": triton_datatype(spec.datatype),
                **_dims(spec.shape),
                "label_filename": "",
                "is_shape_tensor": False,
            }
            for spec in signature.outputs
        ],
        "dynamic_batching": {
            "preferred_batch_size": sorted(options["preferred_batch_sizes"]),
            "max_queue_delay_microseconds": options["max_queue_delay_us"],
            "preserve_ordering": False,
            # Triton counts priorities from 1, and 0 levels means none.
            "priority_levels": priority_levels if priority_levels > 1 else 0,
            "default_priority_level": options["default_priority"] + 1 if priority_levels > 1 else 0,
            "default_queue_policy": {
                "timeout_action": "REJECT",
                "default_timeout_microseconds": options["default_timeout_us"],
                "allow_timeout_override": True,
                "max_queue_size": options["max_queue_size"],
            },
        },
        "instance_group": [
            {
                "name": served.name,
                "kind": "KIND_CPU",
                "count": options["instances"],
                "gpus": [],
                "profile": [],
                "passive": False,
            }
        ],
        "model_warmup": [
            {"name": f"batch size {n}", "batch_size": n, "inputs": {}, "count": 1}
            for n in warmup_sizes
        ],
        "parameters": {},
    }


def _total(count: int, ns: int) -> dict[str, int]:
    return {"count": int(count), "ns": int(ns)}


def model_stats(served: Any) -> dict[str, Any]:
    """One entry of Triton's ``model_stats`` for `served` (a ServedModel)."""
    stats = served.batcher.stats()
    counts: RequestCounts = served.counts
    batch_stats = [
        {"batch_size": int(size), **{phase: dict(phases[phase]) for phase in _PHASES}}
        for size, phases in sorted(stats["batch_stats"].items())
    ]
    return {
        "name": served.name,
        "version": served.version if served.version is not None else "",
        "last_inference": counts.last_ms,
        "inference_count": int(stats["rows"]),
        "execution_count": int(stats["batches"]),
        "inference_stats": {
            "success": _total(*counts.success),
            "fail": _total(*counts.fail),
            **{phase: dict(stats[phase]) for phase in ("queue", *_PHASES)},
            "cache_hit": _total(0, 0),
            "cache_miss": _total(0, 0),
        },
        "response_stats": {},
        "batch_stats": batch_stats,
        "memory_usage": [],
    }
