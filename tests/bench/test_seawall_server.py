"""The load generator against seawall's own server (uvicorn on loopback, in a thread and as
`seawall serve`): its counts agree with the server's /metrics, status by status; generated and
real-row requests are all valid; `seawall bench` prints a table or JSON; bad input is a clear
error, quickly."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from bench_servers import request_counts

from seawall.bench import bench, served
from seawall.demo.loop_demo import FEATURES
from seawall.errors import InvalidInputError, NotFoundError, ServerUnavailableError


def _seawall_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from seawall.cli import main; main()", "bench", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_counts_agree_with_the_servers_metrics(fraud_bundle):
    with served(fraud_bundle, trust_code=True) as (url, model):
        before = request_counts(url, model)
        result = bench(url, model, concurrency=[1, 8], duration_s=1.5, window_s=0.5)
        after = request_counts(url, model)
    seen = after - before
    sent = sum(step.sent for step in result.steps)
    assert sent > 0
    assert seen == {200: sent}  # every request answered 200, each counted once on both sides
    for step in result.steps:
        assert step.answered == step.sent and step.failed == 0


def test_error_statuses_agree_with_the_servers_metrics(tmp_path, fraud_rows):
    # A model that takes 20 ms a call behind a queue of one request: most of 8 concurrent
    # requests are refused with 503, and each side counts the same refusals.
    from seawall.serving import save_bundle
    from slow_models import SleepyModel

    path = tmp_path / "slow"
    save_bundle(path, python_model=SleepyModel(0.02), name="slow", example=[[0.0, 1.0]])
    with served(path, trust_code=True, max_queue_size=1, max_batch_size=1) as (url, model):
        before = request_counts(url, model)
        (step,) = bench(url, model, concurrency=[8], duration_s=1.0, window_s=0.5).steps
        seen = request_counts(url, model) - before
    assert step.status == dict(seen)
    assert step.status.get(503, 0) > 0 and step.status.get(200, 0) > 0
    assert step.failed == step.status[503]
    assert "overloaded" in step.error_samples[503]


def test_real_rows_and_generated_inputs_are_valid(fraud_bundle, fraud_rows, tmp_path, seed):
    pq.write_table(fraud_rows.select(FEATURES), tmp_path / "rows.parquet")
    with served(fraud_bundle, trust_code=True) as (url, model):
        for rows in (tmp_path / "rows.parquet", None):
            (step,) = bench(
                url, model, concurrency=[2], duration_s=0.5, window_s=0.25, rows=rows, seed=seed
            ).steps
            assert step.failed == 0 and step.status == {200: step.sent}, step.error_samples


def test_unknown_model_and_unreachable_server_are_clear_errors(fraud_bundle):
    with served(fraud_bundle, trust_code=True) as (url, _):
        with pytest.raises(NotFoundError, match="no model 'nope'"):
            bench(url, "nope", duration_s=0.5, window_s=0.25)
    port = _closed_port()
    with pytest.raises(ServerUnavailableError, match=f"127.0.0.1:{port}.*refused"):
        bench(f"http://127.0.0.1:{port}", "fraud")  # refused: said at once, no timeout waited
    with pytest.raises(ServerUnavailableError, match="cannot resolve"):
        bench("http://no-such-host.invalid:8000", "fraud")
    with pytest.raises(InvalidInputError, match="only http"):
        bench("https://127.0.0.1:8443", "fraud")
    with pytest.raises(InvalidInputError, match="not both"):
        bench("http://127.0.0.1:1", "fraud", concurrency=[1], rate=[10.0])


def test_seawall_bench_against_seawall_serve(fraud_bundle):
    from local_servers import seawall_command

    with seawall_command("serve", str(fraud_bundle), "--trust-code", ready="/v2/health/ready") as (
        url,
        _,
    ):
        before = request_counts(url, "fraud")
        done = _seawall_bench(
            url,
            "-m",
            "fraud",
            "--concurrency",
            "1:2",
            "--duration",
            "1s",
            "--window",
            "250ms",
            "--json",
        )
        seen = request_counts(url, "fraud") - before
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert [s["load"] for s in report["steps"]] == [1, 2]
        assert seen == {200: sum(s["sent"] for s in report["steps"])}
        table = _seawall_bench(
            url, "-m", "fraud", "--rate", "50", "--duration", "1s", "--window", "250ms"
        )
        assert table.returncode == 0, table.stderr
        assert "p99 ms" in table.stdout and "open loop" in table.stdout
        assert table.stderr == ""  # no progress display off a terminal
        unknown = _seawall_bench(url, "-m", "nope", "--duration", "1s")
        assert unknown.returncode == 1 and "no model 'nope'" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "8:1"], "below the start"),
        (["--rate", "fast"], "not a number"),
        (["--duration", "10 parsecs"], "not a duration"),
        (["--concurrency", "2", "--rate", "5"], "not both"),
        (["--poisson"], "--rate"),
        (["--window", "5s", "--duration", "1s"], "longer than"),
    ],
)
def test_bad_options_exit_2_with_a_message(args, message):
    done = _seawall_bench("http://127.0.0.1:1", "-m", "m", *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_unreachable_server_exits_1():
    port = _closed_port()
    done = _seawall_bench(f"http://127.0.0.1:{port}", "-m", "m", "--duration", "1s")
    assert done.returncode == 1
    assert f"cannot reach http://127.0.0.1:{port}" in done.stderr and "refused" in done.stderr
    assert "Traceback" not in done.stderr
