"""A real Prometheus server (Debian's package) scrapes the real model server, whose /metrics
carries the MonitorCollector beside the server's own metrics; what Prometheus then reports
equals what the monitor computed.

The monitor's slices are profiles of the very requests sent to the server and of the
predictions it answered. Without a prometheus binary the test skips, saying so, unless
SEAWALL_REQUIRE_PROMETHEUS=1 (set by .ci/run), where it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from monitoring_helpers import make_bundle, running, traffic

from local_servers import free_port
from seawall.monitoring import Monitor, MonitorCollector, Rule
from seawall.profiles import Profile


def _prometheus_bin() -> str:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None
    )
    if found is None:
        reason = "the prometheus server is not installed: apt-get install prometheus"
        if os.environ.get("SEAWALL_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


class Prometheus:
    """A Prometheus server on loopback scraping one target every second."""

    def __init__(self, binary: str, folder: Path, target: str) -> None:
        self.port = free_port()
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: seawall\n"
            "    metrics_path: /metrics\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        self.log = open(folder / "prometheus.log", "wb")  # closed in stop()
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
        self.folder = folder

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def query(self, expr: str) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(self.url(f"/api/v1/query?{q}"), timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def wait_for(self, expr: str, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Polls until `expr` has a result (the first scrapes happened); no timing is asserted,
        the deadline only stops a test that would hang."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self._log_tail()}")
            try:
                result = self.query(expr)
                if result:
                    return result
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"no result for {expr!r} from prometheus: {self._log_tail()}")
            time.sleep(0.2)

    def _log_tail(self) -> str:
        self.log.flush()
        return (self.folder / "prometheus.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
        self.log.close()


@pytest.fixture
def prometheus_bin() -> str:
    return _prometheus_bin()


def _predict(url: str, table: pa.Table) -> dict[str, Any]:
    columns = {
        c: [None if isinstance(v, float) and v != v else v for v in table.column(c).to_pylist()]
        for c in table.column_names
    }
    request = urllib.request.Request(
        url + "/v1/models/fraud/predict",
        data=json.dumps({"columns": columns}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        return dict(json.loads(r.read())["outputs"])


@pytest.fixture
def server_with_monitor(rng, tmp_path) -> Iterator[tuple[str, Monitor, int]]:
    from prometheus_client import CollectorRegistry

    from seawall.serving import create_app

    reference = Profile.from_data(traffic(rng, 5000))
    monitor = Monitor(
        "fraud",
        reference,
        version=1,
        window_s=30,
        task="classification",
        rules=[Rule.drifted("*", severity="critical"), Rule.quality("accuracy", below=0.99)],
    )
    metrics = CollectorRegistry()
    metrics.register(MonitorCollector([monitor]))
    app = create_app(str(make_bundle(rng, tmp_path)), trust_code=True, metrics_registry=metrics)
    requests = 0
    with running(app) as url:
        t0 = 1_800_000_000.0
        for i in range(6):  # two windows of three 10-second slices; the second one drifts
            batch = traffic(rng, 400, shift=0.9 if i >= 3 else 0.0)
            out = _predict(url, batch)
            requests += 1
            probability = np.asarray(out["predict_proba"])[:, 1]
            predictions = pa.table(
                {"probability": probability, "label": [str(v) for v in out["predict"]]}
            )
            truth = (rng.random(batch.num_rows) < probability).astype(np.int64)
            monitor.add_labels(truth, np.asarray(out["predict"]), time=t0 + 10 * i + 1)
            monitor.add_slice(
                t0 + 10 * i,
                t0 + 10 * (i + 1),
                Profile.from_data(batch),
                Profile.from_data(predictions),
            )
        assert monitor.flush(60)
        yield url, monitor, requests
    monitor.close()


def _by(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {r["metric"][label]: float(r["value"][1]) for r in result}


def test_prometheus_scrapes_the_monitor_from_the_model_server(
    prometheus_bin, server_with_monitor, tmp_path
):
    url, monitor, requests = server_with_monitor
    latest = monitor.latest
    assert latest is not None and len(monitor.history()) == 2
    assert latest.drifted_features  # the second window moved
    target = urllib.parse.urlsplit(url).netloc
    prom = Prometheus(prometheus_bin, tmp_path, target)
    try:
        prom.wait_for('seawall_monitor_window_rows{model="fraud"}')
        assert prom.query('up{job="seawall"}')[0]["value"][1] == "1"

        scores = prom.query('seawall_monitor_drift_score{model="fraud"}')
        assert {r["metric"]["feature"] for r in scores} == set(latest.features)
        for r in scores:
            f = latest.features[r["metric"]["feature"]]
            assert r["metric"]["method"] == f.method and r["metric"]["version"] == "1"
            assert float(r["value"][1]) == f.drift_score
        drifted = _by(prom.query("seawall_monitor_feature_drifted"), "feature")
        assert drifted == {n: float(bool(f.drifted)) for n, f in latest.features.items()}
        thresholds = _by(prom.query("seawall_monitor_drift_threshold"), "feature")
        assert thresholds == {n: f.threshold for n, f in latest.features.items()}
        missing = _by(prom.query("seawall_monitor_missing_ratio"), "feature")
        assert missing == {n: f.missing_share for n, f in latest.features.items()}
        (share,) = prom.query("seawall_monitor_drift_share_ratio")
        assert float(share["value"][1]) == latest.drift_share
        (rows,) = prom.query("seawall_monitor_window_rows")
        assert float(rows["value"][1]) == latest.rows == 1200
        (end,) = prom.query("seawall_monitor_window_end_timestamp_seconds")
        assert float(end["value"][1]) == latest.end

        quality = _by(prom.query("seawall_monitor_quality"), "metric")
        assert quality == latest.quality and set(quality) >= {"accuracy", "f1"}
        quantiles = _by(prom.query('seawall_monitor_prediction{output="probability"}'), "quantile")
        expected = latest.predictions["probability"]["quantiles"]
        assert quantiles == {q: v for q, v in expected.items()}
        (count,) = prom.query('seawall_monitor_prediction_count{output="probability"}')
        assert float(count["value"][1]) == 1200
        classes = _by(prom.query("seawall_monitor_prediction_class_ratio"), "class")
        assert classes == latest.predictions["label"]["shares"]

        firing = prom.query("seawall_monitor_alert_firing")
        assert {(r["metric"]["rule"], r["metric"]["subject"]) for r in firing} == {
            (a.rule, a.subject or "") for a in monitor.alerts()
        }
        assert {r["metric"]["subject"] for r in firing} >= set(latest.drifted_features)
        (slices,) = prom.query("seawall_monitor_slices_total")
        assert float(slices["value"][1]) == 6

        # the server's own metrics come through the same scrape
        served = prom.query('seawall_inference_requests_total{model="fraud",code="200"}')
        assert sum(float(r["value"][1]) for r in served) == requests
    finally:
        prom.stop()
