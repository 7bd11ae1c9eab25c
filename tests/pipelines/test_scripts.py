"""Pipelines driven from a user's own script, run as ``python script.py``: steps defined in the
script (in ``__main__``) run in worker processes and on Ray, with or without the
``if __name__ == "__main__":`` guard, and the workers never run the script again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import seawall

# Steps, a helper and a constant of the script itself: none of them importable by name. The top
# level notes each time it runs, so a worker that runs the script again shows in `top.log`.
STEPS = """
import json, os, sys
import numpy as np
import seawall

with open(os.path.join(sys.argv[1], "top.log"), "a") as fh:
    fh.write(f"{os.getpid()}\\n")

OFFSET = 0.5


def shift(values, offset):
    return [v + offset for v in values]


@seawall.step
def clean(raw):
    return [v for v in raw if v is not None and v == v]


@seawall.step
def scaled(clean, factor):
    return shift([v * factor for v in clean], OFFSET)


@seawall.step(outputs=("total", "pid"))
def total(scaled):
    return float(np.sum(np.asarray(scaled, dtype=np.float64))), os.getpid()
"""

BODY = """
folder = sys.argv[1]
reg = seawall.Registry(os.path.join(folder, "registry.db"), os.path.join(folder, "artifacts"))
with open(os.path.join(folder, "input.json")) as fh:
    given = json.load(fh)
pipe = seawall.Pipeline("script", [clean, scaled, total])
result = pipe.run(given, registry=reg, executor=sys.argv[2], max_workers=2)
print(json.dumps({
    "executed": result.executed,
    "cached": result.cached,
    "total": result["total"],
    "step_pid": result["pid"],
    "driver_pid": os.getpid(),
    "code": {s.name: s.code_sha256 for s in pipe.steps},
}))
"""


def write_script(folder: Path, guarded: bool) -> Path:
    body = BODY
    if guarded:
        body = 'if __name__ == "__main__":\n' + textwrap.indent(BODY, "    ")
    script = folder / "user_pipeline.py"
    script.write_text(STEPS + body)
    return script


def run_script(script: Path, folder: Path, executor: str) -> dict:
    env = dict(os.environ)
    # The seawall under test, found from any folder (the test's PYTHONPATH may be relative).
    package_root = str(Path(seawall.__file__).parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")])
    env.pop("RAY_ADDRESS", None)
    env["RAY_AUTH_MODE"] = "disabled"
    done = subprocess.run(
        [sys.executable, str(script), str(folder), executor],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def oracle(raw: list[float | None], factor: float) -> float:
    values = np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(np.sum(values * factor + 0.5))


def random_input(rng: np.random.Generator) -> tuple[list[float | None], float]:
    raw: list[float | None] = [float(v) for v in rng.normal(0.0, 1e6, int(rng.integers(1, 40)))]
    for i in rng.choice(len(raw), size=len(raw) // 4, replace=False):
        raw[int(i)] = None
    return raw, float(rng.uniform(-3.0, 3.0))


@pytest.mark.slow
@pytest.mark.parametrize("guarded", [True, False], ids=["guarded", "unguarded"])
def test_steps_of_a_script_run_in_processes_without_running_the_script_again(
    tmp_path, rng, guarded
) -> None:
    raw, factor = random_input(rng)
    (tmp_path / "input.json").write_text(json.dumps({"raw": raw, "factor": factor}))
    script = write_script(tmp_path, guarded)

    first = run_script(script, tmp_path, "processes")
    assert first["executed"] == ["clean", "scaled", "total"]
    assert first["total"] == pytest.approx(oracle(raw, factor), rel=1e-12, abs=1e-6)
    assert first["step_pid"] != first["driver_pid"]  # it ran in a worker
    # Only the driver ran the script's top level: no worker ran it again.
    assert (tmp_path / "top.log").read_text().split() == [str(first["driver_pid"])]

    # The code hash of a step of __main__ is the same in the next run of the script: all cached.
    second = run_script(script, tmp_path, "processes")
    assert second["code"] == first["code"]
    assert second["executed"] == [] and second["cached"] == ["clean", "scaled", "total"]
    assert second["total"] == first["total"]
    top = (tmp_path / "top.log").read_text().split()
    assert top == [str(first["driver_pid"]), str(second["driver_pid"])]


@pytest.mark.slow
def test_steps_of_a_script_run_on_ray(tmp_path, rng) -> None:
    pytest.importorskip("ray", reason="the Ray tests need Ray: pip install 'seawall[ray]'")
    raw, factor = random_input(rng)
    (tmp_path / "input.json").write_text(json.dumps({"raw": raw, "factor": factor}))
    script = write_script(tmp_path, guarded=False)
    result = run_script(script, tmp_path, "ray")
    assert result["executed"] == ["clean", "scaled", "total"]
    assert result["total"] == pytest.approx(oracle(raw, factor), rel=1e-12, abs=1e-6)
    assert result["step_pid"] != result["driver_pid"]
    assert (tmp_path / "top.log").read_text().split() == [str(result["driver_pid"])]
