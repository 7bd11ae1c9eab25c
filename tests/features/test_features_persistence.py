"""save/load: identical transforms after a round trip, in this process and in a fresh one;
readable, versioned JSON with a SHA-256; corruption and newer versions refused; atomic writes."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

import seawall as sw
from seawall.errors import IntegrityError, UnsupportedVersionError


def _fit(features, table):
    try:
        return sw.FeaturePipeline(features).fit(table)
    except sw.errors.InvalidInputError:
        reject()  # chains that overflow on the drawn values are not what this test is about
        raise


def _transform_or_error(pipe, table):
    try:
        return pipe.transform(table)
    except sw.errors.InvalidInputError as exc:
        return str(exc)


def _digest(document: dict) -> str:
    """The documented hash: SHA-256 of the canonical JSON of everything but the hash itself."""
    state = {k: v for k, v in document.items() if k != "sha256"}
    text = json.dumps(
        state, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@given(st.data())
def test_round_trip_in_process_is_identical(h, tmp_path_factory, data):
    table, new_table, features = data.draw(h.fitted_cases(), label="case")
    pipe = _fit(features, table)
    path = tmp_path_factory.mktemp("rt") / "pipe.json"
    pipe.save(path)
    loaded = sw.FeaturePipeline.load(path)
    assert loaded.to_dict() == pipe.to_dict()
    assert loaded.feature_names_out_ == pipe.feature_names_out_
    assert list(loaded.feature_names_in_) == list(pipe.feature_names_in_)
    for t in (table, new_table):
        a, b = _transform_or_error(pipe, t), _transform_or_error(loaded, t)
        if isinstance(a, str):
            assert a == b
        else:
            h.assert_bits_equal(a, b)
        for i in range(min(t.num_rows, 3)):
            row = t.slice(i, 1).to_pylist()[0]
            try:
                expected = pipe.transform_one(row)
            except sw.errors.InvalidInputError:
                with pytest.raises(sw.errors.InvalidInputError):
                    loaded.transform_one(row)
                continue
            h.assert_bits_equal(loaded.transform_one(row), expected)
    # A second save of the loaded pipeline writes the same document.
    again = path.with_name("again.json")
    loaded.save(again)
    assert json.loads(again.read_text("utf-8")) == json.loads(path.read_text("utf-8"))


def _wide_pipeline():
    return sw.FeaturePipeline(
        [
            (
                "x",
                [
                    sw.Impute("median", add_indicator=True),
                    sw.Clip(quantiles=(0.01, 0.99)),
                    sw.Log1p(),
                    sw.StandardScale(),
                ],
            ),
            ("x_rob", "x", [sw.Impute("mean"), sw.RobustScale(quantile_range=(10, 90))]),
            ("x_bin", "x", [sw.Impute("constant", fill_value=-0.25), sw.Bucketize(n_bins=8)]),
            ("y", [sw.MinMaxScale(clip=True)]),
            ("y_b", "y", sw.Bucketize(boundaries=[-1.0, 0.0, 0.5, 2.0])),
            ("s", sw.OneHot(min_frequency=0.01, max_categories=10, unknown="other")),
            (
                "s_id",
                "s",
                [sw.Impute("most_frequent", add_indicator=True), sw.Categorify(min_frequency=2)],
            ),
            ("s_hash", "s", sw.HashBucket(2**24 - 1)),
            ("i", sw.Categorify(max_categories=20)),
        ]
    )


def _wide_table(h, rng, n):
    x = rng.lognormal(0, 1.5, n)
    miss = h.missing_mask(rng, n, 0.1)
    return pa.table(
        {
            "x": h.arrow_numeric(
                np.where(miss & (rng.random(n) < 0.5), np.nan, x), miss & (rng.random(n) < 0.5)
            ),
            "y": pa.array(rng.normal(0, 1, n).astype(np.float32)),
            "s": pa.array(h.strings(rng, n, distinct=40, null_frac=0.05)),
            "i": pa.array(rng.integers(0, 100, n)),
        }
    )


def test_fresh_process_gives_bit_identical_output(h, rng, tmp_path):
    train = _wide_table(h, rng, 5000)
    test = _wide_table(h, rng, 3000)
    pipe = _wide_pipeline().fit(train)
    model = tmp_path / "features.json"
    pipe.save(model)
    pq.write_table(test, tmp_path / "test.parquet")
    rows = [test.slice(i, 1).to_pylist()[0] for i in range(0, test.num_rows, 97)]
    (tmp_path / "rows.json").write_text(json.dumps(rows, allow_nan=True), encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np, pyarrow.parquet as pq
        import seawall as sw
        pipe = sw.FeaturePipeline.load({str(model)!r})
        table = pq.read_table({str(tmp_path / "test.parquet")!r})
        np.save({str(tmp_path / "batch.npy")!r}, pipe.transform(table))
        rows = json.loads(open({str(tmp_path / "rows.json")!r}, encoding="utf-8").read())
        np.save({str(tmp_path / "rows.npy")!r}, np.stack([pipe.transform_one(r) for r in rows]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "SEAWALL_NUM_THREADS"}
    env["SEAWALL_NUM_THREADS"] = "1"  # and a different thread count from this process
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    expected = pipe.transform(test)
    h.assert_bits_equal(np.load(tmp_path / "batch.npy"), expected)
    h.assert_bits_equal(
        np.load(tmp_path / "rows.npy"), np.stack([pipe.transform_one(r) for r in rows])
    )
    h.assert_bits_equal(np.load(tmp_path / "rows.npy"), expected[::97])


@pytest.fixture
def saved(h, rng, tmp_path):
    pipe = _wide_pipeline().fit(_wide_table(h, rng, 800))
    path = tmp_path / "features.json"
    pipe.save(path)
    return pipe, path


def test_saved_json_is_readable_and_hashed(saved):
    pipe, path = saved
    text = path.read_text(encoding="utf-8")
    assert "\n  " in text  # indented for people
    document = json.loads(text)
    assert document["format"] == "seawall.FeaturePipeline"
    assert isinstance(document["format_version"], int) and document["format_version"] >= 1
    assert document["sha256"] == _digest(document)
    assert document["seawall_version"] == sw.__version__
    assert document["feature_names_out"] == pipe.feature_names_out_
    assert [f["name"] for f in document["features"]] == [f.name for f in pipe.features_]
    # The fitted numbers are there, as plain JSON numbers.
    scale = document["features"][0]["ops"][3]
    assert scale["op"] == "StandardScale"
    assert scale["fitted"] == {
        "mean": pipe.features_[0].ops[3].mean_,
        "scale": pipe.features_[0].ops[3].scale_,
    }


def _rewrite(path, document, rehash: bool):
    if rehash:
        document["sha256"] = _digest(document)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")


def test_edited_number_is_an_integrity_error(saved):
    _, path = saved
    document = json.loads(path.read_text("utf-8"))
    document["features"][0]["ops"][3]["fitted"]["mean"] += 1e-9
    _rewrite(path, document, rehash=False)
    with pytest.raises(IntegrityError, match="SHA-256") as info:
        sw.FeaturePipeline.load(path)
    assert isinstance(info.value, ValueError)


def test_edited_text_in_place_is_an_integrity_error(saved, rng):
    """One digit changed in the file as written (not re-serialised)."""
    _, path = saved
    text = path.read_text("utf-8")
    start = text.index('"scale": ') + len('"scale": ')
    digits = [i for i in range(start, start + 12) if text[i].isdigit()]
    i = int(rng.choice(digits))
    edited = text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :]
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(IntegrityError):
        sw.FeaturePipeline.load(path)


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        "not_json",
        "not_utf8",
        "empty",
        "json_list",
        "no_hash",
        "nan",
        "wrong_format",
        "bad_op",
    ],
)
def test_damaged_file_is_an_integrity_error(saved, rng, damage):
    _, path = saved
    raw = path.read_bytes()
    document = json.loads(raw)
    if damage == "truncated":
        path.write_bytes(raw[: int(rng.integers(1, len(raw) - 1))])
    elif damage == "not_json":
        path.write_text("this is not a pipeline\n", encoding="utf-8")
    elif damage == "not_utf8":
        path.write_bytes(b"\xff\xfe\x00" + raw[:100] + b"\xc3\x28")
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "json_list":
        path.write_text("[1, 2, 3]", encoding="utf-8")
    elif damage == "no_hash":  # a hand-edited file that dropped its hash is not trusted
        document["features"][0]["ops"][3]["fitted"]["mean"] = 123.0
        del document["sha256"]
        _rewrite(path, document, rehash=False)
    elif damage == "nan":  # a NaN slipped into a fitted value, hash recomputed by hand over it
        document["features"][0]["ops"][3]["fitted"]["scale"] = float("nan")
        document["sha256"] = "0" * 64
        path.write_text(json.dumps(document), encoding="utf-8")
    elif damage == "wrong_format":
        document["format"] = "something.Else"
        _rewrite(path, document, rehash=True)
    elif damage == "bad_op":  # a consistent hash over an impossible state
        document["features"][0]["ops"][3]["fitted"]["scale"] = 0.0
        _rewrite(path, document, rehash=True)
    with pytest.raises(IntegrityError) as info:
        sw.FeaturePipeline.load(path)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value) or damage == "bad_op"


def test_newer_format_version_is_unsupported(saved):
    _, path = saved
    document = json.loads(path.read_text("utf-8"))
    document["format_version"] += 1
    _rewrite(path, document, rehash=True)
    with pytest.raises(UnsupportedVersionError, match="upgrade") as info:
        sw.FeaturePipeline.load(path)
    assert isinstance(info.value, ValueError)
    assert str(document["format_version"]) in str(info.value)


def test_save_is_atomic(h, saved, rng, monkeypatch):
    pipe, path = saved
    before = path.read_bytes()
    other = sw.FeaturePipeline({"y": sw.StandardScale()}).fit(_wide_table(h, rng, 50))

    def failing_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        other.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left
    assert sw.FeaturePipeline.load(path).to_dict() == pipe.to_dict()
    # And a save that succeeds replaces the file whole.
    other.save(path)
    assert sw.FeaturePipeline.load(path).to_dict() == other.to_dict()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_interrupted_write_leaves_old_file(h, saved, rng, monkeypatch):
    """A crash while writing the temp file (not at the rename) also leaves the old file intact."""
    pipe, path = saved
    before = path.read_bytes()

    def failing_fsync(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(KeyboardInterrupt):
        pipe.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_to_dict_from_dict_round_trip(h, saved, rng):
    pipe, _ = saved
    state = pipe.to_dict()
    clone = sw.FeaturePipeline.from_dict(copy.deepcopy(json.loads(json.dumps(state))))
    table = _wide_table(h, rng, 300)
    h.assert_bits_equal(clone.transform(table), pipe.transform(table))


def test_unfitted_pipeline_cannot_be_saved(tmp_path):
    with pytest.raises(sw.errors.NotFittedError):
        sw.FeaturePipeline({"x": sw.StandardScale()}).save(tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []


V1_FILE = os.path.join(os.path.dirname(__file__), "data", "feature_pipeline_v1.json")


def test_version_1_files_load(h, rng, tmp_path):
    """A file written by the version before quantile methods were recorded (format 1, kept as
    written then) loads: its fitted numbers are used as they are, each quantile op records the
    method version 1 used (the sketch unless exact=True), and saving it again writes the
    current format."""
    with open(V1_FILE, encoding="utf-8") as f:
        document = json.load(f)
    assert document["format_version"] == 1
    pipe = sw.FeaturePipeline.load(V1_FILE)
    fitted = {
        entry["name"]: [op.get("fitted", {}) for op in entry["ops"]]
        for entry in document["features"]
    }
    methods = {
        f.name: [getattr(op, "quantile_method_", None) for op in f.ops] for f in pipe.features_
    }
    assert methods == {
        "amount": ["sketch", None, "sketch"],
        "amount_exact": ["exact", "exact"],
        "age": ["sketch", None],
        "age_bin": ["exact"],
        "score": ["exact", None],
        "score_bin": ["sketch"],
        "merchant": [None],
    }
    # exact=False was version 1's default; it loads as today's default.
    assert pipe.features_[0].ops[0].exact is None and pipe.features_[1].ops[0].exact is True
    assert pipe.feature_names_out_ == document["feature_names_out"]

    # The transform, from the file's own numbers (numpy, float64).
    n = int(rng.integers(1, 300))
    amount = rng.lognormal(3, 1, n)
    amount_missing = h.missing_mask(rng, n, 0.2)
    age = rng.integers(10, 99, n).astype(np.float64)
    score = rng.normal(0, 1.5, n)
    merchant = rng.choice(["acme", "globex", "initech", "umbrella", "hooli"], n)
    table = pa.table(
        {
            "amount": pa.array(amount, mask=amount_missing),
            "age": age,
            "score": score,
            "merchant": merchant,
        }
    )
    a_fill = np.where(amount_missing, fitted["amount"][0]["fill_value"], amount)
    robust = fitted["amount"][2]
    e_fill = np.where(amount_missing, fitted["amount_exact"][0]["fill_value"], amount)
    e_robust = fitted["amount_exact"][1]
    clip, std = fitted["age"]
    lower, minmax = fitted["score"]
    categories = fitted["merchant"][0]["categories"]
    expected = np.column_stack(
        [
            (np.log1p(a_fill) - robust["center"]) / robust["scale"],
            (e_fill - e_robust["center"]) / e_robust["scale"],
            amount_missing.astype(np.float64),
            (np.clip(age, clip["lower"], clip["upper"]) - std["mean"]) / std["scale"],
            np.searchsorted(fitted["age_bin"][0]["boundaries"], age, side="right"),
            (np.maximum(score, lower["lower"]) - minmax["min"]) / (minmax["max"] - minmax["min"]),
            np.searchsorted(fitted["score_bin"][0]["boundaries"], score, side="right"),
            *[(merchant == c).astype(np.float64) for c in categories],
        ]
    )
    out = pipe.transform(table)
    h.assert_f32_close(out, expected, rtol=1e-5, atol=1e-5)
    for i in range(min(n, 5)):
        h.assert_bits_equal(pipe.transform_one(table.slice(i, 1).to_pylist()[0]), out[i])

    # Saved again: the current format, loading to the same pipeline.
    pipe.save(tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text("utf-8"))
    assert again["format_version"] == sw.features.pipeline.FORMAT_VERSION > 1
    assert again["features"][0]["ops"][0]["fitted"]["quantile_method"] == "sketch"
    h.assert_bits_equal(sw.FeaturePipeline.load(tmp_path / "again.json").transform(table), out)


def test_columns_seen_in_fit_are_checked_on_load(rng):
    table = pa.table({"a": rng.normal(size=20), "b": rng.normal(size=20), "c": rng.normal(size=20)})
    pipe = sw.FeaturePipeline({"b": sw.StandardScale()}).fit(table)
    state = pipe.to_dict()
    assert state["feature_names_in"] == ["a", "b", "c"] and state["n_features_in"] == 3
    for edit, message in [
        ({"feature_names_in": ["a", "c"], "n_features_in": 2}, "did not see"),
        ({"feature_names_in": ["a", "b"]}, "not a list of n_features_in"),
        ({"n_features_in": "3"}, "not an integer"),
        ({"feature_names_in": None, "n_features_in": 3}, "did not see"),  # b is no x0, x1, x2
    ]:
        document = {**state, **edit}
        document["sha256"] = _digest(document)
        with pytest.raises(IntegrityError, match=message):
            sw.FeaturePipeline.from_dict(document)
