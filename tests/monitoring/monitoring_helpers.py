"""Monitoring test helpers: generated traffic (numbers with missing values, categories,
predictions) cut into slices, a real HTTP receiver for webhooks, a real uvicorn server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from local_servers import WebhookReceiver, closed_port_url  # noqa: F401  (re-exported)
from seawall.profiles import Profile

COUNTRIES = np.array(["US", "GB", "DE", "FR", "BR", "IN"], dtype=object)


def traffic(
    rng: np.random.Generator, n: int, shift: float = 0.0, missing: float = 0.05
) -> pa.Table:
    """`n` rows: a skewed amount (shifted by `shift` in log space, some NaN and null), an age,
    and a country whose mix moves with `shift`."""
    amount = rng.lognormal(3.0 + shift, 1.0, n)
    amount[rng.random(n) < missing] = np.nan
    amount_mask = rng.random(n) < missing / 2
    p = np.array([6, 5, 4, 3, 1, 1], dtype=float)
    p[4] += 8 * shift
    country = COUNTRIES[rng.choice(len(COUNTRIES), n, p=p / p.sum())]
    return pa.table(
        {
            "amount": pa.array(amount, mask=amount_mask),
            "age": rng.gamma(2.0, 400.0, n),
            "country": pa.array(country.tolist()),
        }
    )


@dataclass
class Slice:
    start: float
    end: float
    data: pa.Table
    predictions: pa.Table
    features: Profile = field(init=False)
    prediction_profile: Profile = field(init=False)

    def __post_init__(self) -> None:
        self.features = Profile.from_data(self.data)
        self.prediction_profile = Profile.from_data(self.predictions)


def make_slices(
    rng: np.random.Generator,
    count: int,
    slice_s: float,
    t0: float,
    shift_of: Any = lambda i: 0.0,
    rows: tuple[int, int] = (150, 400),
) -> list[Slice]:
    out = []
    for i in range(count):
        n = int(rng.integers(*rows))
        shift = float(shift_of(i))
        data = traffic(rng, n, shift)
        predictions = pa.table(
            {
                "probability": rng.beta(2 + 4 * shift, 8, n),
                "label": pa.array(np.where(rng.random(n) < 0.2 + shift / 3, "1", "0").tolist()),
            }
        )
        out.append(Slice(t0 + i * slice_s, t0 + (i + 1) * slice_s, data, predictions))
    return out


def merge_all(profiles: list[Profile]) -> Profile:
    merged = profiles[0]
    for p in profiles[1:]:
        merged = merged.merge(p)
    return merged


def make_bundle(rng: np.random.Generator, folder: Any) -> Any:
    """A served model for the real server: a feature pipeline over the traffic's columns and
    the demo's numpy logistic regression (a trusted pickled Python model)."""
    import seawall as sw
    from seawall.demo.fraud_model import LogisticModel
    from seawall.serving import save_bundle

    train = traffic(rng, 3000)
    pipe = sw.FeaturePipeline(
        {
            "amount": [sw.Impute("median"), sw.Log1p(), sw.StandardScale()],
            "age": sw.StandardScale(),
            "country": sw.OneHot(),
        }
    ).fit(train)
    y = (rng.random(train.num_rows) < 0.3).astype(np.int64)
    model = LogisticModel().fit(pipe.transform(train), y)
    return save_bundle(folder / "fraud", python_model=model, pipeline=pipe, version=1)


# --- webhooks ---------------------------------------------------------------------------------


# The webhook receiver and the refused URL are shared with the registry's webhook tests.
Receiver = WebhookReceiver


# --- a real server ---------------------------------------------------------------------------


def running(app: Any) -> Any:
    """Runs `app` with uvicorn on a free loopback port in a thread; yields its base URL."""
    from seawall.serving import serve_in_thread

    return serve_in_thread(app, http="h11")
