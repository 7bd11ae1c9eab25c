"""`seawall demo`: what works today, end to end, on generated data (no network, no setup).

It generates card transactions, fits a feature pipeline on them, transforms them in batch,
serves single requests through the one-row path, and saves and reloads the fitted state, checking
at each step that the numbers agree. Issue 6 grows this into the full loop (train, register,
serve, detect drift, retrain, promote).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

MERCHANTS = [f"merchant_{i:03d}" for i in range(120)]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "ES", "IT", "BR", "IN", "JP"]


def generate_transactions(rows: int, seed: int = 7) -> pa.Table:
    """Card transactions with daily seasonality, skewed amounts, missing values and rare merchants."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, 24, rows)
    # More and larger payments in the evening; amounts are log-normal with a heavy tail.
    amount = rng.lognormal(3.0 + 0.3 * np.sin((hour - 18) / 24 * 2 * np.pi), 1.0, rows)
    amount[rng.random(rows) < 0.02] = np.nan
    weights = 1.0 / np.arange(1, len(MERCHANTS) + 1) ** 1.2
    merchant = np.array(MERCHANTS, dtype=object)[
        rng.choice(len(MERCHANTS), rows, p=weights / weights.sum())
    ]
    country = np.array(COUNTRIES, dtype=object)[rng.integers(0, len(COUNTRIES), rows)]
    country[rng.random(rows) < 0.01] = None
    return pa.table(
        {
            "amount": amount,
            "hour": hour.astype(np.int8),
            "account_age_days": rng.gamma(2.0, 400.0, rows).astype(np.float32),
            "merchant": pa.array(merchant.tolist()),
            "country": pa.array(country.tolist()),
            "card_id": pa.array([f"card_{i}" for i in rng.integers(0, 50_000, rows)]),
        }
    )


def build_pipeline() -> Any:
    import seawall as sw

    return sw.FeaturePipeline(
        {
            "amount": [sw.Impute("median", add_indicator=True), sw.Log1p(), sw.StandardScale()],
            "hour": sw.Bucketize(boundaries=[6, 12, 18]),
            "account_age_days": [sw.Clip(quantiles=(0.01, 0.99)), sw.RobustScale()],
            "merchant": sw.OneHot(min_frequency=200, unknown="other"),
            "country": [sw.Impute("constant", fill_value="unknown"), sw.Categorify()],
            "card_id": sw.HashBucket(4096),
        }
    )


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def run(rows: int = 500_000, echo: Callable[[str], None] = print) -> dict[str, float]:
    """Runs the demo; returns its timings in seconds. Raises if any check fails."""
    import seawall as sw

    info = sw.build_info()
    echo(
        f"seawall {info['version']}: {info['num_threads']} threads, SIMD {info['simd']}, "
        f"CUDA {'built' if info['cuda_built'] else 'not built'} ({info['cuda_devices']} devices)"
    )
    table, t_gen = _timed(lambda: generate_transactions(rows))
    echo(f"1. generated {rows:,} card transactions ({table.nbytes / 1e6:.0f} MB) in {t_gen:.2f} s")

    pipe = build_pipeline()
    _, t_fit = _timed(lambda: pipe.fit(table))
    echo(
        f"2. fit the feature pipeline in {t_fit:.2f} s: {len(pipe.feature_names_out_)} features "
        f"from {pipe.n_features_in_} columns"
    )

    X, t_transform = _timed(lambda: pipe.transform(table))
    echo(f"3. transformed every row in {t_transform:.2f} s -> float32 matrix {X.shape}")

    requests = table.slice(0, 2_000).to_pylist()
    start = time.perf_counter()
    served = np.stack([pipe.transform_one(r) for r in requests])
    per_request = (time.perf_counter() - start) / len(requests)
    if not np.array_equal(served.view(np.uint32), X[: len(requests)].view(np.uint32)):
        raise AssertionError("the one-row path disagrees with the batch path")
    echo(
        f"4. served {len(requests):,} single requests at {per_request * 1e6:.1f} us each; "
        "bit-identical to the batch path"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.json"
        pipe.save(path)
        reloaded = sw.FeaturePipeline.load(path)
        again = reloaded.transform(table.slice(0, 10_000))
        if not np.array_equal(again.view(np.uint32), X[:10_000].view(np.uint32)):
            raise AssertionError("the reloaded pipeline disagrees with the original")
        echo(
            f"5. saved and reloaded the fitted state ({path.stat().st_size / 1e3:.1f} kB of JSON); same numbers"
        )
    return {
        "generate": t_gen,
        "fit": t_fit,
        "transform": t_transform,
        "transform_one": per_request,
    }
