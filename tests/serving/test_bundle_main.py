"""A pickled Python model must load in another process: one that uses a class or function
defined in ``__main__`` (the script being run) is refused when saved, with the fix in the
message, and the same code moved into a module saves, loads elsewhere and predicts as before.

Each case is a real script file run as ``python script.py``, as a user runs one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

# The model code, either inside the script or in a module beside it.
MODEL_CODE = """
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class Doubler:
    def predict(self, x):
        return np.asarray(x, dtype=np.float64).sum(axis=1) * 2.0


class AddOne(BaseEstimator, TransformerMixin):
    def fit(self, x, y=None):
        return self

    def transform(self, x):
        return np.asarray(x, dtype=np.float64) + 1.0


def square(x):
    return np.asarray(x, dtype=np.float64) ** 2
"""

# Which model each case saves, built from the names above.
MODELS = {
    "class": "Doubler()",
    "pipeline step": (
        "make_pipeline(AddOne(), LogisticRegression()).fit(X, (X[:, 0] > 0).astype(int))"
    ),
    "function inside": (
        "make_pipeline(FunctionTransformer(square), LogisticRegression())"
        ".fit(X, (X[:, 0] > 0).astype(int))"
    ),
}
NAMES = {"class": "Doubler", "pipeline step": "AddOne", "function inside": "square"}


def _script(folder: Path, model: str, in_module: bool) -> Path:
    head = "from my_model import *\n" if in_module else MODEL_CODE
    if in_module:
        (folder / "my_model.py").write_text(MODEL_CODE)
    body = f"""
import sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from seawall.bundles import save_bundle

X = np.random.default_rng(int(sys.argv[2])).normal(size=(200, 3))
model = {model}
save_bundle(sys.argv[1], python_model=model, example=X[:5])
np.save(sys.argv[1] + ".expected.npy", model.predict(X[:20]))
"""
    script = folder / "train.py"
    script.write_text(textwrap.dedent(head) + textwrap.dedent(body))
    return script


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # this seawall, not my_model
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


@pytest.mark.parametrize("case", list(MODELS))
def test_a_model_defined_in_main_is_refused_with_the_fix(tmp_path, case, seed):
    script = _script(tmp_path, MODELS[case], in_module=False)
    result = _run([str(script), str(tmp_path / "bundle"), str(seed)], tmp_path)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("seawall.errors.InvalidInputError: the Python model uses ")
    assert f"{NAMES[case]}, defined in __main__" in last
    assert "Move it into a module" in last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]  # no bundle written


@pytest.mark.parametrize("case", list(MODELS))
def test_the_same_model_in_a_module_loads_in_another_process(tmp_path, case, seed):
    script = _script(tmp_path, MODELS[case], in_module=True)
    bundle = tmp_path / "bundle"
    result = _run([str(script), str(bundle), str(seed)], tmp_path)
    assert result.returncode == 0, result.stderr
    # Another process, where my_model is importable (as on a server that has the code).
    load = (
        "import json, sys, numpy as np\n"
        "from seawall.bundles import load_bundle\n"
        "X = np.random.default_rng(int(sys.argv[2])).normal(size=(200, 3))\n"
        "out = load_bundle(sys.argv[1], trust_code=True).model(X[:20])\n"
        "print(json.dumps({k: np.asarray(v).tolist() for k, v in out.items()}))\n"
    )
    loaded = _run(["-c", load, str(bundle), str(seed)], tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    got = json.loads(loaded.stdout)["predict"]
    expected = np.load(str(bundle) + ".expected.npy")  # the model's own answer in the script
    np.testing.assert_array_equal(np.asarray(got, dtype=expected.dtype), expected)
