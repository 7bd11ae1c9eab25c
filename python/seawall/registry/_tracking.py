"""Experiment tracking: experiments, runs, their params, metrics and tags, run search, and
artifacts."""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import Connection, select, update

from ..errors import (
    AlreadyExistsError,
    DTypeError,
    InvalidInputError,
    NotFoundError,
    RunClosedError,
)
from . import _checks as checks
from . import _pages, _search, _stale
from . import _tombstones as tombstones
from ._actor import current_actor
from ._base import RegistryBase
from ._entities import Artifact, Experiment, Metric
from ._pins import Pins
from ._run import RUNNING, STATUSES, Run
from ._schema import artifacts, experiments, latest_metrics, params, runs, tags
from ._schema import metrics as metrics_table
from ._store import _check_sha, check_name, fire, safe_destination, walk_files
from .events._outbox import NewEvent, write_event

if TYPE_CHECKING:
    from ._registry import Registry

DEFAULT_EXPERIMENT = "default"
_CHUNK_ROWS = 500  # rows per multi-row INSERT ... ON CONFLICT (5 binds each; SQLite allows 32766)


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK_ROWS):
        yield items[start : start + _CHUNK_ROWS]


class Batch(NamedTuple):
    """A checked batch of a run's writes: metric rows (run pk, key, value, step, timestamp),
    params and tags as text, and the newest metric row per key."""

    metrics: list[tuple[int, str, float, int, float]]
    params: dict[str, str]
    tags: dict[str, str]
    newest: dict[str, tuple[int, str, float, int, float]]

    def apply(self, run: Run) -> None:
        """What the batch changes in the run's handle (refresh() reads the database)."""
        run.params.update(self.params)
        run.tags.update(self.tags)
        for key, row in self.newest.items():
            run.metrics[key] = row[2]


def check_batch(
    pk: int,
    metric_items: Iterable[Any] = (),
    param_items: Mapping[str, Any] | None = None,
    tag_items: Mapping[str, Any] | None = None,
) -> Batch | None:
    """The checked rows of a batch (None when it holds nothing), or the typed error of its
    first bad item; a metric without a timestamp gets now."""
    now = time.time()
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
        return None
    # The newest point per key in this batch (later wins a tie, as it is written later).
    newest: dict[str, tuple[int, str, float, int, float]] = {}
    for row in metric_rows:
        best = newest.get(row[1])
        if best is None or (row[3], row[4]) >= (best[3], best[4]):
            newest[row[1]] = row
    return Batch(metric_rows, param_rows, tag_rows, newest)


