"""`seawall runs list` and `seawall models list | show | promote | lineage`, and every command
that opens a registry: a missing or unreachable one is a one-line error, and none is created."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from registry_helpers import make_bundle

from local_servers import free_port
from seawall.cli import main
from seawall.registry import Registry


@pytest.fixture(params=["local", "http"])
def filled(request, tmp_path, rng):
    """A registry of four runs and versions, opened by the commands directly or through a
    registry server on loopback (SEAWALL_REGISTRY_URI=http://...)."""
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    reg = Registry(uri, artifacts=tmp_path / "artifacts")
    aucs = rng.random(4)
    ids = []
    for i, auc in enumerate(aucs):
        with reg.start_run(experiment="churn", name=f"run-{i}") as run:
            run.log_params({"lr": 0.1 * (i + 1)})
            run.log_metric("auc", float(auc))
            run.log_input(pa.table({"x": rng.normal(size=50)}), name="train", profile=True)
        ids.append(run.id)
        reg.register_model("churn", make_bundle(tmp_path / f"b{i}", seed=i), run=run)
    reg.close()
    filled = {"uri": uri, "artifacts": str(tmp_path / "artifacts"), "aucs": aucs, "ids": ids}
    if request.param == "local":
        yield filled
        return
    from seawall._server.run import serve_in_thread
    from seawall.registry_server import create_registry_app

    with (
        Registry(uri, artifacts=tmp_path / "artifacts") as served,
        serve_in_thread(create_registry_app(served)) as url,
    ):
        yield {**filled, "uri": url}


def _invoke(filled, *args):
    env = {"SEAWALL_REGISTRY_URI": filled["uri"], "SEAWALL_ARTIFACTS_URI": filled["artifacts"]}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_runs_list_filters_and_orders(filled):
    out = _invoke(
        filled, "runs", "list", "--json", "-f", "metrics.auc > 0.5", "-o", "metrics.auc DESC"
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    expected = sorted(
        (i for i, a in enumerate(filled["aucs"]) if a > 0.5), key=lambda i: -filled["aucs"][i]
    )
    assert [r["run_id"] for r in rows] == [filled["ids"][i] for i in expected]
    table = _invoke(filled, "runs", "list", "-e", "churn")
    assert table.exit_code == 0, table.output
    assert "4 runs" in table.output
    for run_id in filled["ids"]:
        assert run_id in table.output
    assert "lr=0.1" in table.output and "FINISHED" in table.output


def test_models_promote_show_list_lineage(filled):
    out = _invoke(filled, "models", "promote", "churn", "2", "--reason", "best auc")
    assert out.exit_code == 0, out.output
    assert "churn@champion: nothing -> version 2" in out.output
    out = _invoke(filled, "models", "promote", "churn", "4", "-a", "champion")
    assert "version 2 -> version 4" in out.output
    listed = _invoke(filled, "models", "list")
    assert listed.exit_code == 0 and "champion→4" in listed.output
    shown = _invoke(filled, "models", "show", "churn")
    assert shown.exit_code == 0
    for run_id in filled["ids"]:
        assert run_id in shown.output
    one = _invoke(filled, "models", "show", "models:/churn@champion")
    assert one.exit_code == 0 and "models:/churn/4" in one.output and "MODEL" in one.output
    lineage = _invoke(filled, "models", "lineage", "churn", "champion")
    assert lineage.exit_code == 0, lineage.output
    assert filled["ids"][3] in lineage.output and "training data train" in lineage.output
    assert "alias history" in lineage.output
    graph = json.loads(_invoke(filled, "models", "lineage", "churn", "2", "--json").output)
    assert [(e["version"], e["previous_version"]) for e in graph["alias_history"]] == [
        (2, None),
        (4, 2),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "show", "churn", "9"], "no version 9"),
        (["models", "show", "nope"], "no model named 'nope'"),
        (["models", "promote", "churn", "1", "-a", "latest"], "invalid alias"),
        (["runs", "list", "-f", "metrics.auc >"], "expected a number"),
        (["runs", "list", "-e", "missing"], "no experiment named 'missing'"),
    ],
)
def test_cli_errors_are_clean(filled, args, message):
    out = _invoke(filled, *args)
    assert out.exit_code == 1
    assert message in out.output and "Traceback" not in out.output


# Every command that opens a registry: none of them creates one.
OPENING = [
    ["runs", "list"],
    ["models", "list"],
    ["models", "show", "churn"],
    ["models", "show", "models:/churn/1"],
    ["models", "lineage", "churn", "1"],
    ["models", "promote", "churn", "1"],
    ["ui"],
    ["serve", "models:/churn/1"],
    ["events", "list"],
    ["events", "deliver", "--once"],
    ["events", "prune", "--days", "30"],
    ["webhooks", "add", "http://127.0.0.1:9/hook"],
    ["webhooks", "list"],
    ["webhooks", "remove", "1"],
]


def _tree_of(*folders: Path) -> set[Path]:
    return {p for folder in folders for p in folder.rglob("*")}


@pytest.fixture(autouse=True)
def no_serving(monkeypatch):
    """`seawall ui` and `seawall serve` must fail before they serve: never serve here."""
    import uvicorn

    def refuse(*args, **kwargs):
        raise AssertionError("the command went on to serve")

    monkeypatch.setattr(uvicorn, "run", refuse)


@pytest.mark.parametrize("args", OPENING, ids=" ".join)
def test_a_missing_registry_is_a_one_line_error_and_nothing_is_created(
    tmp_path, seawall_home, monkeypatch, args
):
    monkeypatch.chdir(tmp_path)
    before = _tree_of(tmp_path, seawall_home)
    typo = CliRunner().invoke(main, [*args, "--registry", "typo.db"])
    default = CliRunner().invoke(main, args)  # the default registry, which does not exist yet
    for result, path in ((typo, tmp_path / "typo.db"), (default, seawall_home / "registry.db")):
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith(f"Error: cannot open the registry: no registry at {path} ")
    assert _tree_of(tmp_path, seawall_home) == before


def test_a_file_that_holds_no_registry_is_refused_unchanged(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    result = CliRunner().invoke(main, ["models", "list", "--registry", str(empty)])
    assert result.exit_code == 1
    assert "holds no seawall registry" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["empty.db"] and empty.stat().st_size == 0


@pytest.mark.parametrize("args", OPENING, ids=" ".join)
def test_an_unreachable_postgres_is_a_one_line_error(tmp_path, seawall_home, args):
    uri = f"postgresql://seawall:secret@127.0.0.1:{free_port()}/registry"  # nothing listens
    before = _tree_of(tmp_path, seawall_home)
    result = CliRunner().invoke(main, [*args, "--registry", uri])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: cannot open the registry: cannot reach the registry database ")
    assert "secret" not in line and "Connection refused" in line
    assert _tree_of(tmp_path, seawall_home) == before


def test_an_unreachable_postgres_in_a_real_process_prints_one_line(tmp_path):
    uri = f"postgresql://seawall@127.0.0.1:{free_port()}/registry"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from seawall.cli import main; main()",
            "models",
            "list",
            "--registry",
            uri,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},  # this seawall, from anywhere
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: cannot open the registry: cannot reach")
