"""The demo's data: a stream of card transactions with fraud labels.

Daily seasonality (more and larger payments in the evening), skewed amounts, missing values, a
long tail of merchants. In ``regime=1`` the world has moved: amounts are larger, the country mix
changes, and fraud follows new patterns (daytime account takeovers at other merchants), so a
model of regime 0 loses accuracy and the monitor sees the features drift.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

MERCHANTS = [f"merchant_{i:03d}" for i in range(120)]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "ES", "IT", "BR", "IN", "JP"]
LABEL = "is_fraud"


def transactions(rows: int, seed: int = 7, regime: int = 0, labels: bool = True) -> pa.Table:
    """`rows` transactions; with `labels`, the column ``is_fraud`` (0 or 1) too."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, 24, rows)
    evening = np.sin((hour - 18) / 24 * 2 * np.pi)
    log_amount = rng.normal(3.0 + 0.3 * evening + 0.6 * regime, 1.0, rows)
    amount = np.exp(log_amount)
    amount[rng.random(rows) < 0.02] = np.nan
    weights = 1.0 / np.arange(1, len(MERCHANTS) + 1) ** 1.2
    merchant_id = rng.choice(len(MERCHANTS), rows, p=weights / weights.sum())
    country_p = np.full(len(COUNTRIES), 1.0)
    if regime:
        country_p[COUNTRIES.index("BR")] = country_p[COUNTRIES.index("IN")] = 6.0
    country_id = rng.choice(len(COUNTRIES), rows, p=country_p / country_p.sum())
    country = np.array(COUNTRIES, dtype=object)[country_id]
    country[rng.random(rows) < 0.01] = None
    age = rng.gamma(2.0, 400.0, rows).astype(np.float32)
    table = pa.table(
        {
            "amount": amount,
            "hour": hour.astype(np.int8),
            "account_age_days": age,
            "merchant": pa.array(np.array(MERCHANTS, dtype=object)[merchant_id].tolist()),
            "country": pa.array(country.tolist()),
            "card_id": pa.array([f"card_{i}" for i in rng.integers(0, 50_000, rows)]),
        }
    )
    if not labels:
        return table
    night = (hour < 6).astype(np.float64)
    if regime == 0:
        logit = (
            -4.2
            + 1.1 * (log_amount - 3.0)
            + 1.5 * night
            - 0.8 * np.log1p(age / 365.0)
            + 2.0 * (merchant_id % 17 == 3)
            + 1.0 * (country_id == COUNTRIES.index("NL"))
        )
    else:  # account takeovers: old accounts, daytime, other merchants
        logit = (
            -4.0
            + 0.4 * (log_amount - 3.6)
            - 1.0 * night
            + 0.9 * np.log1p(age / 365.0)
            + 2.2 * (merchant_id % 13 == 5)
            + 1.2 * (country_id == COUNTRIES.index("BR"))
        )
    fraud = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))
    return table.append_column(LABEL, pa.array(fraud.astype(np.int8)))
