"""`seawall validate` and `seawall schema`: what the command line writes is what the API makes,
and the exit status says whether the data passed (0), failed (1) or could not be checked (2)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from seawall.cli import main
from seawall.contracts import Schema
from seawall.profiles import Profile


def _table(rng, n: int, shift: float = 0.0) -> pa.Table:
    return pa.table(
        {
            "amount": rng.gamma(2.0, 10.0, n) + shift,
            "merchant": rng.choice(["acme", "globex"], n),
            "id": np.arange(n),
        }
    )


@pytest.fixture
def files(rng, tmp_path):
    train = _table(rng, 2000)
    pq.write_table(train, tmp_path / "train.parquet")
    bad = _table(rng, 1000)
    bad = bad.set_column(1, "merchant", pa.array(["acme"] * 998 + ["evil", "evil"]))
    (tmp_path / "bad").mkdir()
    pq.write_table(bad.slice(0, 500), tmp_path / "bad" / "part-0.parquet")
    pq.write_table(bad.slice(500), tmp_path / "bad" / "part-1.parquet")
    return train, bad, tmp_path


def test_infer_then_validate(files):
    train, bad, tmp = files
    schema_path = tmp / "schema.json"
    runner = CliRunner()
    result = runner.invoke(
        main, ["schema", "infer", str(tmp / "train.parquet"), "-o", str(schema_path), "--unique"]
    )
    assert result.exit_code == 0, result.output
    saved = Schema.load(schema_path)
    assert saved == Schema.infer(train, infer_unique=True)

    ok = runner.invoke(main, ["validate", "--schema", str(schema_path), str(tmp / "train.parquet")])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("no anomalies in 2,000 rows")

    html, js = tmp / "r.html", tmp / "r.json"
    failed = runner.invoke(
        main,
        [
            "validate",
            "--schema",
            str(schema_path),
            str(tmp / "bad"),
            "--html",
            str(html),
            "--json",
            str(js),
        ],
    )
    assert failed.exit_code == 1, failed.output
    api = saved.validate(bad)
    written = json.loads(js.read_text())
    assert written == json.loads(api.to_json())
    assert (
        "merchant: unexpected_string_values" in failed.output and "(rows 998, 999)" in failed.output
    )
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_profiles_and_skew_from_the_command_line(files):
    train, bad, tmp = files
    schema = Schema.infer(train)
    schema["merchant"].skew(linf=0.01)
    schema.save(tmp / "schema.json")
    Profile.from_data(bad).save(tmp / "bad.profile")
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "validate",
            "--schema",
            str(tmp / "schema.json"),
            str(tmp / "train.parquet"),
            "--serving",
            str(tmp / "bad.profile"),
            "--json",
            str(tmp / "r.json"),
        ],
    )
    assert result.exit_code == 1, result.output
    written = json.loads((tmp / "r.json").read_text())
    assert [m["measure"] for m in written["skew"]] == ["linf"]
    on_profile = runner.invoke(
        main, ["validate", "--schema", str(tmp / "schema.json"), str(tmp / "bad.profile")]
    )
    assert on_profile.exit_code == 1 and "a profile of 1,000 rows" in on_profile.output


def test_bad_input_exits_2(files):
    _, _, tmp = files
    Schema.infer(pq.read_table(tmp / "train.parquet")).save(tmp / "schema.json")
    tampered = tmp / "tampered.json"
    tampered.write_text((tmp / "schema.json").read_text().replace('"acme"', '"acne"'))
    runner = CliRunner()
    result = runner.invoke(
        main, ["validate", "--schema", str(tampered), str(tmp / "train.parquet")]
    )
    assert result.exit_code == 2 and "modified or corrupted" in result.output
    garbage = tmp / "garbage.parquet"
    garbage.write_bytes(b"not parquet")
    result = runner.invoke(main, ["validate", "--schema", str(tmp / "schema.json"), str(garbage)])
    assert result.exit_code == 2, result.output
    result = runner.invoke(main, ["validate", "--schema", str(tmp / "schema.json")])
    assert result.exit_code == 2  # no data: a usage error
    result = runner.invoke(
        main,
        [
            "validate",
            "--schema",
            str(tmp / "schema.json"),
            str(tmp / "train.parquet"),
            "--environment",
            "NOPE",
        ],
    )
    assert result.exit_code == 0  # a schema that names no environment accepts any


def test_schema_diff(files):
    train, _, tmp = files
    a = Schema.infer(train)
    a.save(tmp / "a.json")
    b = a.copy()
    b["amount"].range(0, 1e9)
    b.save(tmp / "b.json")
    runner = CliRunner()
    same = runner.invoke(main, ["schema", "diff", str(tmp / "a.json"), str(tmp / "a.json")])
    assert same.exit_code == 0 and same.output.strip() == "no changes"
    changed = runner.invoke(main, ["schema", "diff", str(tmp / "a.json"), str(tmp / "b.json")])
    assert changed.exit_code == 1 and "amount.range.max" in changed.output


def test_the_installed_command(files):
    _, _, tmp = files
    Schema.infer(pq.read_table(tmp / "train.parquet")).save(tmp / "schema.json")
    code = "import sys; from seawall.cli import main; sys.argv[0] = 'seawall'; main()"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "validate",
            "--schema",
            str(tmp / "schema.json"),
            str(tmp / "bad"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
