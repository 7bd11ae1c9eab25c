"""`seawall validate` and `seawall schema`: data contracts from the command line, for CI.

Data is a Parquet file or directory (several may be given: they are read in order, as one
dataset), or a saved profile (``Profile.save``), which is checked from its statistics.

Exit status (the codes ruff and pytest use in the same sense, as ``seawall report drift``):

- 0: the data satisfies the schema (``seawall schema diff``: the schemas are the same);
- 1: anomalies were found, and the reports asked for were written (``diff``: they differ);
- 2: nothing was checked: bad options or arguments, or a schema or data that cannot be read
  (a corrupted or newer schema, an unreadable file); the message says which.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

EXIT_ANOMALIES = 1
EXIT_ERROR = 2


class _InputError(click.ClickException):
    """Input nothing can be checked with: exits with EXIT_ERROR, as usage errors do."""

    exit_code = EXIT_ERROR


def _data(paths: tuple[Path, ...]) -> Any:
    """A saved profile, or the Parquet paths as one dataset."""
    from ..profiles import Profile
    from ..profiles.profile import is_profile_file

    profiles = [is_profile_file(p) for p in paths]
    if any(profiles):
        if len(paths) != 1:
            raise click.UsageError("give one saved profile, or Parquet files and directories")
        return Profile.load(paths[0])
    return [str(p) for p in paths] if len(paths) > 1 else str(paths[0])


def _optional_data(path: Path | None) -> Any:
    return None if path is None else _data((path,))


@click.command("validate")
@click.option(
    "--schema",
    "schema_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The schema (JSON written by Schema.save or `seawall schema infer`).",
)
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the HTML report here.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report as JSON here.",
)
@click.option("--environment", help='The environment the data comes from (e.g. "SERVING").')
@click.option(
    "--row-limit",
    default=20,
    show_default=True,
    type=click.IntRange(0, 1_000_000),
    help="Failing rows reported per check.",
)
@click.option(
    "--serving",
    type=click.Path(exists=True, path_type=Path),
    help="Serving data (Parquet or a profile) to measure training-serving skew against.",
)
@click.option(
    "--previous",
    type=click.Path(exists=True, path_type=Path),
    help="The previous span (Parquet or a profile) to measure drift against.",
)
def validate_command(
    schema_path: Path,
    data: tuple[Path, ...],
    html_path: Path | None,
    json_path: Path | None,
    environment: str | None,
    row_limit: int,
    serving: Path | None,
    previous: Path | None,
) -> None:
    """Check DATA (Parquet files or directories, or a saved profile) against a schema.

    Prints one line per anomaly. Exit status: 0 when there is none, 1 when there are some
    (after writing the reports), 2 when nothing could be checked.
    """
    from ..errors import SeawallError
    from .schema import Schema

    started = time.perf_counter()
    try:
        schema = Schema.load(schema_path)
        report = schema.validate(
            _data(data),
            environment=environment,
            row_limit=row_limit,
            serving=_optional_data(serving),
            previous=_optional_data(previous),
        )
        if html_path is not None:
            report.save_html(html_path)
        if json_path is not None:
            report.save_json(json_path)
    except (SeawallError, OSError) as exc:
        raise _InputError(str(exc)) from exc
    for anomaly in report.anomalies:
        rows = f" (rows {', '.join(map(str, anomaly.rows[:5]))}{'...' if len(anomaly.rows) > 5 else ''})"
        click.echo(f"{anomaly}{rows if anomaly.rows else ''}")
    click.echo(f"{report.summary()} ({time.perf_counter() - started:.2f} s)")
    if not report.ok:
        click.get_current_context().exit(EXIT_ANOMALIES)


@click.group("schema")
def schema_group() -> None:
    """Data contracts: infer a schema from data, or compare two."""


@schema_group.command("infer")
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the schema (JSON).",
)
@click.option("--columns", help="Comma-separated columns (default: all).")
@click.option(
    "--max-domain-size",
    default=100,
    show_default=True,
    type=int,
    help="String columns with at most this many distinct values get a domain.",
)
@click.option(
    "--range-margin",
    default=0.1,
    show_default=True,
    type=float,
    help="Widen each numeric range by this share of its span on each side.",
)
@click.option(
    "--presence-margin",
    default=0.05,
    show_default=True,
    type=float,
    help="Allow this much less presence than seen in columns with nulls.",
)
@click.option("--unique", is_flag=True, help="Mark integer and string columns seen unique.")
def infer_command(
    data: tuple[Path, ...],
    output: Path,
    columns: str | None,
    max_domain_size: int,
    range_margin: float,
    presence_margin: float,
    unique: bool,
) -> None:
    """Infer a schema from DATA (Parquet files or directories, or a saved profile)."""
    from ..errors import SeawallError
    from .schema import Schema

    wanted = None
    if columns is not None:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        if not wanted:
            raise click.BadParameter("give at least one column name", param_hint="--columns")
    try:
        schema = Schema.infer(
            _data(data),
            wanted,
            max_domain_size=max_domain_size,
            range_margin=range_margin,
            presence_margin=presence_margin,
            infer_unique=unique,
        )
        schema.save(output)
    except (SeawallError, OSError) as exc:
        raise _InputError(str(exc)) from exc
    click.echo(f"schema of {len(schema)} columns written to {output}")


@schema_group.command("diff")
@click.argument("before", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("after", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def diff_command(before: Path, after: Path) -> None:
    """Show what changed from schema BEFORE to schema AFTER (exit 1 when anything did)."""
    from ..errors import SeawallError
    from .schema import Schema

    try:
        changes = Schema.load(before).diff(Schema.load(after))
    except (SeawallError, OSError) as exc:
        raise _InputError(str(exc)) from exc
    click.echo(str(changes))
    if changes:
        click.get_current_context().exit(EXIT_ANOMALIES)
