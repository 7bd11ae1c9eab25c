"""Delayed labels joined to the payload log by request id: the join against a pandas merge
oracle (ids as text and as integers, a label per request or per row, CSV and Parquet labels,
arms answering one request twice), the quality per arm in the Monitor's windows against
scikit-learn, rules on one arm, /metrics, the history, ``seawall labels join``, and a real
server end to end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from monitoring_helpers import make_bundle, running, traffic
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from seawall.bundles import Signature, TensorSpec
from seawall.cli import main
from seawall.errors import InvalidInputError, MissingColumnError
from seawall.monitoring import CallbackSink, Monitor, MonitorCollector, Rule
from seawall.monitoring.labels import join_labels, quality_by_arm
from seawall.profiles import Profile
from seawall.serving import PayloadLog, create_app, read_payloads

SIGNATURE = Signature(
    (TensorSpec("amount", "FP64", (-1,)), TensorSpec("country", "BYTES", (-1,))),
    (TensorSpec("label", "INT64", (-1,)), TensorSpec("probabilities", "FP32", (-1, 2))),
    (),
)
T0 = 1_800_000_000.0


class Logged:
    """What the test logged: one entry per (request, arm), each row with its outputs."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []  # request_id, row, arm, time, status, label, score


def write_log(rng: np.random.Generator, folder: Path, n: int, window_s: float = 60.0) -> Logged:
    """`n` requests over two windows; a share also answered by a shadow arm under the same id,
    some answered with an error. Ids are digit strings (labels may give them as integers)."""
    logged = Logged()
    clock = [T0]
    log = PayloadLog(folder, clock=lambda: clock[0])
    quality = {"primary": 2.0, "canary": 0.5, "shadow": 1.0}  # how well each arm separates
    for i in range(n):
        rid = str(int(rng.integers(10**9, 10**10)) * 100 + i)  # unique
        rows = int(rng.integers(1, 4))
        arms = ["canary" if rng.random() < 0.3 else "primary"]
        if rng.random() < 0.4:
            arms.append("shadow")
        t = T0 + float(rng.uniform(0, 2 * window_s))
        truth_hint = rng.random(rows) < 0.4
        for arm in arms:
            status = 500 if rng.random() < 0.05 else 200
            z = rng.normal(quality[arm] * (truth_hint - 0.5), 1.0)
            p1 = (1 / (1 + np.exp(-z))).astype(np.float32)
            p1[rng.random(rows) < 0.1] = np.float32(0.5)  # ties
            outputs = {
                "label": (p1 > 0.5).astype(np.int64),
                "probabilities": np.column_stack([1 - p1, p1]).astype(np.float32),
            }
            assert log.record(
                model="fraud",
                version="1",
                arm=arm,
                request_id=rid,
                signature=SIGNATURE,
                inputs={
                    "amount": rng.lognormal(3, 1, rows).tolist(),
                    "country": rng.choice(["US", "NL"], rows).tolist(),
                },
                outputs=outputs if status == 200 else None,
                status=status,
                error=None if status == 200 else "the model failed",
                time=t,
            )
            for r in range(rows):
                logged.rows.append(
                    {
                        "request_id": rid,
                        "row": r,
                        "arm": arm,
                        "time": t,
                        "status": status,
                        "hint": bool(truth_hint[r]),
                        "score": float(p1[r]),
                        "label": int(outputs["label"][r]),
                    }
                )
    log.close()
    assert log.stats()["written"] == log.stats()["sampled"]
    return logged


def make_labels(rng: np.random.Generator, logged: Logged, share: float = 0.7) -> pd.DataFrame:
    """A label for a share of the requests (the outcome follows the hint), and some ids that
    were never logged."""
    ids = sorted({r["request_id"] for r in logged.rows})
    hints = {r["request_id"]: r["hint"] for r in logged.rows if r["row"] == 0}
    chosen = [i for i in ids if rng.random() < share]
    outcome = [int(hints[i]) if rng.random() < 0.85 else int(not hints[i]) for i in chosen]
    strangers = [str(10**12 + k) for k in range(5)]
    frame = pd.DataFrame(
        {"request_id": chosen + strangers, "is_fraud": outcome + [1] * len(strangers)}
    )
    return frame.sample(frac=1.0, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)


