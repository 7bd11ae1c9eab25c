"""`seawall report drift`: the report the command line writes is the one compare() makes."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from scipy import stats

import seawall
from seawall.drift.cli import report


def _data(rng: np.random.Generator, rows: int, shift: float) -> pa.Table:
    levels = np.array(["a", "b", "c", "d", "e"])
    return pa.table(
        {
            "x": rng.normal(shift, 1.0, rows),
            "y": rng.exponential(1.0, rows),
            "s": levels[rng.integers(0, 5, rows)],
        }
    )


@pytest.fixture
def parquet_pair(rng, tmp_path):
    ref, cur = _data(rng, 3000, 0.0), _data(rng, 2000, 0.5)
    pq.write_table(ref, tmp_path / "ref.parquet")
    (tmp_path / "cur").mkdir()
    pq.write_table(cur.slice(0, 1000), tmp_path / "cur" / "part-0.parquet")
    pq.write_table(cur.slice(1000), tmp_path / "cur" / "part-1.parquet")
    return ref, cur, tmp_path / "ref.parquet", tmp_path / "cur"


def test_parquet_report_matches_the_api_and_scipy(parquet_pair, tmp_path):
    ref, cur, ref_path, cur_path = parquet_pair
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    result = CliRunner().invoke(
        report,
        [
            "drift",
            "--reference",
            str(ref_path),
            "--current",
            str(cur_path),
            "-o",
            str(out),
            "--json",
            str(js),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    written = json.loads(js.read_text())
    assert written == json.loads(seawall.drift.compare(ref, cur).to_json())
    by_name = {c["column"]: c for c in written["columns"]}
    # The normed Wasserstein distance of x, independently from scipy.
    x_ref, x_cur = ref["x"].to_numpy(), cur["x"].to_numpy()
    expected = stats.wasserstein_distance(x_ref, x_cur) / np.std(x_ref)
    assert by_name["x"]["statistic"] == pytest.approx(expected, rel=1e-9)
    assert by_name["x"]["drifted"] is True
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 3
    verdict = "dataset drift detected" if written["dataset_drift"] else "no dataset drift"
    assert result.output.startswith(f"{verdict}: {written['number_of_drifted_columns']} of 3")


def test_columns_option_and_profiles(parquet_pair, tmp_path):
    ref, cur, _, _ = parquet_pair
    seawall.Profile.from_data(ref).save(tmp_path / "ref.swprofile")
    seawall.Profile.from_data(cur).save(tmp_path / "cur.swprofile")
    js = tmp_path / "p.json"
    result = CliRunner().invoke(
        report,
        [
            "drift",
            "--reference",
            str(tmp_path / "ref.swprofile"),
            "--current",
            str(tmp_path / "cur.swprofile"),
            "--columns",
            "x, s",
            "-o",
            str(tmp_path / "p.html"),
            "--json",
            str(js),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    written = json.loads(js.read_text())
    assert [c["column"] for c in written["columns"]] == ["x", "s"]
    assert all(c["source"] == "profile" for c in written["columns"])
    expected = seawall.drift.compare(
        seawall.Profile.from_data(ref), seawall.Profile.from_data(cur), ["x", "s"]
    )
    assert written == json.loads(expected.to_json())


def test_bad_inputs_are_clear_errors(parquet_pair, tmp_path):
    ref, _, ref_path, cur_path = parquet_pair
    seawall.Profile.from_data(ref).save(tmp_path / "ref.swprofile")
    runner = CliRunner()
    mixed = runner.invoke(
        report,
        ["drift", "--reference", str(tmp_path / "ref.swprofile"), "--current", str(cur_path), "-q"],
    )
    assert mixed.exit_code == 2 and "both be saved profiles" in mixed.output
    missing = runner.invoke(
        report,
        [
            "drift",
            "--reference",
            str(ref_path),
            "--current",
            str(cur_path),
            "--columns",
            "x,nope",
            "-o",
            str(tmp_path / "never.html"),
            "-q",
        ],
    )
    assert missing.exit_code == 2 and "'nope' is not in the reference data" in missing.output
    assert not (tmp_path / "never.html").exists()
    absent = runner.invoke(
        report, ["drift", "--reference", str(tmp_path / "absent"), "--current", str(cur_path)]
    )
    assert absent.exit_code == 2 and "does not exist" in absent.output


@pytest.mark.parametrize("threads", [1, 2])
def test_progress_reaches_every_column(parquet_pair, threads, restore_threads):
    ref, cur, _, _ = parquet_pair
    seen: list[tuple[int, int]] = []
    seawall.set_num_threads(threads)
    seawall.drift.compare(ref, cur, _on_column=lambda d, t: seen.append((d, t)))
    assert sorted(seen) == [(1, 3), (2, 3), (3, 3)]


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed `seawall` entry point's function, in a fresh interpreter."""
    code = "import sys; from seawall.cli import main; sys.argv[0] = 'seawall'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_fail_on_drift_exits_1_after_writing_the_report(rng, tmp_path, shift):
    ref = _data(rng, 800, 0.0)
    if shift:  # every column moves: the dataset drifts whatever the seed
        levels = np.array(["a", "b", "c", "d", "e"])
        cur = _data(rng, 600, shift)
        cur = cur.set_column(1, "y", pa.array(rng.exponential(3.0, 600)))
        cur = cur.set_column(2, "s", pa.array(levels[rng.integers(3, 5, 600)]))
    else:  # the reference's rows shuffled: the same distributions, no drift whatever the seed
        cur = ref.take(rng.permutation(800))
    pq.write_table(ref, tmp_path / "ref.parquet")
    pq.write_table(cur, tmp_path / "cur.parquet")
    expected = seawall.drift.compare(ref, cur)
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    args = ["report", "drift", "--reference", str(tmp_path / "ref.parquet")]
    args += ["--current", str(tmp_path / "cur.parquet"), "-o", str(out), "--json", str(js), "-q"]

    gated = _run_cli(*args, "--fail-on-drift")
    assert gated.returncode == (1 if expected.dataset_drift else 0), gated.stderr
    assert expected.dataset_drift == bool(shift)  # the data above makes it so
    assert json.loads(js.read_text()) == json.loads(expected.to_json())
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert gated.stdout.startswith(expected.summary() + "; report written to")
    out.unlink()

    plain = _run_cli(*args)  # without the flag: 0 either way
    assert plain.returncode == 0, plain.stderr
    assert out.exists()


