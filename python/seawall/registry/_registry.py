"""Registry: experiment tracking, the model registry and lineage on one database and one
content-addressed artifact store."""

from __future__ import annotations

import getpass
import json
import math
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from ..errors import (
    AlreadyExistsError,
    DTypeError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    RunClosedError,
)
from . import _checks as checks
from . import _migrate, _search
from ._datasets import DatasetFingerprint
from ._db import Database, seawall_home
from ._entities import (
    AliasEvent,
    Artifact,
    DatasetInput,
    Deployment,
    Experiment,
    Lineage,
    Metric,
    Model,
    ModelVersion,
)
from ._run import FINISHED, RUNNING, STATUSES, Run
from ._schema import (
    alias_events,
    aliases,
    artifacts,
    datasets,
    deployments,
    experiments,
    latest_metrics,
    model_tags,
    model_version_tags,
    model_versions,
    models,
    params,
    run_inputs,
    runs,
    tags,
)
from ._schema import metrics as metrics_table
from ._store import ArtifactStore, check_name, fire, hash_file, safe_destination, walk_files

DEFAULT_EXPERIMENT = "default"
BUNDLE_FORMAT = "seawall.bundle/1"
_CONTEXT = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_CHUNK_ROWS = 500  # rows per multi-row INSERT ... ON CONFLICT (5 binds each; SQLite allows 32766)


@cache
def _actor() -> str | None:
    try:
        return getpass.getuser()[:128]
    except Exception:  # no login name in some containers: record none rather than fail
        return None


