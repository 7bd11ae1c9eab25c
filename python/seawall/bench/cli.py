"""`seawall bench`: load-test a model on an Open Inference Protocol server, or (``--sweep``) find
the batcher settings of a bundle that meet a p99 target.

A live display of each window goes to stderr when it is a terminal; the results table (or, with
``--json``, the results as JSON, for CI) goes to stdout. Bad options exit 2, a server that
cannot be reached or has no such model exits 1, each with a one-line message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..registry.cli import artifacts_option, open_registry, registry_option

__all__ = ["bench"]


def _steps(option: str, integer: bool) -> Any:
    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        from ..errors import InvalidInputError
        from .options import parse_steps

        try:
            return parse_steps(value, option, integer=integer)
        except InvalidInputError as exc:
            raise click.BadParameter(str(exc)) from None

    return parse


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from ..errors import InvalidInputError
    from .options import parse_duration

    try:
        return parse_duration(value, f"--{param.name}")
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc)) from None


def _ms(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _row(load: str, r: Any) -> list[str]:
    lat = r.latency_ms
    server = r.server
    split = f"{server['queue_us']:.0f} / {server['compute_us']:.0f}" if server else "-"
    return [
        load,
        f"{r.throughput:,.0f}",
        *(_ms(lat[k]) for k in ("p50", "p90", "p95", "p99", "max")),
        f"{r.failed:,}" if r.failed else "0",
        "yes" if r.stable else "no",
        split,
    ]


_HEADER = ["load", "req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms", "errors", "stable"]


def _table(title: str, rows: list[list[str]], first: str = "load") -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name in [first, *_HEADER[1:], "server queue/compute µs"]:
        table.add_column(name, justify="left" if name in (first, "stable") else "right")
    for row in rows:
        table.add_row(*row)
    return table


def _errors(result: Any) -> list[str]:
    lines = []
    for code, n in sorted(result.status.items()):
        if not 200 <= code < 300:
            sample = result.error_samples.get(code, "").strip()[:200]
            lines.append(f"  {n:,} answered {code}" + (f": {sample}" if sample else ""))
    for kind, n in result.errors.items():
        if n:
            lines.append(f"  {n:,} {kind}")
    if result.first_error:
        lines.append(f"  first error: {result.first_error}")
    return lines


class _Progress:
    """The live display on a terminal (stderr): the table so far and a line on what runs now;
    it goes away at the end, when the results are printed. Off a terminal, nothing."""

    def __init__(self, console: Any, first: str) -> None:
        self.console = console
        self.first = first
        self.rows: list[list[str]] = []
        self.text = "starting"
        self.live: Any = None

    def __enter__(self) -> _Progress:
        if self.console is not None:
            from rich.live import Live

            self.live = Live(self._render(), console=self.console, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.stop()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.spinner import Spinner

        return Group(_table("", self.rows, self.first), Spinner("dots", self.text))

    def line(self, text: str) -> None:
        self.text = text
        if self.live is not None:
            self.live.update(self._render())

    def row(self, row: list[str]) -> None:
        self.rows.append(row)
        self.line(self.text)


@click.command("bench")
@click.argument("target", metavar="URL")
@click.option("-m", "--model", "model", default=None, help="The model to load-test.")
@click.option(
    "--model-version", default=None, help="A version of the model (default: the one served)."
)
@click.option(
    "--concurrency",
    default=None,
    callback=_steps("--concurrency", True),
    help="Closed loop: requests in flight, START[:END[:STEP]] (1:64 doubles: 1, 2, 4 ... 64). "
    "The default, without --rate: 1.",
)
@click.option(
    "--rate",
    default=None,
    callback=_steps("--rate", False),
    help="Open loop: requests per second, START[:END[:STEP]]; latency counts from when each "
    "request was due.",
)
@click.option("--poisson", is_flag=True, help="Open loop: Poisson arrivals (default: constant).")
@click.option(
    "--duration",
    default="10s",
    show_default=True,
    callback=_duration,
    help="The longest a step runs (it ends sooner once three windows agree within 10%).",
)
@click.option(
    "--window",
    default="1s",
    show_default=True,
    callback=_duration,
    help="The measurement window.",
)
@click.option(
    "--data",
    type=click.Path(exists=True),
    default=None,
    help="Send real rows from this Parquet file (one column per model input) instead of "
    "generated values.",
)
@click.option(
    "--batch-size",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows per request.",
)
@click.option(
    "--connections",
    default=64,
    show_default=True,
    type=click.IntRange(min=1, max=100_000),
    help="Open loop: the most connections (and requests in flight).",
)
@click.option(
    "--timeout",
    default="30s",
    show_default=True,
    callback=_duration,
    help="A request unanswered this long counts as a timeout.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Generated values and Poisson arrivals.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (for CI).")
@click.option(
    "--sweep",
    is_flag=True,
    help="URL is a bundle directory or a models:/ URI: serve it in-process once per batcher "
    "setting (max batch size, queue delay, instances) and print the best for --p99-ms.",
)
@click.option(
    "--p99-ms",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The sweep's p99 target.",
)
@click.option(
    "--trust-code", is_flag=True, help="--sweep: allow a pickled Python model (loading runs code)."
)
@registry_option
@artifacts_option
@click.pass_context
def bench(
    ctx: click.Context,
    target: str,
    model: str | None,
    model_version: str | None,
    concurrency: list[float] | None,
    rate: list[float] | None,
    poisson: bool,
    duration: float,
    window: float,
    data: str | None,
    batch_size: int,
    connections: int,
    timeout: float,
    seed: int,
    as_json: bool,
    sweep: bool,
    p99_ms: float | None,
    trust_code: bool,
    registry_uri: str | None,
    artifacts_uri: str | None,
) -> None:
    """Load-test a model on an Open Inference Protocol server (seawall's or Triton's).

    \b
    seawall bench http://127.0.0.1:8000 -m fraud --concurrency 1:64
    seawall bench http://127.0.0.1:8000 -m fraud --rate 100:5000 --poisson --json
    seawall bench models:/fraud@champion --sweep --p99-ms 5 --concurrency 16

    Each step (a concurrency, or a rate) reports throughput, latency percentiles, errors by
    status and, when the server offers /v2/models/NAME/stats, its own queue and compute time.
    """
    from rich.console import Console

    from ..errors import InvalidInputError, SeawallError

    if concurrency is not None and rate is not None:
        raise click.UsageError("give --concurrency or --rate, not both")
    if poisson and rate is None:
        raise click.UsageError("--poisson is for the open loop: give --rate")
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)  # a pipe or a file: one table row per line
    progress = Console(stderr=True)
    live = progress.is_terminal and not as_json
    try:
        if sweep:
            _sweep(
                ctx,
                target,
                model,
                concurrency,
                rate,
                duration,
                data,
                trust_code,
                p99_ms,
                seed,
                as_json,
                registry_uri,
                artifacts_uri,
                out,
                progress if live else None,
            )
            return
        if p99_ms is not None:
            raise click.UsageError("--p99-ms is for --sweep")
        if target.startswith("models:/") or Path(target).is_dir():
            raise click.UsageError(
                f"{target} is a bundle, not a server: serve it (seawall serve) and give its URL, "
                "or give --sweep"
            )
        if model is None:
            raise click.UsageError("give the model to load-test: -m NAME")
        if window > duration:
            raise click.BadParameter("the window is longer than --duration", param_hint="--window")
        from .load_test import bench as run_bench

        mode_name = "rate" if rate is not None else "concurrency"
        with _Progress(progress if live else None, mode_name) as display:

            def on_window(w: dict[str, Any]) -> None:
                display.line(
                    f"{mode_name} step {len(display.rows) + 1}, window {w['window']}: "
                    f"{w['throughput']:,.0f} req/s, p50 {w['p50_ms']:.3g} ms, "
                    f"p99 {w['p99_ms']:.3g} ms, {w['errors']} errors"
                )

            result = run_bench(
                target,
                model,
                concurrency=[int(c) for c in concurrency] if concurrency else None,
                rate=rate,
                poisson=poisson,
                duration_s=duration,
                window_s=window,
                version=model_version,
                rows=data,
                batch_size=batch_size,
                connections=connections,
                timeout_s=timeout,
                seed=seed,
                on_window=on_window,
                on_step=lambda _, step: display.row(_row(f"{step.load:g}", step)),
            )
        rows = display.rows
    except InvalidInputError as exc:
        raise click.UsageError(str(exc)) from None
    except SeawallError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    loop = "open loop, Poisson" if poisson else "open loop" if rate else "closed loop"
    out.print(_table(f"{model} at {target} ({loop})", rows, mode_name))
    for step in result.steps:
        lines = _errors(step)
        if lines:
            out.print(f"{mode_name} {step.load:g}:", highlight=False)
            for line in lines:
                out.print(line, highlight=False, markup=False)


def _sweep(
    ctx: click.Context,
    target: str,
    name: str | None,
    concurrency: list[float] | None,
    rate: list[float] | None,
    duration: float,
    data: str | None,
    trust_code: bool,
    p99_ms: float | None,
    seed: int,
    as_json: bool,
    registry_uri: str | None,
    artifacts_uri: str | None,
    out: Any,
    progress: Any,
) -> None:
    from ..bundles import load_bundle
    from ..serving.cli import resolve
    from .payloads import read_rows
    from .sweep import GRID, sweep

    if p99_ms is None:
        raise click.UsageError("--sweep needs a target: --p99-ms")
    for option, steps in (("--concurrency", concurrency), ("--rate", rate)):
        if steps is not None and len(steps) != 1:
            raise click.BadParameter(
                "the sweep runs at one load: give one value", param_hint=option
            )
    if target.startswith(("http://", "https://")):
        raise click.UsageError(
            "--sweep starts the server itself: give a bundle directory or a models:/ URI"
        )
    if ctx.get_parameter_source("duration") != ParameterSource.COMMANDLINE:
        duration = 3.0  # per setting: the grid has 12
    reg = open_registry(registry_uri, artifacts_uri) if target.startswith("models:/") else None
    path, uri_name, _ = resolve(target, reg)
    bundle = load_bundle(path, trust_code=trust_code)
    rows = read_rows(data) if data else None
    total = 1
    for values in GRID.values():
        total *= len(values)
    with _Progress(progress, "batch / delay µs / instances") as display:

        def on_trial(setting: dict[str, int], result: Any) -> None:
            display.row(_row(_setting(setting), result))
            display.line(f"setting {min(len(display.rows) + 1, total)} of {total}")

        display.line(f"setting 1 of {total}")
        result = sweep(
            bundle,
            p99_ms=p99_ms,
            concurrency=int(concurrency[0]) if concurrency else None,
            rate=rate[0] if rate else None,
            duration_s=duration,
            rows=rows,
            trust_code=trust_code,
            name=name or uri_name,
            seed=seed,
            on_trial=on_trial,
        )
    trials = display.rows
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    load = f"{result.load:g} req/s" if result.mode == "open" else f"concurrency {result.load:g}"
    out.print(_table(f"sweep of {target} at {load}", trials, "batch / delay µs / instances"))
    if result.best is None:
        out.print(f"no setting met p99 <= {p99_ms:g} ms without errors", highlight=False)
        ctx.exit(1)
    best = result.best_result
    assert best is not None
    out.print(
        f"best: --max-batch-size {result.best['max_batch_size']} --max-queue-delay-us "
        f"{result.best['max_queue_delay_us']} --instances {result.best['instances']} "
        f"({best.throughput:,.0f} req/s, p99 {best.latency_ms['p99']:.3g} ms)",
        highlight=False,
    )


def _setting(setting: dict[str, int]) -> str:
    return f"{setting['max_batch_size']} / {setting['max_queue_delay_us']} / {setting['instances']}"
