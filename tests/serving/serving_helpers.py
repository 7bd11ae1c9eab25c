"""Helpers the serving tests import by name (fixtures live in conftest.py): generated
transactions as JSON records, the feature pipeline, the oracle comparison, and a real server
(in a thread, or `seawall serve` in a subprocess)."""

from __future__ import annotations

from typing import Any

import numpy as np

import seawall as sw

MERCHANTS = np.array([f"merchant_{i:02d}" for i in range(12)], dtype=object)


def transactions(rng: np.random.Generator, n: int) -> dict[str, list[Any]]:
    """Raw records as JSON would carry them: floats with some missing, strings, ints."""
    amount = np.round(rng.lognormal(3, 1, n), 2)
    merchant = MERCHANTS[rng.integers(0, len(MERCHANTS), n)]
    return {
        "amount": [
            None if m else float(a) for a, m in zip(amount, rng.random(n) < 0.05, strict=True)
        ],
        "merchant": [
            None if m else str(s) for s, m in zip(merchant, rng.random(n) < 0.05, strict=True)
        ],
        "age": [int(v) for v in rng.integers(18, 90, n)],
    }


def records(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def pipeline() -> sw.FeaturePipeline:
    return sw.FeaturePipeline(
        {
            "amount": [sw.Impute("median"), sw.Log1p(), sw.StandardScale()],
            "merchant": [sw.Impute("constant", fill_value="unknown"), sw.OneHot()],
            "age": sw.StandardScale(),
        }
    )


def assert_matches_oracle(outputs: dict[str, Any], expected: dict[str, np.ndarray]) -> None:
    """Probabilities to float32 precision (ONNX computes in float32, sklearn in float64); labels
    exactly, except where the two probabilities are too close to call."""
    proba = np.asarray(outputs["probabilities"], dtype=np.float64).reshape(
        expected["probabilities"].shape
    )
    np.testing.assert_allclose(proba, expected["probabilities"], rtol=0, atol=1e-5)
    label = np.asarray(outputs["label"]).reshape(-1)
    clear = np.abs(expected["probabilities"][:, 1] - 0.5) > 1e-4
    np.testing.assert_array_equal(label[clear], expected["label"][clear])


def running(app: Any) -> Any:
    """Runs `app` with uvicorn on a free loopback port in a thread; yields its base URL."""
    from seawall.serving import serve_in_thread

    return serve_in_thread(app, http="h11")


def seawall_serve(*args: str) -> Any:
    """Runs ``seawall serve ARGS`` in a subprocess on a free loopback port until it is ready;
    yields its base URL and a list that holds its output (stdout and stderr) once it stopped."""
    from local_servers import seawall_command

    return seawall_command("serve", *args, ready="/v2/health/ready")
