"""`seawall labels join`: delayed labels joined to a model server's payload log by request id."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def labels() -> None:
    """Delayed labels, joined to what the model server logged (seawall serve --log-payloads)."""


@labels.command("join")
@click.option(
    "--payloads",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The payload log's folder (seawall serve --log-payloads), or one model's folder in it.",
)
@click.option(
    "--labels",
    "labels_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A Parquet or CSV file of request ids and labels.",
)
@click.option("--id-column", default="request_id", show_default=True, help="The labels' id column.")
@click.option(
    "--label-column", default="label", show_default=True, help="The labels' label column."
)
@click.option(
    "--row-column",
    default=None,
    help="The labels' column of the row within a request (default: a label per request).",
)
@click.option("--model", default=None, help="Only this model's records.")
@click.option(
    "--score",
    default=None,
    help="An output that is the probability of --positive-label (e.g. probabilities_1): print "
    "the AUC and log-loss per arm.",
)
@click.option(
    "--prediction",
    default=None,
    help="An output that is the predicted class (e.g. label): print the accuracy per arm.",
)
@click.option(
    "--positive-label",
    default="1",
    show_default=True,
    help="The label the score is the probability of (a number when it reads as one).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The joined Parquet file to write (replaced whole, never half written).",
)
def join(
    payloads: str,
    labels_path: str,
    id_column: str,
    label_column: str,
    row_column: str | None,
    model: str | None,
    score: str | None,
    prediction: str | None,
    positive_label: str,
    output: str,
) -> None:
    """Join delayed labels to the logged requests by request id and write the labelled rows
    (inputs, outputs, arm, time, and the label) to a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .._files import write_atomic
    from ..errors import SeawallError
    from ..serving.payload_records import read_payloads
    from .labels import join_labels, quality_by_arm

    target = Path(output).resolve()
    if target.is_relative_to(Path(payloads).resolve()):
        raise click.BadParameter(
            "write the joined file outside the payload folder (it would be read as payloads)",
            param_hint="--output",
        )
    try:
        records = read_payloads(payloads)
        joined = join_labels(
            records,
            labels_path,
            id_column=id_column,
            label_column=label_column,
            row_column=row_column,
            model=model,
        )
        sink = pa.BufferOutputStream()
        pq.write_table(joined, sink, compression="zstd")
        write_atomic(target, sink.getvalue().to_pybytes())
    except (SeawallError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    requests = len(set(joined.column("request_id").to_pylist()))
    click.echo(
        f"{joined.num_rows} labelled rows ({requests} requests) of {records.num_rows} logged "
        f"-> {output}"
    )
    if score is None and prediction is None:
        return
    label: object = positive_label
    try:
        label = int(positive_label)
    except ValueError:
        pass
    try:
        by_arm = quality_by_arm(
            joined, label_column, score=score, prediction=prediction, positive_label=label
        )
    except SeawallError as exc:
        raise click.ClickException(str(exc)) from exc
    for arm, metrics in by_arm.items():
        figures = ", ".join(
            f"{k} {v:.4f}" if k != "labels" else f"{int(v)} labels" for k, v in metrics.items()
        )
        click.echo(f"  {arm}: {figures}")