def test_fail_on_drift_with_columns_without_values(rng, tmp_path):
    ref = _data(rng, 800, 0.0)
    cur = _data(rng, 600, 0.0)
    cur = cur.set_column(0, "x", pa.nulls(600, pa.float64()))
    pq.write_table(ref, tmp_path / "ref.parquet")
    pq.write_table(cur, tmp_path / "cur.parquet")
    pq.write_table(cur.slice(0, 0), tmp_path / "empty.parquet")
    runner = CliRunner()

    def invoke(current: str) -> Any:
        paths = ["--reference", str(tmp_path / "ref.parquet"), "--current", str(tmp_path / current)]
        return runner.invoke(
            report, ["drift", *paths, "-o", str(tmp_path / "r.html"), "--fail-on-drift", "-q"]
        )

    # one broken column: reported, named, left out of the share; the gate follows the share
    partial = invoke("cur.parquet")
    expected = seawall.drift.compare(ref, cur)
    assert expected["x"].status == "no_data" and expected.dataset_drift is not None
    assert partial.exit_code == (1 if expected.dataset_drift else 0), partial.output
    assert "1 without values to compare: 'x'" in partial.output
    # nothing could be compared: nothing vouches for the data, the gate fails
    empty = invoke("empty.parquet")
    assert empty.exit_code == 1, empty.output
    assert empty.output.startswith("no dataset verdict: no column could be compared")
    assert "No verdict" in (tmp_path / "r.html").read_text(encoding="utf-8")