class Registry:
    """Runs, models and their lineage in one database.

    ``Registry()`` opens the embedded SQLite database ``$SEAWALL_HOME/registry.db`` (default
    ``~/.seawall``; or ``$SEAWALL_REGISTRY_URI``) with artifacts under
    ``$SEAWALL_HOME/artifacts`` (or ``$SEAWALL_ARTIFACTS_URI``). `uri` may be a SQLite path or
    ``sqlite:///...``, or ``postgresql://user:pass@host/db``; `artifacts` a folder or
    ``s3://bucket/prefix?endpoint_override=...&region=...``. The database schema is created or
    upgraded in place on open. Bundles resolved to local folders are cached under `cache`
    (default ``$SEAWALL_HOME/cache``).
    """

    def __init__(
        self,
        uri: str | os.PathLike[str] | None = None,
        artifacts: str | os.PathLike[str] | None = None,
        *,
        cache: str | os.PathLike[str] | None = None,
    ) -> None:
        self._db = Database(uri)
        _migrate.upgrade(self._db)
        self.artifacts = ArtifactStore(artifacts)
        self._cache = Path(cache) if cache is not None else seawall_home() / "cache"
        self._postgres = self._db.dialect == "postgresql"
        # The driver's placeholders for the five columns of a metric row.
        style = self._db.engine.dialect.paramstyle
        self._marks = ", ".join(["?" if style == "qmark" else "%s"] * 5)

    @property
    def uri(self) -> str:
        return self._db.engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Registry({self.uri!r}, artifacts={self.artifacts.uri!r})"

    def close(self) -> None:
        """Closes the database connections (the registry reconnects if used again)."""
        self._db.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------

    def _insert(self, table: Any) -> Any:
        return (pg_dialect if self._postgres else sqlite_dialect).insert(table)

    def _experiment_id(self, conn: Connection, name: str, create: bool) -> int:
        found = conn.execute(select(experiments.c.id).where(experiments.c.name == name)).scalar()
        if found is not None:
            return int(found)
        if not create:
            raise NotFoundError(f"no experiment named {name!r}")
        conn.execute(
            self._insert(experiments)
            .values(name=name, created_at=time.time())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return int(
            conn.execute(select(experiments.c.id).where(experiments.c.name == name)).scalar_one()
        )

    def _model_id(self, conn: Connection, name: str, lock: bool = False) -> int:
        query = select(models.c.id).where(models.c.name == name)
        if lock:
            query = query.with_for_update()
        found = conn.execute(query).scalar()
        if found is None:
            raise NotFoundError(f"no model named {name!r}")
        return int(found)

    def _run_pk(self, conn: Connection, run_id: str) -> int:
        found = conn.execute(select(runs.c.id).where(runs.c.uuid == run_id)).scalar()
        if found is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return int(found)

    def _require_running(self, conn: Connection, run: Run) -> None:
        # FOR SHARE on PostgreSQL: an end_run racing with this write waits for it, or this
        # write sees the run ended. SQLite's BEGIN IMMEDIATE already serializes writers.
        status = conn.execute(
            select(runs.c.status).where(runs.c.id == run._pk).with_for_update(read=True)
        ).scalar()
        if status is None:
            raise NotFoundError(f"no run with id {run.id!r}")
        if status != RUNNING:
            run.status = status
            raise RunClosedError(f"run {run.id} has ended ({status}): it takes no more writes")

    def _runs(self, conn: Connection, rows: Sequence[Any]) -> list[Run]:
        """Run handles, with their params, newest metrics and tags, for rows of `runs`."""
        pks = [r.id for r in rows]
        loaded: dict[int, tuple[dict[str, str], dict[str, float], dict[str, str]]] = {
            pk: ({}, {}, {}) for pk in pks
        }
        for start in range(0, len(pks), 5000):
            part = pks[start : start + 5000]
            for table, slot in ((params, 0), (latest_metrics, 1), (tags, 2)):
                query = select(table.c.run_id, table.c.key, table.c.value).where(
                    table.c.run_id.in_(part)
                )
                for pk, key, value in conn.execute(query):
                    loaded[pk][slot][key] = value
        names = dict(conn.execute(select(experiments.c.id, experiments.c.name)).all())
        return [
            Run(
                self,
                r.id,
                r.uuid,
                names[r.experiment_id],
                r.name,
                r.status,
                r.start_time,
                r.end_time,
                *loaded[r.id],
            )
            for r in rows
        ]

    # --- experiments --------------------------------------------------------------------------

    def create_experiment(self, name: str, description: str | None = None) -> Experiment:
        checks.check_name(name, "experiment name")

        def tx(conn: Connection) -> Experiment:
            exists = conn.execute(select(experiments.c.id).where(experiments.c.name == name))
            if exists.scalar() is not None:
                raise AlreadyExistsError(f"an experiment named {name!r} already exists")
            now = time.time()
            pk = conn.execute(
                experiments.insert()
                .values(name=name, description=description, created_at=now)
                .returning(experiments.c.id)
            ).scalar_one()
            return Experiment(int(pk), name, description, now)

        return self._db.write(tx)

    def get_experiment(self, name: str) -> Experiment:
        checks.check_name(name, "experiment name")
        with self._db.read() as conn:
            row = conn.execute(select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no experiment named {name!r}")
        return Experiment(row.id, row.name, row.description, row.created_at)

    def list_experiments(self) -> list[Experiment]:
        with self._db.read() as conn:
            rows = conn.execute(select(experiments).order_by(experiments.c.id)).all()
        return [Experiment(r.id, r.name, r.description, r.created_at) for r in rows]

    # --- runs ---------------------------------------------------------------------------------

    def start_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Run:
        """Starts a run of `experiment` (created if new). Use it as a context manager to end it
        as FINISHED, or FAILED when the block raises."""
        checks.check_name(experiment, "experiment name")
        if name is not None:
            checks.check_name(name, "run name")
        run_id = uuid.uuid4().hex
        now = time.time()

        def tx(conn: Connection) -> int:
            exp = self._experiment_id(conn, experiment, create=True)
            return int(
                conn.execute(
                    runs.insert()
                    .values(
                        uuid=run_id,
                        experiment_id=exp,
                        name=name,
                        status=RUNNING,
                        start_time=now,
                    )
                    .returning(runs.c.id)
                ).scalar_one()
            )

        run = Run(
            self, self._db.write(tx), run_id, experiment, name, RUNNING, now, None, {}, {}, {}
        )
        if tags or params:
            try:
                self._log_batch(run, param_items=params, tag_items=tags)
            except BaseException:
                self._end_run(run, "FAILED", missing_ok=True)
                raise
        return run

    def get_run(self, run_id: str) -> Run:
        checks.check_run_id(run_id)
        with self._db.read() as conn:
            row = conn.execute(select(runs).where(runs.c.uuid == run_id)).first()
            if row is None:
                raise NotFoundError(f"no run with id {run_id!r}")
            return self._runs(conn, [row])[0]

    def _end_run(self, run: Run, status: str, missing_ok: bool = False) -> None:
        if status not in STATUSES or status == RUNNING:
            raise InvalidInputError(f"a run ends as FINISHED, FAILED or KILLED, got {status!r}")
        now = time.time()

        def tx(conn: Connection) -> int:
            result = conn.execute(
                update(runs)
                .where(runs.c.id == run._pk, runs.c.status == RUNNING)
                .values(status=status, end_time=now)
            )
            return result.rowcount

        if self._db.write(tx) == 0:
            if missing_ok:
                return
            with self._db.read() as conn:
                current = conn.execute(select(runs.c.status).where(runs.c.id == run._pk)).scalar()
            raise RunClosedError(f"run {run.id} has already ended ({current})")
        run.status, run.end_time = status, now

    def _log_batch(
        self,
        run: Run,
        metric_items: Iterable[Any] = (),
        param_items: Mapping[str, Any] | None = None,
        tag_items: Mapping[str, Any] | None = None,
    ) -> None:
        now = time.time()
        pk = run._pk
        # Tuples (run_id, key, value, step, timestamp), checked with a fast path for the usual
        # types (float values, int steps, keys seen before in this batch).
        metric_rows: list[tuple[int, str, float, int, float]] = []
        keys_ok: set[str] = set()
        key: Any
        value: Any
        step: Any
        ts: Any
        for item in metric_items:
            if type(item) is tuple and 2 <= len(item) <= 4:
                key, value, step, ts = (*item, 0, None)[:4]
            elif isinstance(item, Metric):
                key, value, step, ts = item.key, item.value, item.step, item.timestamp
            else:
                raise InvalidInputError(
                    "metrics are (key, value), (key, value, step), (key, value, step, timestamp) "
                    f"or Metric, got {item!r}"
                )
            if key not in keys_ok:
                keys_ok.add(checks.check_key(key, "metric"))
            if type(value) is not float or not math.isfinite(value):
                value = checks.metric_value(key, value)
            if type(step) is not int or not -(2**63) <= step < 2**63:
                step = checks.metric_step(key, step)
            if ts is None:
                ts = now
            elif type(ts) is not float or not math.isfinite(ts):
                ts = checks.timestamp(key, ts)
            metric_rows.append((pk, key, value, step, ts))
        param_rows = {
            checks.check_key(k, "param"): checks.text_value(k, v, "param", checks.MAX_PARAM_VALUE)
            for k, v in (param_items or {}).items()
        }
        tag_rows = {
            checks.check_key(k, "tag"): checks.text_value(k, v, "tag", checks.MAX_TAG_VALUE)
            for k, v in (tag_items or {}).items()
        }
        if not (metric_rows or param_rows or tag_rows):
            return
        # The newest point per key in this batch (later wins a tie, as it is written later).
        newest: dict[str, tuple[int, str, float, int, float]] = {}
        for row in metric_rows:
            best = newest.get(row[1])
            if best is None or (row[3], row[4]) >= (best[3], best[4]):
                newest[row[1]] = row
        columns = ("run_id", "key", "value", "step", "timestamp")
        insert_metrics = (
            f"INSERT INTO {metrics_table.name} ({', '.join(columns)}) VALUES ({self._marks})"
        )

        def tx(conn: Connection) -> None:
            self._require_running(conn, run)
            if param_rows:
                existing = dict(
                    conn.execute(
                        select(params.c.key, params.c.value).where(
                            params.c.run_id == run._pk, params.c.key.in_(list(param_rows))
                        )
                    ).all()
                )
                for key, value in existing.items():
                    if param_rows[key] != value:
                        raise AlreadyExistsError(
                            f"param {key!r} of run {run.id} is {value!r}; params are write-once "
                            f"(refusing {param_rows[key]!r})"
                        )
                new = [
                    {"run_id": run._pk, "key": k, "value": v}
                    for k, v in param_rows.items()
                    if k not in existing
                ]
                if new:
                    conn.execute(params.insert(), new)
            if tag_rows:
                for chunk in _chunks(list(tag_rows.items())):
                    stmt = self._insert(tags).values(
                        [{"run_id": run._pk, "key": k, "value": v} for k, v in chunk]
                    )
                    conn.execute(
                        stmt.on_conflict_do_update(
                            index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
                        )
                    )
            if metric_rows:
                # The history is the bulk of a batch: one executemany on the driver, with
                # placeholders only (the statement text is constant).
                conn.exec_driver_sql(insert_metrics, metric_rows)
                for chunk in _chunks([dict(zip(columns, r, strict=True)) for r in newest.values()]):
                    stmt = self._insert(latest_metrics).values(chunk)
                    ex = stmt.excluded
                    conn.execute(
                        stmt.on_conflict_do_update(
                            index_elements=["run_id", "key"],
                            set_={
                                "value": ex.value,
                                "step": ex.step,
                                "timestamp": ex.timestamp,
                            },
                            where=or_(
                                ex.step > latest_metrics.c.step,
                                and_(
                                    ex.step == latest_metrics.c.step,
                                    ex.timestamp >= latest_metrics.c.timestamp,
                                ),
                            ),
                        )
                    )

        self._db.write(tx)
        run.params.update(param_rows)
        run.tags.update(tag_rows)
        for key, row in newest.items():
            run.metrics[key] = row[2]  # the handle's view; refresh() reads the database

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged point of a metric, by step then time of logging."""
        checks.check_run_id(run_id)
        checks.check_key(key, "metric")
        with self._db.read() as conn:
            pk = self._run_pk(conn, run_id)
            rows = conn.execute(
                select(metrics_table)
                .where(metrics_table.c.run_id == pk, metrics_table.c.key == key)
                .order_by(metrics_table.c.step, metrics_table.c.timestamp, metrics_table.c.id)
            ).all()
        return [Metric(r.key, r.value, r.step, r.timestamp) for r in rows]

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> _search.RunPage:
        """Runs of `experiment` (a name, names, or None for all) matching `filter`, in SQL.

        ``filter``: e.g. ``"metrics.auc > 0.8 and params.lr = '0.1'"`` (see
        :mod:`seawall.registry._search` for the grammar). ``order_by``: e.g.
        ``["metrics.auc DESC", "params.lr"]``; runs lacking a key sort last either way, ties go
        to the newest run. Default: newest first.

        Returns a list of at most `max_results` runs whose ``token`` attribute, passed back as
        ``page_token`` with the same experiment, filter and order, gives the next page (as
        MLflow's ``PagedList``); it is None on the last page. Runs started between two calls can
        shift the pages, as with any offset paging.
        """
        if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
            raise InvalidInputError(f"max_results must be a positive integer, got {max_results!r}")
        tree = _search.parse_filter(filter) if filter is not None else None
        ordering = _search.parse_order_by(order_by)
        if isinstance(experiment, str):
            names = [experiment]
        elif experiment is None:
            names = None
        elif isinstance(experiment, (list, tuple)):
            names = list(experiment)
        else:
            raise InvalidInputError(
                f"experiment must be a name, a list of names or None, got {experiment!r}"
            )
        for name in names or ():
            checks.check_name(name, "experiment name")
        key = _search.query_key(names, filter, ordering)
        offset = 0 if page_token is None else _search.page_offset(page_token, key)
        with self._db.read() as conn:
            query = select(runs)
            if names is not None:
                ids = []
                for name in names:
                    checks.check_name(name, "experiment name")
                    ids.append(self._experiment_id(conn, name, create=False))
                query = query.where(runs.c.experiment_id.in_(ids))
            if tree is not None:
                query = query.where(_search.compile_filter(tree))
            clauses = []
            for field, descending in ordering:
                column = _search.order_column(field, self._postgres)
                clauses.append((column.desc() if descending else column.asc()).nulls_last())
            clauses += [runs.c.start_time.desc(), runs.c.id.desc()]
            # One row more than asked tells whether another page follows.
            query = query.order_by(*clauses).offset(offset).limit(max_results + 1)
            rows = conn.execute(query).all()
            more = len(rows) > max_results
            token = _search.page_token(offset + max_results, key) if more else None
            return _search.RunPage(self._runs(conn, rows[:max_results]), token)

    # --- artifacts ----------------------------------------------------------------------------

    def _record_artifacts(self, run: Run, items: list[tuple[str, str, int]]) -> list[Artifact]:
        now = time.time()

        def tx(conn: Connection) -> list[Artifact]:
            self._require_running(conn, run)
            out = []
            for name, sha, size in items:
                existing = conn.execute(
                    select(artifacts).where(artifacts.c.run_id == run._pk, artifacts.c.path == name)
                ).first()
                if existing is not None:
                    if existing.sha256 != sha:
                        raise AlreadyExistsError(
                            f"run {run.id} already has an artifact {name!r} with other content; "
                            "artifact names are write-once"
                        )
                    out.append(Artifact(name, existing.sha256, existing.size, existing.created_at))
                    continue
                conn.execute(
                    artifacts.insert().values(
                        run_id=run._pk, path=name, sha256=sha, size=size, created_at=now
                    )
                )
                out.append(Artifact(name, sha, size, now))
            return out

        return self._db.write(tx)

    def _log_artifact(self, run: Run, path: Path, name: str | None) -> Artifact:
        if path.is_dir() and not path.is_symlink():
            raise InvalidInputError(f"{path} is a folder: use log_artifacts")
        name = check_name(name if name is not None else path.name)
        sha, size = self.artifacts.put_file(path)
        return self._record_artifacts(run, [(name, sha, size)])[0]

    def _log_artifacts(self, run: Run, folder: Path, prefix: str | None) -> list[Artifact]:
        if prefix is not None:
            check_name(prefix, "artifact prefix")
        items = []
        for name, path in walk_files(folder):
            sha, size = self.artifacts.put_file(path)
            items.append((f"{prefix}/{name}" if prefix else name, sha, size))
        return self._record_artifacts(run, items)

    def _log_bytes(self, run: Run, data: bytes, name: str) -> Artifact:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DTypeError(f"log_bytes takes bytes, got {type(data).__name__}")
        check_name(name)
        sha, size = self.artifacts.put_bytes(bytes(data))
        return self._record_artifacts(run, [(name, sha, size)])[0]

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        checks.check_run_id(run_id)
        with self._db.read() as conn:
            pk = self._run_pk(conn, run_id)
            rows = conn.execute(
                select(artifacts).where(artifacts.c.run_id == pk).order_by(artifacts.c.path)
            ).all()
        return [Artifact(r.path, r.sha256, r.size, r.created_at) for r in rows]

    def _artifact_sha(self, run_id: str, name: str) -> str:
        checks.check_run_id(run_id)
        check_name(name)
        with self._db.read() as conn:
            pk = self._run_pk(conn, run_id)
            sha = conn.execute(
                select(artifacts.c.sha256).where(artifacts.c.run_id == pk, artifacts.c.path == name)
            ).scalar()
        if sha is None:
            raise NotFoundError(f"run {run_id} has no artifact {name!r}")
        return str(sha)

    def read_artifact(self, run_id: str, name: str) -> bytes:
        """An artifact's bytes, verified against its hash (IntegrityError if corrupted)."""
        return self.artifacts.get_bytes(self._artifact_sha(run_id, name))

    def download_artifacts(self, run_id: str, dest: str | os.PathLike[str]) -> Path:
        """Writes every artifact of a run under `dest`, each verified before it is in place."""
        root = Path(dest)
        root.mkdir(parents=True, exist_ok=True)
        for item in self.list_artifacts(run_id):
            target = safe_destination(root, item.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.artifacts.copy_to(item.sha256, target)
        return root

    # --- datasets -----------------------------------------------------------------------------

    def _log_input(
        self,
        run: Run,
        data: Any,
        name: str | None,
        context: str,
        profile: Any,
        source: str | None,
    ) -> DatasetInput:
        from ..profiles import Profile

        if name is not None:
            checks.check_name(name, "dataset name")
        if not isinstance(context, str) or not _CONTEXT.match(context):
            raise InvalidInputError(
                f"context must be a lowercase word such as 'training' or 'validation', "
                f"got {context!r}"
            )
        if source is not None and not isinstance(source, str):
            raise InvalidInputError(f"source must be a string, got {type(source).__name__}")
        fp = data if isinstance(data, DatasetFingerprint) else DatasetFingerprint.from_data(data)
        if profile is True:
            if isinstance(data, DatasetFingerprint):
                raise InvalidInputError("profile=True needs the data, not a fingerprint")
            profile = Profile.from_data(data)
        if profile is not None and profile is not False and not isinstance(profile, Profile):
            raise InvalidInputError(
                f"profile must be a seawall Profile, True or None, got {type(profile).__name__}"
            )
        profile_sha = self.artifacts.put_bytes(profile.to_bytes())[0] if profile else None
        schema = json.dumps(fp.schema)
        now = time.time()

        def tx(conn: Connection) -> DatasetInput:
            self._require_running(conn, run)
            conn.execute(
                self._insert(datasets)
                .values(
                    fingerprint=fp.fingerprint,
                    name=name,
                    schema=schema,
                    num_rows=fp.num_rows,
                    profile_sha256=profile_sha,
                    source=source,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["fingerprint"])
            )
            row = conn.execute(
                select(datasets).where(datasets.c.fingerprint == fp.fingerprint)
            ).one()
            # A profile given later fills an empty slot; a recorded one is never replaced.
            if profile_sha is not None and row.profile_sha256 is None:
                conn.execute(
                    update(datasets)
                    .where(datasets.c.id == row.id)
                    .values(profile_sha256=profile_sha)
                )
            conn.execute(
                self._insert(run_inputs)
                .values(run_id=run._pk, dataset_id=row.id, context=context)
                .on_conflict_do_nothing()
            )
            return DatasetInput(
                fp.fingerprint,
                row.name,
                json.loads(row.schema),
                row.num_rows,
                row.profile_sha256 or profile_sha,
                row.source,
                context,
            )

        return self._db.write(tx)

    def run_inputs(self, run_id: str) -> list[DatasetInput]:
        checks.check_run_id(run_id)
        with self._db.read() as conn:
            pk = self._run_pk(conn, run_id)
            return self._inputs(conn, pk)

    def _inputs(self, conn: Connection, run_pk: int) -> list[DatasetInput]:
        rows = conn.execute(
            select(datasets, run_inputs.c.context)
            .join(run_inputs, run_inputs.c.dataset_id == datasets.c.id)
            .where(run_inputs.c.run_id == run_pk)
            .order_by(run_inputs.c.context, datasets.c.id)
        ).all()
        return [
            DatasetInput(
                r.fingerprint,
                r.name,
                json.loads(r.schema),
                r.num_rows,
                r.profile_sha256,
                r.source,
                r.context,
            )
            for r in rows
        ]

    # --- models -------------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        bundle: str | os.PathLike[str],
        *,
        run: Run | str | None = None,
        profile: Any = None,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Registers the next version of model `name` (created if new) from a bundle folder.

        The bundle's files are stored content-addressed with a manifest; `profile` is the
        reference Profile of the training data (a Profile or a saved profile's path; by default
        the profile recorded with the run's one 'training' input, if any). Version numbers
        increase by one with no gap or duplicate, whatever registers at the same time.
        """
        from ..profiles import Profile

        checks.check_name(name, "model name")
        if description is not None and not isinstance(description, str):
            raise InvalidInputError("description must be a string")
        tag_rows = {
            checks.check_key(k, "tag"): checks.text_value(k, v, "tag", checks.MAX_TAG_VALUE)
            for k, v in (tags or {}).items()
        }
        run_id = run.id if isinstance(run, Run) else run
        if run_id is not None:
            checks.check_run_id(run_id)
        if isinstance(profile, (str, os.PathLike)):
            profile = Profile.load(profile)
        if profile is not None and not isinstance(profile, Profile):
            raise InvalidInputError(
                f"profile must be a seawall Profile or a path to one, got {type(profile).__name__}"
            )
        files = []
        for rel, path in walk_files(bundle):
            sha, size = self.artifacts.put_file(path)
            files.append({"path": rel, "sha256": sha, "size": size})
        if not files:
            raise InvalidInputError(f"the bundle folder {bundle} holds no files")
        manifest = json.dumps(
            {"format": BUNDLE_FORMAT, "files": files}, sort_keys=True, separators=(",", ":")
        ).encode()
        bundle_sha = self.artifacts.put_bytes(manifest)[0]
        profile_sha = self.artifacts.put_bytes(profile.to_bytes())[0] if profile else None
        fire("register:stored")
        now = time.time()

        def tx(conn: Connection) -> ModelVersion:
            run_pk = None
            chosen_profile = profile_sha
            if run_id is not None:
                run_pk = self._run_pk(conn, run_id)
                if chosen_profile is None:
                    training = [i for i in self._inputs(conn, run_pk) if i.context == "training"]
                    if len(training) == 1:
                        chosen_profile = training[0].profile_sha256
            conn.execute(
                self._insert(models)
                .values(name=name, created_at=now, updated_at=now, last_version=0)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            # The counter bump takes the model row's write lock: registrations of one model
            # serialize here, and a rollback undoes the bump with the version row.
            model_pk, version = conn.execute(
                update(models)
                .where(models.c.name == name)
                .values(last_version=models.c.last_version + 1, updated_at=now)
                .returning(models.c.id, models.c.last_version)
            ).one()
            version_pk = conn.execute(
                model_versions.insert()
                .values(
                    model_id=model_pk,
                    version=version,
                    run_id=run_pk,
                    bundle_sha256=bundle_sha,
                    profile_sha256=chosen_profile,
                    description=description,
                    created_at=now,
                )
                .returning(model_versions.c.id)
            ).scalar_one()
            if tag_rows:
                conn.execute(
                    model_version_tags.insert(),
                    [{"version_id": version_pk, "key": k, "value": v} for k, v in tag_rows.items()],
                )
            fire("register:inserted")
            return ModelVersion(
                name,
                int(version),
                run_id,
                bundle_sha,
                chosen_profile,
                description,
                now,
                dict(tag_rows),
                (),
            )

        out = self._db.write(tx)
        fire("register:committed")
        return out

    def _version_row(self, conn: Connection, ref: checks.ModelRef) -> Any:
        model_pk = self._model_id(conn, ref.name)
        query = select(model_versions).where(model_versions.c.model_id == model_pk)
        if ref.alias is not None:
            row = conn.execute(
                query.join(aliases, aliases.c.version_id == model_versions.c.id).where(
                    aliases.c.alias == ref.alias
                )
            ).first()
            if row is None:
                known = conn.execute(
                    select(aliases.c.alias).where(aliases.c.model_id == model_pk)
                ).scalars()
                raise NotFoundError(
                    f"model {ref.name!r} has no alias {ref.alias!r} "
                    f"(aliases: {', '.join(sorted(known)) or 'none'})"
                )
            return row
        if ref.version is None:
            row = conn.execute(query.order_by(model_versions.c.version.desc()).limit(1)).first()
            if row is None:
                raise NotFoundError(f"model {ref.name!r} has no versions")
            return row
        row = conn.execute(query.where(model_versions.c.version == ref.version)).first()
        if row is None:
            last = conn.execute(
                select(func.max(model_versions.c.version)).where(
                    model_versions.c.model_id == model_pk
                )
            ).scalar()
            have = f"versions 1 to {last}" if last else "no versions"
            raise NotFoundError(f"model {ref.name!r} has no version {ref.version} (it has {have})")
        return row

    def _ref(self, model: str, version: int | str | None) -> checks.ModelRef:
        """A reference from (name, version), (name, "alias"), (name, "latest") or a URI."""
        if version is None:
            if isinstance(model, str) and model.startswith("models:/"):
                return checks.parse_model_uri(model)
            raise InvalidInputError(
                f"name a version: ({model!r}, 3), ({model!r}, 'champion') or models:/{model}/3"
            )
        checks.check_name(model, "model name")
        if isinstance(version, str) and not version.isdigit():
            if version == "latest":
                return checks.ModelRef(model)
            return checks.ModelRef(model, alias=checks.check_alias(version))
        return checks.ModelRef(model, version=checks.check_version(version))

    def _model_version(self, conn: Connection, row: Any) -> ModelVersion:
        name = conn.execute(select(models.c.name).where(models.c.id == row.model_id)).scalar_one()
        run_id = (
            conn.execute(select(runs.c.uuid).where(runs.c.id == row.run_id)).scalar()
            if row.run_id is not None
            else None
        )
        version_tags = dict(
            conn.execute(
                select(model_version_tags.c.key, model_version_tags.c.value).where(
                    model_version_tags.c.version_id == row.id
                )
            ).all()
        )
        names = conn.execute(
            select(aliases.c.alias).where(aliases.c.version_id == row.id).order_by(aliases.c.alias)
        ).scalars()
        return ModelVersion(
            name,
            row.version,
            run_id,
            row.bundle_sha256,
            row.profile_sha256,
            row.description,
            row.created_at,
            version_tags,
            tuple(names),
        )

    def get_model_version(self, model: str, version: int | str | None = None) -> ModelVersion:
        """A version by number, alias or "latest": ``("churn", 3)``, ``("churn", "champion")``,
        or a URI, ``get_model_version("models:/churn@champion")``."""
        ref = self._ref(model, version)
        with self._db.read() as conn:
            return self._model_version(conn, self._version_row(conn, ref))

    def resolve(self, uri: str) -> ModelVersion:
        """The version a ``models:/name/3``, ``models:/name/latest`` or ``models:/name@alias``
        URI points to now."""
        return self.get_model_version(uri)

    def list_versions(self, model: str) -> list[ModelVersion]:
        checks.check_name(model, "model name")
        with self._db.read() as conn:
            model_pk = self._model_id(conn, model)
            rows = conn.execute(
                select(model_versions)
                .where(model_versions.c.model_id == model_pk)
                .order_by(model_versions.c.version)
            ).all()
            return [self._model_version(conn, r) for r in rows]

    def get_model(self, name: str) -> Model:
        checks.check_name(name, "model name")
        with self._db.read() as conn:
            row = conn.execute(select(models).where(models.c.name == name)).first()
            if row is None:
                raise NotFoundError(f"no model named {name!r}")
            return self._model(conn, row)

    def _model(self, conn: Connection, row: Any) -> Model:
        named = dict(
            conn.execute(
                select(aliases.c.alias, model_versions.c.version)
                .join(model_versions, model_versions.c.id == aliases.c.version_id)
                .where(aliases.c.model_id == row.id)
                .order_by(aliases.c.alias)
            ).all()
        )
        model_tag_rows = dict(
            conn.execute(
                select(model_tags.c.key, model_tags.c.value).where(model_tags.c.model_id == row.id)
            ).all()
        )
        return Model(
            row.name,
            row.description,
            row.created_at,
            row.updated_at,
            row.last_version or None,
            named,
            model_tag_rows,
        )

    def list_models(self) -> list[Model]:
        with self._db.read() as conn:
            rows = conn.execute(select(models).order_by(models.c.name)).all()
            return [self._model(conn, r) for r in rows]

    def set_model_description(self, name: str, description: str | None) -> None:
        checks.check_name(name, "model name")

        def tx(conn: Connection) -> None:
            pk = self._model_id(conn, name, lock=True)
            conn.execute(
                update(models)
                .where(models.c.id == pk)
                .values(description=description, updated_at=time.time())
            )

        self._db.write(tx)

    def set_model_tag(self, name: str, key: str, value: Any) -> None:
        checks.check_name(name, "model name")
        checks.check_key(key, "tag")
        text = checks.text_value(key, value, "tag", checks.MAX_TAG_VALUE)

        def tx(conn: Connection) -> None:
            pk = self._model_id(conn, name, lock=True)
            stmt = self._insert(model_tags).values(model_id=pk, key=key, value=text)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model_id", "key"], set_={"value": stmt.excluded.value}
                )
            )

        self._db.write(tx)

    def set_version_tag(self, model: str, version: int | str, key: str, value: Any) -> None:
        ref = self._ref(model, version)
        checks.check_key(key, "tag")
        text = checks.text_value(key, value, "tag", checks.MAX_TAG_VALUE)

        def tx(conn: Connection) -> None:
            row = self._version_row(conn, ref)
            stmt = self._insert(model_version_tags).values(version_id=row.id, key=key, value=text)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["version_id", "key"], set_={"value": stmt.excluded.value}
                )
            )

        self._db.write(tx)

    def set_version_description(
        self, model: str, version: int | str, description: str | None
    ) -> None:
        ref = self._ref(model, version)

        def tx(conn: Connection) -> None:
            row = self._version_row(conn, ref)
            conn.execute(
                update(model_versions)
                .where(model_versions.c.id == row.id)
                .values(description=description)
            )

        self._db.write(tx)

    # --- aliases ------------------------------------------------------------------------------

    def set_alias(
        self, model: str, alias: str, version: int | str, reason: str | None = None
    ) -> AliasEvent:
        """Points `alias` at `version` (a number, "latest", or another alias's version), in one
        transaction with the audit record of the move (time, previous version, reason)."""
        checks.check_alias(alias)
        ref = self._ref(model, version)
        if reason is not None and not isinstance(reason, str):
            raise InvalidInputError("reason must be a string")

        def tx(conn: Connection) -> AliasEvent:
            model_pk = self._model_id(conn, model, lock=True)  # serializes moves of this model
            target = self._version_row(conn, ref)
            previous = conn.execute(
                select(model_versions.c.version)
                .join(aliases, aliases.c.version_id == model_versions.c.id)
                .where(aliases.c.model_id == model_pk, aliases.c.alias == alias)
            ).scalar()
            now = time.time()
            stmt = self._insert(aliases).values(
                model_id=model_pk, alias=alias, version_id=target.id, updated_at=now
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model_id", "alias"],
                    set_={"version_id": stmt.excluded.version_id, "updated_at": now},
                )
            )
            event = AliasEvent(model, alias, target.version, previous, reason, _actor(), now)
            conn.execute(alias_events.insert().values(model_id=model_pk, **_event_row(event)))
            conn.execute(update(models).where(models.c.id == model_pk).values(updated_at=now))
            return event

        return self._db.write(tx)

    promote = set_alias

    def delete_alias(self, model: str, alias: str, reason: str | None = None) -> AliasEvent:
        checks.check_name(model, "model name")
        checks.check_alias(alias)

        def tx(conn: Connection) -> AliasEvent:
            model_pk = self._model_id(conn, model, lock=True)
            previous = conn.execute(
                select(model_versions.c.version)
                .join(aliases, aliases.c.version_id == model_versions.c.id)
                .where(aliases.c.model_id == model_pk, aliases.c.alias == alias)
            ).scalar()
            if previous is None:
                raise NotFoundError(f"model {model!r} has no alias {alias!r}")
            conn.execute(
                aliases.delete().where(aliases.c.model_id == model_pk, aliases.c.alias == alias)
            )
            event = AliasEvent(model, alias, None, previous, reason, _actor(), time.time())
            conn.execute(alias_events.insert().values(model_id=model_pk, **_event_row(event)))
            return event

        return self._db.write(tx)

    def alias_history(self, model: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the model's aliases (or of one alias), oldest first."""
        checks.check_name(model, "model name")
        if alias is not None:
            checks.check_alias(alias)
        with self._db.read() as conn:
            model_pk = self._model_id(conn, model)
            query = select(alias_events).where(alias_events.c.model_id == model_pk)
            if alias is not None:
                query = query.where(alias_events.c.alias == alias)
            rows = conn.execute(query.order_by(alias_events.c.id)).all()
        return [
            AliasEvent(model, r.alias, r.version, r.previous_version, r.reason, r.actor, r.at)
            for r in rows
        ]

    # --- deployments and lineage --------------------------------------------------------------

    def record_deployment(
        self,
        model: str,
        version: int | str | None = None,
        target: str = "default",
        details: Mapping[str, Any] | None = None,
    ) -> Deployment:
        """Records that a version went to `target` (a server, an endpoint...). `version` may be
        an alias, which is resolved now and kept beside the version."""
        ref = self._ref(model, version)
        if not isinstance(target, str) or not 1 <= len(target) <= 256:
            raise InvalidInputError(f"target must be a string of 1 to 256 characters: {target!r}")
        try:
            details_text = json.dumps(dict(details)) if details is not None else None
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"details must be JSON-serializable: {exc}") from None

        def tx(conn: Connection) -> Deployment:
            row = self._version_row(conn, ref)
            now = time.time()
            pk = conn.execute(
                deployments.insert()
                .values(
                    version_id=row.id, target=target, alias=ref.alias, details=details_text, at=now
                )
                .returning(deployments.c.id)
            ).scalar_one()
            return Deployment(
                int(pk), ref.name, row.version, target, ref.alias, _loads(details_text), now
            )

        return self._db.write(tx)

    def lineage(self, model: str, version: int | str | None = None) -> Lineage:
        """The graph datasets -> run -> model version -> aliases and deployments, with every
        alias move to or from the version."""
        ref = self._ref(model, version)
        with self._db.read() as conn:
            row = self._version_row(conn, ref)
            mv = self._model_version(conn, row)
            nodes: list[dict[str, Any]] = []
            edges: list[dict[str, str]] = []
            mv_id = f"model_version:{mv.model}/{mv.version}"
            nodes.append(
                {
                    "id": mv_id,
                    "kind": "model_version",
                    "model": mv.model,
                    "version": mv.version,
                    "bundle_sha256": mv.bundle_sha256,
                    "profile_sha256": mv.profile_sha256,
                    "description": mv.description,
                    "created_at": mv.created_at,
                    "tags": mv.tags,
                }
            )
            if row.run_id is not None:
                run = self._runs(
                    conn, conn.execute(select(runs).where(runs.c.id == row.run_id)).all()
                )[0]
                run_node = f"run:{run.id}"
                nodes.append(
                    {
                        "id": run_node,
                        "kind": "run",
                        "run_id": run.id,
                        "experiment": run.experiment,
                        "name": run.name,
                        "status": run.status,
                        "start_time": run.start_time,
                        "end_time": run.end_time,
                        "params": run.params,
                        "metrics": run.metrics,
                    }
                )
                edges.append({"source": run_node, "target": mv_id, "relation": "produced"})
                for ds in self._inputs(conn, row.run_id):
                    ds_node = f"dataset:{ds.fingerprint}"
                    if not any(n["id"] == ds_node for n in nodes):
                        nodes.append(
                            {
                                "id": ds_node,
                                "kind": "dataset",
                                "fingerprint": ds.fingerprint,
                                "name": ds.name,
                                "num_rows": ds.num_rows,
                                "schema": ds.schema,
                                "profile_sha256": ds.profile_sha256,
                                "source": ds.source,
                            }
                        )
                    edges.append({"source": ds_node, "target": run_node, "relation": ds.context})
            for alias in mv.aliases:
                alias_node = f"alias:{mv.model}@{alias}"
                nodes.append({"id": alias_node, "kind": "alias", "model": mv.model, "alias": alias})
                edges.append({"source": mv_id, "target": alias_node, "relation": "aliased"})
            for d in conn.execute(
                select(deployments)
                .where(deployments.c.version_id == row.id)
                .order_by(deployments.c.id)
            ).all():
                d_node = f"deployment:{d.id}"
                nodes.append(
                    {
                        "id": d_node,
                        "kind": "deployment",
                        "target": d.target,
                        "alias": d.alias,
                        "details": _loads(d.details),
                        "at": d.at,
                    }
                )
                edges.append({"source": mv_id, "target": d_node, "relation": "deployed"})
            history = [
                AliasEvent(
                    mv.model, e.alias, e.version, e.previous_version, e.reason, e.actor, e.at
                )
                for e in conn.execute(
                    select(alias_events)
                    .where(
                        alias_events.c.model_id == row.model_id,
                        or_(
                            alias_events.c.version == mv.version,
                            alias_events.c.previous_version == mv.version,
                        ),
                    )
                    .order_by(alias_events.c.id)
                ).all()
            ]
        return Lineage(mv.model, mv.version, nodes, edges, history)

    # --- bundles and profiles -----------------------------------------------------------------

    def bundle_manifest(self, uri: str) -> list[dict[str, Any]]:
        """The files of a version's bundle: path, sha256 and size of each (verified manifest)."""
        return self._manifest(self.resolve(uri).bundle_sha256)

    def _manifest(self, sha: str) -> list[dict[str, Any]]:
        try:
            manifest = json.loads(self.artifacts.get_bytes(sha))
            files = manifest["files"]
            if manifest.get("format") != BUNDLE_FORMAT or not isinstance(files, list):
                raise ValueError("unknown format")
            for f in files:
                check_name(f["path"], "bundle file name")
                if not isinstance(f["sha256"], str) or not isinstance(f["size"], int):
                    raise ValueError("bad entry")
        except (ValueError, KeyError, TypeError, InvalidInputError) as exc:
            raise IntegrityError(f"bundle manifest {sha} is not valid: {exc}") from None
        return list(files)

    def bundle_path(self, uri: str) -> Path:
        """A verified local copy of a version's bundle folder (see :func:`resolve_bundle`)."""
        return self._materialize(self.resolve(uri).bundle_sha256)

    def _materialize(self, sha: str) -> Path:
        files = self._manifest(sha)
        home = self._cache / "bundles"
        home.mkdir(parents=True, exist_ok=True)
        final = home / sha
        if final.is_symlink():
            raise IntegrityError(f"{final} is a symlink; refusing to use it as a bundle copy")
        if final.is_dir():
            if _tree_matches(final, files):
                return final
            # Someone changed the copy: move it aside (atomically) and make a fresh one.
            aside = Path(tempfile.mkdtemp(dir=home, prefix=".stale-"))
            try:
                os.replace(final, aside / "old")
            except FileNotFoundError:
                pass
            shutil.rmtree(aside, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=home, prefix=".tmp-"))
        try:
            for f in files:
                target = safe_destination(tmp, f["path"])
                target.parent.mkdir(parents=True, exist_ok=True)
                self.artifacts.copy_to(f["sha256"], target)
            try:
                os.rename(tmp, final)
            except OSError:
                # Another process put the same copy in place first: use it if it verifies.
                if not _tree_matches(final, files):
                    raise IntegrityError(
                        f"the cached bundle copy {final} does not match its manifest"
                    ) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def load_model(self, uri: str, **kwargs: Any) -> Any:
        """Loads a version with ``seawall.serving.load_bundle(path, **kwargs)`` from a verified
        local copy of its bundle (e.g. ``trust_code=True`` for a pickled Python model)."""
        import importlib

        path = self.bundle_path(uri)
        load_bundle = getattr(importlib.import_module("seawall.serving"), "load_bundle", None)
        if load_bundle is None:
            raise NotImplementedError(
                "this seawall has no seawall.serving.load_bundle to load bundles with; "
                f"the verified bundle folder is {path}"
            )
        return load_bundle(path, **kwargs)

    def reference_profile(self, uri: str) -> Any:
        """The reference Profile of a version's training data (verified on read)."""
        from ..profiles import Profile

        mv = self.resolve(uri)
        if mv.profile_sha256 is None:
            raise NotFoundError(f"{mv.uri} was registered without a reference profile")
        data = self.artifacts.get_bytes(mv.profile_sha256)
        return Profile.from_bytes(data, source=f"the reference profile of {mv.uri}")


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK_ROWS):
        yield items[start : start + _CHUNK_ROWS]


def _event_row(event: AliasEvent) -> dict[str, Any]:
    return {
        "alias": event.alias,
        "version": event.version,
        "previous_version": event.previous_version,
        "reason": event.reason,
        "actor": event.actor,
        "at": event.at,
    }


def _loads(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def _tree_matches(root: Path, files: list[dict[str, Any]]) -> bool:
    try:
        present = walk_files(root)
    except (InvalidInputError, NotFoundError):
        return False
    expected = {f["path"]: f["sha256"] for f in files}
    if [name for name, _ in present] != sorted(expected):
        return False
    return all(hash_file(path)[0] == expected[name] for name, path in present)


def resolve_bundle(uri: str, registry: Registry | None = None) -> Path:
    """A verified local copy of the bundle folder a ``models:/...`` URI points to.

    Every file is checked against the hashes of the version's manifest before the path is
    returned; a corrupted stored file raises IntegrityError. With no `registry`, the default
    one (``Registry()``) is used.
    """
    reg = registry if registry is not None else Registry()
    return reg.bundle_path(uri)


__all__ = ["FINISHED", "Registry", "resolve_bundle"]
