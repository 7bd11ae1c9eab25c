"""The datasets a run reads or writes: fingerprinted, profiled and linked to the run by context."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from sqlalchemy import Connection, select, update

from ..errors import InvalidInputError
from . import _checks as checks
from ._base import RegistryBase
from ._datasets import DatasetFingerprint
from ._entities import DatasetInput
from ._pins import Pins
from ._run import Run
from ._schema import datasets, run_inputs
from ._store import _check_sha

_CONTEXT = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")


def _check_fields(name: str | None, context: str, source: str | None) -> None:
    if name is not None:
        checks.check_name(name, "dataset name")
    if not isinstance(context, str) or not _CONTEXT.match(context):
        raise InvalidInputError(
            f"context must be a lowercase word such as 'training' or 'validation', got {context!r}"
        )
    if source is not None and not isinstance(source, str):
        raise InvalidInputError(f"source must be a string, got {type(source).__name__}")


class InputsMixin(RegistryBase):
    """A run's input datasets."""

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

        _check_fields(name, context, source)
        fp = data if isinstance(data, DatasetFingerprint) else DatasetFingerprint.from_data(data)
        if profile is True:
            if isinstance(data, DatasetFingerprint):
                raise InvalidInputError("profile=True needs the data, not a fingerprint")
            profile = Profile.from_data(data)
        if profile is not None and profile is not False and not isinstance(profile, Profile):
            raise InvalidInputError(
                f"profile must be a seawall Profile, True or None, got {type(profile).__name__}"
            )
        with self._pins() as pins:
            profile_sha = pins.put_bytes(profile.to_bytes())[0] if profile else None
            return self._record_input(run, fp, name, context, profile_sha, source, pins)

    def _record_input(
        self,
        run: Run,
        fp: DatasetFingerprint,
        name: str | None,
        context: str,
        profile_sha: str | None,
        source: str | None,
        pins: Pins,
    ) -> DatasetInput:
        """Links a fingerprinted dataset (and its stored profile, held by `pins`) to the run."""
        _check_fields(name, context, source)
        fp = fp.checked()
        if profile_sha is not None:
            pins.add(_check_sha(profile_sha))
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

        return pins.record(tx)  # the reference replaces the pin: see _gc.py

    def run_inputs(self, run_id: str) -> list[DatasetInput]:
        checks.check_run_id(run_id)
        with self._db.read() as conn:
            pk = self._run_pk(conn, run_id)
            return self._inputs(conn, pk)
