"""build_info(), the thread count (and that it never changes results), SEAWALL_NUM_THREADS."""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

import seawall as sw
from gil_helpers import spins_during


def _visible_nvidia_devices() -> int | None:
    """How many NVIDIA devices this machine shows, or None when that cannot be told here."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return 0
    nodes = glob.glob("/dev/nvidia[0-9]*")
    if not nodes and shutil.which("nvidia-smi") is None:
        return 0
    return None


def test_build_info_has_the_documented_keys():
    info = sw.build_info()
    expected = {
        "version",
        "compiler",
        "cuda_built",
        "cuda_runtime",
        "cuda_devices",
        "simd",
        "num_threads",
        "python",
    }
    assert expected <= set(info)
    assert info["version"] == sw.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", info["version"])
    assert info["python"] == platform.python_version()
    assert isinstance(info["compiler"], str) and info["compiler"]
    assert isinstance(info["cuda_built"], bool)
    assert isinstance(info["simd"], str) and info["simd"]
    assert info["num_threads"] == sw.get_num_threads()
    assert isinstance(info["cuda_devices"], int) and info["cuda_devices"] >= 0


def test_cuda_devices_without_a_gpu():
    """On a machine without NVIDIA devices, build_info reports 0 devices and does not fail."""
    visible = _visible_nvidia_devices()
    info = sw.build_info()
    if visible is None:
        # A GPU machine: the count is whatever the driver reports, and at least one if built with CUDA.
        assert info["cuda_devices"] >= (1 if info["cuda_built"] else 0)
    else:
        assert info["cuda_devices"] == visible == 0


def _threads_data(rng, n):
    x = rng.standard_cauchy(n)
    x[rng.random(n) < 0.05] = np.nan
    return pa.table(
        {
            "x": x,
            "y": rng.lognormal(0, 1, n).astype(np.float32),
            "s": pa.array(rng.choice([f"c{i}" for i in range(300)], n)).dictionary_encode(),
            "i": rng.integers(0, 1000, n),
        }
    )


def _threads_pipeline():
    return sw.FeaturePipeline(
        [
            ("x", [sw.Impute("median"), sw.StandardScale()]),
            (
                "x_q",
                "x",
                [
                    sw.Impute("mean", add_indicator=True),
                    sw.Clip(quantiles=(0.01, 0.99)),
                    sw.RobustScale(),
                ],
            ),
            ("x_b", "x", [sw.Impute("constant"), sw.Bucketize(n_bins=16)]),
            ("y", [sw.Log1p(), sw.MinMaxScale()]),
            ("y_s", "y", sw.StandardScale()),
            ("s", sw.OneHot(max_categories=20)),
            ("s_id", "s", sw.Categorify(min_frequency=0.001)),
            ("i", sw.HashBucket(50)),
        ]
    )


def test_thread_count_does_not_change_results(h, rng, restore_threads):
    # More rows than one fit segment (65536) and one transform block, in several chunks.
    table = h.chunked(_threads_data(rng, 150_000), rng, 4)
    results = {}
    for n in (1, 2, 3):
        sw.set_num_threads(n)
        assert sw.get_num_threads() == n
        pipe = _threads_pipeline().fit(table)
        results[n] = (
            pipe.to_dict(),
            pipe.transform(table),
            pipe.transform_one(table.slice(777, 1).to_pylist()[0]),
        )
    for n in (2, 3):
        assert results[n][0] == results[1][0]  # fitted state, bit for bit (JSON floats round-trip)
        h.assert_bits_equal(results[n][1], results[1][1])
        h.assert_bits_equal(results[n][2], results[1][2])
    h.assert_bits_equal(results[1][2], results[1][1][777])


def test_set_num_threads_validates_and_resets(restore_threads):
    sw.set_num_threads(3)
    for bad in (0, -1, 1025, 2**70, 1.5, "2", True, np.float64(2.0)):
        with pytest.raises(sw.errors.InvalidInputError, match="set_num_threads") as info:
            sw.set_num_threads(bad)
        assert isinstance(info.value, ValueError)
        assert sw.get_num_threads() == 3  # a refused call changes nothing
    sw.set_num_threads(np.int64(2))
    assert sw.get_num_threads() == 2
    sw.set_num_threads(1024)
    assert sw.get_num_threads() == 1024
    sw.set_num_threads(1)
    assert sw.get_num_threads() == 1
    sw.set_num_threads(None)  # back to the default
    expected = (
        int(os.environ["SEAWALL_NUM_THREADS"])
        if os.environ.get("SEAWALL_NUM_THREADS")
        else len(os.sched_getaffinity(0))
    )
    assert sw.get_num_threads() == expected


def _threads_in_subprocess(env_value: str | None) -> tuple[int, int]:
    env = {k: v for k, v in os.environ.items() if k != "SEAWALL_NUM_THREADS"}
    if env_value is not None:
        env["SEAWALL_NUM_THREADS"] = env_value
    code = "import os, seawall; print(seawall.get_num_threads(), len(os.sched_getaffinity(0)), seawall.build_info()['num_threads'])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    threads, cores, reported = map(int, done.stdout.split())
    assert reported == threads
    return threads, cores


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1025", "4x", " 4", "1e3"])
def test_a_seawall_num_threads_that_is_not_a_count_is_an_error_at_use(value):
    """Not ignored: the first kernel that sizes the pool (and get_num_threads, build_info)
    raises InvalidInputError naming the variable; an explicit set_num_threads still works."""
    env = {k: v for k, v in os.environ.items() if k != "SEAWALL_NUM_THREADS"}
    env["SEAWALL_NUM_THREADS"] = value
    code = (
        "import seawall, numpy as np\n"
        "for call in (seawall.get_num_threads, seawall.build_info,\n"
        "             lambda: seawall.FeaturePipeline({'x': seawall.StandardScale()})"
        ".fit({'x': np.arange(300_000.0)})):\n"
        "    try:\n"
        "        call()\n"
        "        print('accepted')\n"
        "    except seawall.errors.InvalidInputError as e:\n"
        "        print(type(e).__name__, str(e))\n"
        "seawall.set_num_threads(2)\n"
        "print(seawall.get_num_threads())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout
    for line in lines[:3]:
        assert line.startswith("InvalidInputError SEAWALL_NUM_THREADS=") and repr(value) in line
    assert lines[3] == "2"


def test_an_empty_seawall_num_threads_is_unset():
    threads, cores = _threads_in_subprocess("")
    assert threads == cores


def test_seawall_num_threads_environment_variable(rng):
    wanted = int(rng.integers(1, 9))
    threads, _ = _threads_in_subprocess(str(wanted))
    assert threads == wanted
    threads, cores = _threads_in_subprocess(None)
    assert threads == cores  # the default: the cores this process may use


def test_concurrent_calls_from_python_threads(h, rng):
    """transform and transform_one release the GIL: concurrent calls on one fitted pipeline give
    the same numbers as calls made one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    table = _threads_data(rng, 20_000)
    pipe = _threads_pipeline().fit(table)
    parts = [table.slice(k * 2000, 2000) for k in range(10)]
    rows = [table.slice(i, 1).to_pylist()[0] for i in range(0, 20_000, 401)]
    expected_parts = [pipe.transform(p) for p in parts]
    expected_rows = [pipe.transform_one(r) for r in rows]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got_parts = list(pool.map(pipe.transform, parts * 2))
        got_rows = list(pool.map(pipe.transform_one, rows * 2))
    for got, want in zip(got_parts, expected_parts * 2, strict=True):
        h.assert_bits_equal(got, want)
    for got, want in zip(got_rows, expected_rows * 2, strict=True):
        h.assert_bits_equal(got, want)


def test_native_transform_releases_the_gil(restore_threads):
    """While one thread is inside a long native transform, another keeps running Python (see
    gil_helpers)."""
    import seawall as sw

    sw.set_num_threads(1)
    rows = 2_000_000
    table = pa.table({f"x{i}": np.arange(rows, dtype=np.float64) for i in range(8)})
    pipe = sw.FeaturePipeline({c: [sw.Log1p(), sw.StandardScale()] for c in table.column_names})
    pipe.fit(table)
    from seawall._data import column_chunks

    columns = [(c, column_chunks(table.column(c))) for c in table.column_names]
    out = np.empty((rows, 8), dtype=np.float32)
    count, rate, elapsed = spins_during(lambda: pipe._plan.transform(columns, out))
    assert elapsed > 0.05, "the call must be long enough to tell the two cases apart"
    assert count > 0.1 * rate * elapsed, (count, rate, elapsed)
