"""A traffic policy's per-arm figures in a monitor's windows: each window's arms add up what the
server sent for its slices (counts exactly, latency quantiles within the figures' 2% of numpy's),
and read back equal from the history."""

from __future__ import annotations

import numpy as np
import pytest
from monitoring_helpers import make_slices, traffic

from seawall.errors import InvalidInputError
from seawall.monitoring import Monitor
from seawall.profiles import Profile
from seawall.serving.figures import ArmFigures


def _figures(rng, version, n):
    seconds = rng.lognormal(np.log(3e-3), 0.8, n)
    errors = rng.random(n) < 0.05
    classes = rng.integers(0, 2, n)
    f = ArmFigures(version)
    for s, e, c in zip(seconds, errors, classes, strict=True):
        f.add_request(bool(e), float(s))
        if not e:
            f.add_predictions({"label": np.array([c])})
    return f, seconds, errors, classes[~errors]


def test_windows_hold_each_arms_figures(any_registry, rng):
    reference = Profile.from_data(traffic(rng, 2000))
    monitor = Monitor("fraud", reference, registry=any_registry, window_s=20, background=False)
    sent: dict[int, dict[str, list]] = {}
    for i, s in enumerate(make_slices(rng, 6, 10.0, 1000.0, rows=(50, 80))):
        arms = {}
        for arm, version in (("primary", "1"), ("canary", "2")):
            f, seconds, errors, classes = _figures(rng, version, int(rng.integers(5, 60)))
            arms[arm] = f
            window = sent.setdefault(i // 2, {}).setdefault(arm, [[], [], []])
            window[0].append(seconds), window[1].append(errors), window[2].append(classes)
        monitor.add_arms(s.start, s.end, arms)
        monitor.add_slice(s.start, s.end, s.features, s.prediction_profile)
    monitor.advance(float("inf"))
    live = list(monitor._history)
    assert len(live) == 3
    for w, report in enumerate(live):
        assert set(report.arms) == {"primary", "canary"}
        for arm, (seconds, errors, classes) in sent[w].items():
            seconds, errors = np.concatenate(seconds), np.concatenate(errors)
            classes = np.concatenate(classes)
            got = report.arms[arm]
            assert got["version"] == ("1" if arm == "primary" else "2")
            assert got["requests"] == len(seconds)
            assert got["errors"] == int(errors.sum())
            for q in (0.5, 0.9, 0.99):
                exact = np.quantile(seconds, q, method="inverted_cdf")
                assert got["latency_s"][f"p{round(q * 100)}"] == pytest.approx(exact, rel=0.021)
            assert got["classes"] == pytest.approx(
                {str(c): float(np.mean(classes == c)) for c in np.unique(classes)}
            )
    stored = monitor.history()
    assert [w.arms for w in stored] == [w.arms for w in live]
    monitor.close()


def test_bad_arm_figures_are_refused(rng):
    monitor = Monitor("fraud", Profile.from_data(traffic(rng, 200)), background=False)
    with pytest.raises(InvalidInputError, match="ArmFigures"):
        monitor.add_arms(0, 10, {"canary": {"requests": 3}})
    with pytest.raises(InvalidInputError, match="before it starts"):
        monitor.add_arms(10, 0, {})
    monitor.close()
