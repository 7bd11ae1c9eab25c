"""`seawall report drift`: the drift report from the command line.

Inputs are Parquet files or directories (only the compared columns are read), or two saved
profiles (``Profile.save``), which gives the report from sketches. The progress display shows
each phase on a terminal and stays quiet when the output is not one (CI logs, pipes).

Exit status, for CI (the codes ruff and pytest use in the same sense):

- 0: the report was written (without ``--fail-on-drift``, whatever it says);
- 1: with ``--fail-on-drift``, the report was written and the dataset drifted, or no column
  could be compared at all (every column lacks values on a side: nothing vouches for the data);
- 2: no report: bad options or arguments, or input that cannot be compared (a missing column,
  mismatched types, unreadable files); the message says which.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from .._files import write_atomic
from ..profiles.profile import is_profile_file

EXIT_DRIFT = 1
EXIT_ERROR = 2


class _InputError(click.ClickException):
    """Input the report cannot be made from: exits with EXIT_ERROR, as usage errors do."""

    exit_code = EXIT_ERROR


def _columns(option: str | None) -> list[str] | None:
    if option is None:
        return None
    names = [c.strip() for c in option.split(",") if c.strip()]
    if not names:
        raise click.BadParameter("give at least one column name", param_hint="--columns")
    return names


@click.group()
def report() -> None:
    """Write reports: data drift between a reference and a current dataset."""


@report.command("drift")
@click.option(
    "--reference",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Reference data: a Parquet file or directory, or a saved profile.",
)
@click.option(
    "--current",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Current data, of the same kind as --reference.",
)
@click.option(
    "--output",
    "-o",
    default="drift-report.html",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML report.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as JSON here.",
)
@click.option("--columns", help="Comma-separated columns to compare (default: all).")
@click.option(
    "--drift-share",
    default=0.5,
    show_default=True,
    help="Share of drifted columns at which the dataset counts as drifted.",
)
@click.option(
    "--fail-on-drift",
    is_flag=True,
    help=f"Exit with status {EXIT_DRIFT} (after writing the report) when the dataset drifted or "
    "no column could be compared; for CI.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def drift_command(
    reference: Path,
    current: Path,
    output: Path,
    json_path: Path | None,
    columns: str | None,
    drift_share: float,
    fail_on_drift: bool,
    quiet: bool,
) -> None:
    """Compare CURRENT with REFERENCE column by column and write the HTML drift report.

    The summary line gives the verdict and names the columns without values to compare. Exit
    status: 0 when the report is written; with --fail-on-drift, 1 when the dataset drifted or
    no column could be compared; 2 when no report could be made (bad options or input).
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..errors import SeawallError
    from ..profiles import Profile
    from .compare import compare

    console = Console(stderr=True, quiet=quiet)
    started = time.perf_counter()
    wanted = _columns(columns)
    profiles = is_profile_file(reference), is_profile_file(current)
    if profiles[0] != profiles[1]:
        raise click.UsageError(
            "--reference and --current must both be saved profiles or both be Parquet data"
        )
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    try:
        with progress:
            ref: Any
            cur: Any
            if profiles[0]:
                loading = progress.add_task("loading profiles", total=2)
                ref = Profile.load(reference)
                progress.advance(loading)
                cur = Profile.load(current)
                progress.advance(loading)
            else:
                ref, cur = reference, current
            task = progress.add_task("comparing columns", total=None)

            def on_column(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = compare(ref, cur, wanted, drift_share=drift_share, _on_column=on_column)
        result.save_html(output)
        if json_path is not None:
            write_atomic(json_path, json.dumps(result.to_dict(), indent=2).encode())
    except SeawallError as exc:
        raise _InputError(str(exc)) from exc
    click.echo(
        f"{result.summary()}; report written to {output} ({time.perf_counter() - started:.1f} s)"
    )
    if fail_on_drift and result.dataset_drift is not False:
        click.get_current_context().exit(EXIT_DRIFT)