def pandas_oracle(folder: Path, labels: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    payloads = read_payloads(folder).to_pandas()
    return payloads.merge(labels, how="inner", left_on=on, right_on=on)


def assert_joined(joined: pa.Table, expected: pd.DataFrame) -> None:
    """The join equals the oracle's merge. pandas holds an integer column with nulls (error
    records) as float64, and the merge keeps that even when no null is left: such a column is
    compared as the integers it holds."""
    got = joined.to_pandas()
    for name in got.columns:
        if got[name].dtype.kind in "iu" and expected[name].dtype.kind == "f":
            assert not expected[name].isna().any(), name
            expected = expected.assign(**{name: expected[name].astype(got[name].dtype)})
    pd.testing.assert_frame_equal(got, expected)


def test_join_matches_a_pandas_merge(rng, tmp_path):
    folder = tmp_path / "payloads"
    logged = write_log(rng, folder, 150)
    labels = make_labels(rng, logged)
    joined = join_labels(folder, pa.Table.from_pandas(labels), label_column="is_fraud")
    expected = pandas_oracle(folder, labels, ["request_id"])
    assert_joined(joined, expected)
    assert set(joined.column("arm").to_pylist()) == {"primary", "canary", "shadow"}

    # Integer ids in the labels match the same digits as text; CSV and Parquet files alike.
    as_int = labels.assign(request_id=labels["request_id"].astype(np.int64))
    pq.write_table(pa.Table.from_pandas(as_int), tmp_path / "labels.parquet")
    pacsv.write_csv(pa.Table.from_pandas(labels), tmp_path / "labels.csv")
    for path in (tmp_path / "labels.parquet", tmp_path / "labels.csv"):
        again = join_labels(folder, path, label_column="is_fraud")
        assert_joined(again, expected)


def test_join_by_request_and_row(rng, tmp_path):
    folder = tmp_path / "payloads"
    logged = write_log(rng, folder, 60)
    pairs = sorted({(r["request_id"], r["row"]) for r in logged.rows})
    chosen = [p for p in pairs if rng.random() < 0.5]
    labels = pd.DataFrame(
        {
            "id": [p[0] for p in chosen],
            "row_in_request": np.array([p[1] for p in chosen], dtype=np.int64),
            "y": rng.integers(0, 2, len(chosen)),
        }
    )
    joined = join_labels(
        folder, labels, id_column="id", label_column="y", row_column="row_in_request"
    )
    oracle_labels = labels.rename(columns={"id": "request_id", "row_in_request": "row"})
    oracle_labels["row"] = oracle_labels["row"].astype(np.int32)
    expected = pandas_oracle(folder, oracle_labels, ["request_id", "row"])
    assert_joined(joined, expected)


def test_join_errors(rng, tmp_path):
    folder = tmp_path / "payloads"
    logged = write_log(rng, folder, 10)
    rid = logged.rows[0]["request_id"]
    twice = pd.DataFrame({"request_id": [rid, rid], "label": [0, 1]})
    with pytest.raises(InvalidInputError, match="more than once"):
        join_labels(folder, twice)
    with pytest.raises(MissingColumnError, match="'is_fraud'"):
        join_labels(
            folder, pd.DataFrame({"request_id": [rid], "label": [1]}), label_column="is_fraud"
        )
    with pytest.raises(MissingColumnError, match="'id'"):
        join_labels(folder, pd.DataFrame({"request_id": [rid], "label": [1]}), id_column="id")
    with pytest.raises(InvalidInputError, match="no 'request_id'"):
        join_labels(folder, pd.DataFrame({"request_id": [None], "label": [1]}))
    with pytest.raises(InvalidInputError, match="payload column"):
        join_labels(folder, pd.DataFrame({"request_id": [rid], "arm": ["x"]}), label_column="arm")
    with pytest.raises(InvalidInputError, match="no labels file"):
        join_labels(folder, tmp_path / "nope.parquet")


def oracle_quality(rows: list[dict[str, Any]], labels: dict[str, int]) -> dict[str, float]:
    y = np.array([labels[r["request_id"]] for r in rows])
    s = np.array([r["score"] for r in rows], dtype=np.float32)
    p = np.array([r["label"] for r in rows])
    out = {"accuracy": accuracy_score(y, p), "log_loss": sk_log_loss(y, s, labels=[0, 1])}
    if 0 < y.sum() < len(y):
        out["auc"] = roc_auc_score(y, s)
    return out


def labelled(logged: Logged, labels: pd.DataFrame) -> tuple[dict[str, int], list[dict[str, Any]]]:
    by_id = dict(zip(labels["request_id"], labels["is_fraud"], strict=True))
    rows = [r for r in logged.rows if r["request_id"] in by_id and r["status"] == 200]
    return by_id, rows


def test_monitor_quality_per_arm_and_window_matches_scikit_learn(rng, tmp_path):
    folder = tmp_path / "payloads"
    logged = write_log(rng, folder, 300, window_s=60)
    labels = make_labels(rng, logged)
    reference = Profile.from_data(traffic(rng, 500))
    monitor = Monitor("fraud", reference, window_s=60, task="classification", background=False)
    added = monitor.add_labels(
        labels=labels,
        payloads=folder,
        label_column="is_fraud",
        score="probabilities_1",
        prediction="output.label",
    )
    by_id, rows = labelled(logged, labels)
    assert added == len(rows)
    monitor.advance(math.inf)
    history = monitor.history()
    assert [(w.start, w.end) for w in history] == [(T0, T0 + 60), (T0 + 60, T0 + 120)]
    for window in history:
        mine = [r for r in rows if window.start <= r["time"] < window.end]
        assert window.labels == len(mine)
        overall = oracle_quality(mine, by_id)
        for metric, value in overall.items():
            assert window.quality[metric] == pytest.approx(value, rel=1e-6), metric
        assert set(window.quality_by_arm) == {r["arm"] for r in mine}
        for arm, metrics in window.quality_by_arm.items():
            of_arm = [r for r in mine if r["arm"] == arm]
            assert window.labels_by_arm[arm] == len(of_arm)
            want = oracle_quality(of_arm, by_id)
            assert set(want) <= set(metrics)
            for metric, value in want.items():
                assert metrics[metric] == pytest.approx(value, rel=1e-6), (arm, metric)
            if "auc" not in want:  # one class only: undefined, left out
                assert "auc" not in metrics


def test_scores_and_arms_as_arrays(rng):
    reference = Profile.from_data(traffic(rng, 500))
    monitor = Monitor("fraud", reference, window_s=10, task="classification", background=False)
    n = int(rng.integers(200, 800))
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    arms = rng.choice(["primary", "canary"], n).astype(object)
    times = 100 + rng.uniform(0, 10, n)
    assert monitor.add_labels(y, y_score=s, arm=arms, time=times) == n
    monitor.advance(math.inf)
    (window,) = monitor.history()
    assert window.quality["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert window.quality["accuracy"] == pytest.approx(accuracy_score(y, s > 0.5), abs=1e-12)
    for arm in ("primary", "canary"):
        mine = arms == arm
        assert window.quality_by_arm[arm]["log_loss"] == pytest.approx(
            sk_log_loss(y[mine], s[mine], labels=[0, 1]), rel=1e-9
        )
        assert window.labels_by_arm[arm] == int(mine.sum())
    # The existing form is unchanged: y_true and y_pred, one time, no arm.
    monitor.add_labels([1, 0, 1], [1, 1, 1], time=205.0)
    monitor.advance(math.inf)
    last = monitor.history()[-1]
    assert last.quality["accuracy"] == pytest.approx(2 / 3) and last.quality_by_arm == {}
    for bad in (
        {"y_true": [1, 0], "y_score": [0.5]},
        {"y_true": [1, 0], "y_score": [0.5, 1.2]},
        {"y_true": [1, 0]},
        {"y_true": [1, 0], "y_pred": [1, 0], "arm": ["a"]},
        {"y_true": [1, 0], "y_pred": [1, 0], "arm": ["a", ""]},
        {"y_true": [1, 0], "y_pred": [1, 0], "time": [1.0, float("nan")]},
        {"labels": pd.DataFrame({"request_id": ["1"], "label": [1]})},
    ):
        with pytest.raises(InvalidInputError):
            monitor.add_labels(**bad)
    regression = Monitor("price", reference, window_s=10, task="regression", background=False)
    with pytest.raises(InvalidInputError, match="classification"):
        regression.add_labels([1.0], [1.0], y_score=[0.5])


def test_a_rule_on_one_arm_fires_for_that_arm_only(rng, tmp_path):
    reference = Profile.from_data(traffic(rng, 500))
    events: list[dict[str, Any]] = []
    rules = [
        Rule.quality("auc", below=0.75, arm="canary"),
        Rule.quality("auc", below=0.75, arm="primary"),
        Rule.quality("auc", below=0.5),
    ]
    monitor = Monitor(
        "fraud",
        reference,
        window_s=10,
        task="classification",
        rules=rules,
        sinks=[CallbackSink(events.append)],
        background=False,
    )
    n = 2000
    y = rng.integers(0, 2, n)
    good = np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0, 1)
    random = rng.random(n)
    monitor.add_labels(y, y_score=good, arm="primary", time=5.0)
    monitor.add_labels(y, y_score=random, arm="canary", time=5.0)
    monitor.advance(math.inf)
    (alert,) = monitor.alerts()
    assert alert.rule == "quality:auc@canary below 0.75" and alert.subject == "auc"
    assert alert.value == pytest.approx(roc_auc_score(y, random), abs=1e-12)
    assert "of arm 'canary'" in alert.message
    assert [e["alert"]["rule"] for e in events] == [alert.rule]


def test_per_arm_quality_on_metrics_and_in_the_history(rng, registry, tmp_path):
    reference = traffic(rng, 500)
    bundle = make_bundle(rng, tmp_path)
    registry.register_model("fraud", bundle, profile=Profile.from_data(reference))
    monitor = Monitor(
        "fraud", registry=registry, window_s=10, task="classification", background=False
    )
    y = rng.integers(0, 2, 400)
    s = rng.random(400)
    arms = np.where(rng.random(400) < 0.5, "primary", "canary").astype(object)
    monitor.add_labels(y, y_score=s, arm=arms, time=T0 + 1)
    monitor.advance(math.inf)
    window = monitor.latest
    assert window is not None and set(window.quality_by_arm) == {"primary", "canary"}

    metrics = CollectorRegistry()
    metrics.register(MonitorCollector([monitor]))
    samples = [
        s
        for family in text_string_to_metric_families(generate_latest(metrics).decode())
        for s in family.samples
    ]
    quality = {
        (x.labels["arm"], x.labels["metric"]): x.value
        for x in samples
        if x.name == "seawall_monitor_arm_quality"
    }
    expected = {
        (arm, metric): value
        for arm, values in window.quality_by_arm.items()
        for metric, value in values.items()
    }
    assert quality == pytest.approx(expected)
    counts = {x.labels["arm"]: x.value for x in samples if x.name == "seawall_monitor_arm_labels"}
    assert counts == {arm: float(n) for arm, n in window.labels_by_arm.items()}

    reopened = Monitor("fraud", registry=registry, window_s=10, background=False)
    stored = reopened.history()[-1]  # read back from the registry's database
    assert stored.quality_by_arm == window.quality_by_arm
    assert stored.labels_by_arm == window.labels_by_arm


def test_seawall_labels_join(rng, tmp_path):
    folder = tmp_path / "payloads"
    logged = write_log(rng, folder, 120)
    labels = make_labels(rng, logged)
    pq.write_table(pa.Table.from_pandas(labels), tmp_path / "labels.parquet")
    out = tmp_path / "joined.parquet"
    args = [
        "labels",
        "join",
        "--payloads",
        str(folder),
        "--labels",
        str(tmp_path / "labels.parquet"),
        "--label-column",
        "is_fraud",
        "--score",
        "probabilities_1",
        "--prediction",
        "label",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    expected = pandas_oracle(folder, labels, ["request_id"])
    assert_joined(pq.read_table(out), expected)
    by_id, rows = labelled(logged, labels)
    printed = {
        line.split(":")[0].strip(): line.split(":", 1)[1] for line in result.output.splitlines()[1:]
    }
    assert set(printed) == {r["arm"] for r in rows}
    for arm, text in printed.items():
        want = oracle_quality([r for r in rows if r["arm"] == arm], by_id)
        figures = dict(part.strip().rsplit(" ", 1) for part in text.split(",")[1:])
        for metric, value in want.items():
            assert float(figures[metric]) == pytest.approx(value, abs=1e-4), (arm, metric)
    # The joined file is replaced whole; it may not go where it would be read as payloads.
    bad = CliRunner().invoke(main, [*args[:-1], str(folder / "fraud" / "joined.parquet")])
    assert bad.exit_code == 2 and "outside the payload folder" in bad.output


def test_a_real_server_end_to_end(rng, tmp_path, monkeypatch):
    """Requests to a real server, answered by two arms; labels later; per-arm quality against
    scikit-learn on what the client itself received."""
    from seawall.serving import payload_log as payload_module
    from seawall.serving.served_model import ServedModel

    real_run = ServedModel.run

    async def routed(self: ServedModel, x: np.ndarray, options: Any) -> Any:
        if payload_module.current() is not None:  # a request's (not the warm-up's)
            payload_module.set_arm("canary" if rng_arm.pop(0) else "primary")
        return await real_run(self, x, options)

    monkeypatch.setattr(ServedModel, "run", routed)
    n = 120
    rng_arm = [bool(v) for v in rng.random(n) < 0.3]
    arm_of = ["canary" if v else "primary" for v in rng_arm]
    folder = tmp_path / "payloads"
    app = create_app(
        str(make_bundle(rng, tmp_path)),
        trust_code=True,
        payload_log=PayloadLog(folder),
        profile_slice_s=None,
    )
    batch = traffic(rng, n)
    received = []
    with running(app) as url, httpx.Client(base_url=url) as client:
        for i, row in enumerate(batch.to_pylist()):
            row = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            answer = client.post("/v1/models/fraud/predict", json={"records": [row]}).json()
            received.append((answer["id"], answer["outputs"], arm_of[i]))
    proba = np.array([o["predict_proba"][0][1] for _, o, _ in received])
    truth = (rng.random(n) < proba).astype(np.int64)
    labels = pd.DataFrame({"request_id": [rid for rid, _, _ in received], "is_fraud": truth})
    joined = join_labels(folder, labels, label_column="is_fraud")
    assert_joined(joined, pandas_oracle(folder, labels, ["request_id"]))
    got = quality_by_arm(joined, "is_fraud", score="predict_proba_1", prediction="predict")
    arms = np.array(arm_of)
    predicted = np.array([o["predict"][0] for _, o, _ in received])
    for arm in ("primary", "canary"):
        mine = arms == arm
        assert got[arm]["labels"] == mine.sum()
        assert got[arm]["accuracy"] == pytest.approx(accuracy_score(truth[mine], predicted[mine]))
        assert got[arm]["log_loss"] == pytest.approx(
            sk_log_loss(truth[mine], proba[mine], labels=[0, 1]), rel=1e-9
        )
        if 0 < truth[mine].sum() < mine.sum():
            assert got[arm]["auc"] == pytest.approx(roc_auc_score(truth[mine], proba[mine]))