class TrackingMixin(RegistryBase):
    """Experiments, runs (params, metrics, tags) and their artifacts."""

    def create_experiment(self, name: str, description: str | None = None) -> Experiment:
        checks.check_name(name, "experiment name")

        def tx(conn: Connection) -> Experiment:
            exists = conn.execute(
                select(experiments.c.deleted_at).where(experiments.c.name == name)
            ).first()
            if exists is not None:
                deleted = "" if exists.deleted_at is None else " (deleted: restore it)"
                raise AlreadyExistsError(f"an experiment named {name!r} already exists{deleted}")
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
        if row.deleted_at is not None:
            raise tombstones.experiment_deleted(name, row.purged_at is not None)
        return Experiment(row.id, row.name, row.description, row.created_at)

    def list_experiments(self) -> list[Experiment]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(experiments).where(tombstones.live(experiments)).order_by(experiments.c.id)
            ).all()
        return [Experiment(r.id, r.name, r.description, r.created_at) for r in rows]

    def start_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Run:
        """Starts a run of `experiment` (created if new). Use it as a context manager to end it
        as FINISHED, or FAILED when the block raises."""
        run = self._start_run(experiment, name, _stale.this_process())
        self._keep_alive(run)
        fire("run:started")
        if tags or params:
            try:
                self._log_batch(run, param_items=params, tag_items=tags)
            except BaseException:
                self._end_run(run, "FAILED", missing_ok=True)
                raise
        return run

    def _start_run(
        self, experiment: str, name: str | None, process: tuple[str, int, int | None]
    ) -> Run:
        """A new RUNNING run of `experiment`, owned by `process` (host, pid, start time; see
        ``_stale``), which keeps its heartbeat."""
        checks.check_name(experiment, "experiment name")
        if name is not None:
            checks.check_name(name, "run name")
        host, pid, pid_start = _stale.check_process(process)
        run_id = uuid.uuid4().hex
        now = time.time()
        actor = current_actor(self)

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
                        host=host,
                        pid=pid,
                        pid_start=pid_start,
                        heartbeat_at=now,
                        actor=actor,
                    )
                    .returning(runs.c.id)
                ).scalar_one()
            )

        registry = cast("Registry", self)  # the parts of a registry only ever run in one
        return Run(
            registry,
            self._db.write(tx),
            run_id,
            experiment,
            name,
            RUNNING,
            now,
            None,
            {},
            {},
            {},
            actor=actor,
        )

    def _keep_alive(self, run: Run) -> None:
        """Keeps the heartbeat of a run this process started, until it ends."""
        self._heartbeat.add(run._pk)

    def _beat(self, run_ids: list[str]) -> None:
        """Marks running runs alive now: the heartbeat of their process, sent through a server."""
        if not isinstance(run_ids, list) or len(run_ids) > 10_000:
            raise InvalidInputError("run_ids must be a list of at most 10,000 run ids")
        ids = [checks.check_run_id(r) for r in run_ids]

        def tx(conn: Connection) -> None:
            conn.execute(
                update(runs)
                .where(runs.c.uuid.in_(ids), runs.c.status == RUNNING)
                .values(heartbeat_at=time.time())
            )

        if ids:
            self._db.write(tx)

    def get_run(self, run_id: str) -> Run:
        checks.check_run_id(run_id)
        with self._db.read() as conn:
            row = conn.execute(select(runs).where(runs.c.uuid == run_id)).first()
            if row is None:
                raise NotFoundError(f"no run with id {run_id!r}")
            self._run_pk(
                conn, run_id
            )  # DeletedError for a deleted run, or one of a deleted experiment
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

        self._heartbeat.discard(run._pk)
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
        batch = check_batch(run._pk, metric_items, param_items, tag_items)
        if batch is None:
            return
        self._write_batch(run, batch)
        batch.apply(run)

    def _write_batch(self, run: Run, batch: Batch) -> None:
        """Writes a checked batch in one transaction: all of it, or nothing."""
        metric_rows, param_rows, tag_rows, newest = batch
        columns = ("run_id", "key", "value", "step", "timestamp")
        insert_metrics = (
            f"INSERT INTO {metrics_table.name} ({', '.join(columns)}) VALUES ({self._marks})"
        )
        latest = latest_metrics.name
        upsert_latest = (
            f"INSERT INTO {latest} ({', '.join(columns)}) VALUES ({self._marks}) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, "
            "step = excluded.step, timestamp = excluded.timestamp "
            f"WHERE excluded.step > {latest}.step OR (excluded.step = {latest}.step "
            f"AND excluded.timestamp >= {latest}.timestamp)"
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
                # The newest point per key, kept where it is newer than the one stored: also
                # constant text (a statement built per call costs more than the write).
                conn.exec_driver_sql(upsert_latest, list(newest.values()))

        self._db.write(tx)

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
        MLflow's ``PagedList``); it is None on the last page. Pages are cut by the sort key of
        the last run given, so runs started or deleted between two calls never make another run
        come twice or go missing (a run whose sorted value changes in between, a metric logged
        again, may move across the cut).
        """
        _pages.check_max_results(max_results)
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
        last = None if page_token is None else _search.page_after(page_token, key, len(ordering))
        with self._db.read() as conn:
            # Deleted runs, and runs of deleted experiments, are not found (a deleted
            # experiment named here is DeletedError).
            columns = [
                (_search.order_column(field, self._postgres), descending)
                for field, descending in ordering
            ]
            keys = [column.label(f"order_{i}") for i, (column, _) in enumerate(columns)]
            query = select(runs, *keys).where(tombstones.live(runs))
            if names is None:
                query = query.where(
                    runs.c.experiment_id.in_(
                        select(experiments.c.id).where(tombstones.live(experiments))
                    )
                )
            else:
                ids = []
                for name in names:
                    checks.check_name(name, "experiment name")
                    ids.append(self._experiment_id(conn, name, create=False))
                query = query.where(runs.c.experiment_id.in_(ids))
            if tree is not None:
                query = query.where(_search.compile_filter(tree))
            # Ties go to the newest run; the key makes the order total, so that a page ends
            # at one row and the next starts just after it.
            columns += [(runs.c.start_time, True), (runs.c.id, True)]
            if last is not None:
                query = query.where(_search.after(columns, last))
            clauses = [(c.desc() if d else c.asc()).nulls_last() for c, d in columns]
            # One row more than asked tells whether another page follows.
            rows = conn.execute(query.order_by(*clauses).limit(max_results + 1)).all()
            page = rows[:max_results]
            token = None
            if len(rows) > max_results:
                end = page[-1]
                sort_key = [getattr(end, k.name) for k in keys] + [end.start_time, end.id]
                token = _search.page_token(sort_key, key)
            return _search.RunPage(self._runs(conn, page), token)

    def _record_artifacts(
        self, run: Run, items: list[tuple[str, str, int]], pins: Pins, event: NewEvent | None = None
    ) -> list[Artifact]:
        """Records stored objects (name, sha256, size) as the run's artifacts, with `event` in
        the same transaction; `pins` holds the objects until then."""
        for name, sha, size in items:
            check_name(name)
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise InvalidInputError(
                    f"the size of artifact {name!r} must be bytes, got {size!r}"
                )
            pins.add(_check_sha(sha))
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
            if event is not None:
                write_event(conn, event)
            return out

        return pins.record(tx)  # the references replace the pins: see _gc.py

    def _log_artifact(self, run: Run, path: Path, name: str | None) -> Artifact:
        if path.is_dir() and not path.is_symlink():
            raise InvalidInputError(f"{path} is a folder: use log_artifacts")
        name = check_name(name if name is not None else path.name)
        with self._pins() as pins:
            sha, size = pins.put_file(path)
            return self._record_artifacts(run, [(name, sha, size)], pins)[0]

    def _log_artifacts(self, run: Run, folder: Path, prefix: str | None) -> list[Artifact]:
        if prefix is not None:
            check_name(prefix, "artifact prefix")
        items = []
        with self._pins() as pins:
            for name, path in walk_files(folder):
                sha, size = pins.put_file(path)
                items.append((f"{prefix}/{name}" if prefix else name, sha, size))
            return self._record_artifacts(run, items, pins)

    def _log_bytes(
        self, run: Run, data: bytes, name: str, event: NewEvent | None = None
    ) -> Artifact:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DTypeError(f"log_bytes takes bytes, got {type(data).__name__}")
        check_name(name)
        if event is not None and not isinstance(event, NewEvent):
            raise InvalidInputError(
                f"event must be a seawall.registry.events.NewEvent, got {type(event).__name__}"
            )
        with self._pins() as pins:
            sha, size = pins.put_bytes(bytes(data))
            return self._record_artifacts(run, [(name, sha, size)], pins, event)[0]

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
