"""`seawall report drift`: the drift report from the command line.

Inputs are Parquet files or directories (only the compared columns are read), or two saved
profiles (``Profile.save``), which gives the report from sketches. The progress display shows
each phase on a terminal and stays quiet when the output is not one (CI logs, pipes).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from .._files import write_atomic
from ..profiles.profile import MAGIC as PROFILE_MAGIC


def _is_profile(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(len(PROFILE_MAGIC)) == PROFILE_MAGIC


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
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def drift_command(
    reference: Path,
    current: Path,
    output: Path,
    json_path: Path | None,
    columns: str | None,
    drift_share: float,
    quiet: bool,
) -> None:
    """Compare CURRENT with REFERENCE column by column and write the HTML drift report.

    Exits with status 0 whether or not drift is found; the summary line says which.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..errors import SeawallError
    from ..profiles import Profile
    from .compare import compare

    console = Console(stderr=True, quiet=quiet)
    started = time.perf_counter()
    wanted = _columns(columns)
    profiles = _is_profile(reference), _is_profile(current)
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
        raise click.ClickException(str(exc)) from exc
    verdict = "dataset drift detected" if result.dataset_drift else "no dataset drift"
    click.echo(
        f"{verdict}: {result.number_of_drifted_columns} of {len(result.columns)} columns "
        f"drifted; report written to {output} ({time.perf_counter() - started:.1f} s)"
    )
