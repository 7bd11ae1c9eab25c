"""The model registry: models and their numbered versions (each a stored bundle), descriptions
and tags."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, and_, exists, func, or_, select, update

from ..bundles import verify_bundle
from ..errors import IntegrityError, InvalidInputError, NotFoundError
from . import _checks as checks
from . import _pages, _search
from . import _tombstones as tombstones
from ._actor import current_actor
from ._base import RegistryBase, _chunks
from ._bundles import BUNDLE_FORMAT, parse_manifest
from ._entities import Model, ModelVersion
from ._pages import ModelPage, VersionPage
from ._pins import Pins
from ._run import Run
from ._schema import aliases, model_tags, model_version_tags, model_versions, models, runs
from ._store import _check_sha, fire, walk_files
from .events._outbox import version_created, write_event

if TYPE_CHECKING:
    from ._registry import Registry


def _tag_rows(tags: Mapping[str, Any] | None) -> dict[str, str]:
    return {
        checks.check_key(k, "tag"): checks.text_value(k, v, "tag", checks.MAX_TAG_VALUE)
        for k, v in (tags or {}).items()
    }


class ModelsMixin(RegistryBase):
    """Models, versions, descriptions and tags."""

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

        The folder is checked first as ``seawall.bundles.verify_bundle`` does (its manifest,
        model kind and every file's SHA-256; nothing is loaded): a folder that is not a valid
        bundle raises IntegrityError (or UnsupportedVersionError) and nothing is stored. The
        bundle's files are stored content-addressed with a manifest; `profile` is the
        reference Profile of the training data (a Profile or a saved profile's path; by default
        the profile recorded with the run's one 'training' input, if any). Version numbers
        increase by one with no gap or duplicate, whatever registers at the same time.
        """
        from ..profiles import Profile

        checks.check_name(name, "model name")
        if description is not None and not isinstance(description, str):
            raise InvalidInputError("description must be a string")
        tag_rows = _tag_rows(tags)
        run_id = run.id if isinstance(run, Run) else run
        if run_id is not None:
            checks.check_run_id(run_id)
        if isinstance(profile, (str, os.PathLike)):
            profile = Profile.load(profile)
        if profile is not None and not isinstance(profile, Profile):
            raise InvalidInputError(
                f"profile must be a seawall Profile or a path to one, got {type(profile).__name__}"
            )
        if run_id is not None:
            cast("Registry", self).get_run(run_id)  # before storing anything
        listed = verify_bundle(bundle)["files"]
        found = walk_files(bundle)  # refuses symlinks and special files, before storing any
        files = []
        with self._pins() as pins:
            for rel, path in found:
                sha, size = pins.put_file(path)
                if rel in listed and listed[rel]["sha256"] != sha:
                    raise IntegrityError(f"{bundle}/{rel} changed while it was being registered")
                files.append({"path": rel, "sha256": sha, "size": size})
            manifest = json.dumps(
                {"format": BUNDLE_FORMAT, "files": files}, sort_keys=True, separators=(",", ":")
            ).encode()
            bundle_sha = pins.put_bytes(manifest)[0]
            profile_sha = pins.put_bytes(profile.to_bytes())[0] if profile else None
            fire("register:stored")
            out = self._register_stored(
                name, bundle_sha, profile_sha, run_id, description, tag_rows, pins
            )
        fire("register:committed")
        return out

    def _register_stored(
        self,
        name: str,
        bundle_sha: str,
        profile_sha: str | None,
        run_id: str | None,
        description: str | None,
        tags: Mapping[str, Any] | None,
        pins: Pins,
    ) -> ModelVersion:
        """The next version of `name`, for a bundle whose manifest, files and profile are
        stored and held by `pins`."""
        checks.check_name(name, "model name")
        if description is not None and not isinstance(description, str):
            raise InvalidInputError("description must be a string")
        tag_rows = _tag_rows(tags)
        if run_id is not None:
            checks.check_run_id(run_id)
        # What the version references: the manifest, its files and the profile (the writer
        # stored them; a server's client uploaded them).
        for f in parse_manifest(self.artifacts.get_bytes(bundle_sha), bundle_sha):
            pins.add(_check_sha(f["sha256"]))
        pins.add(bundle_sha)
        if profile_sha is not None:
            pins.add(_check_sha(profile_sha))
        now = time.time()
        actor = current_actor(self)

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
            model_pk, version, deleted_at, purged_at = conn.execute(
                update(models)
                .where(models.c.name == name)
                .values(last_version=models.c.last_version + 1, updated_at=now)
                .returning(
                    models.c.id, models.c.last_version, models.c.deleted_at, models.c.purged_at
                )
            ).one()
            if deleted_at is not None:  # (the rollback undoes the bump)
                if purged_at is None:
                    raise tombstones.model_deleted(name, purged=False)
                # A purged model's name is free again; its numbers go on from the last one.
                conn.execute(
                    update(models)
                    .where(models.c.id == model_pk)
                    .values(deleted_at=None, purged_at=None)
                )
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
                    actor=actor,
                )
                .returning(model_versions.c.id)
            ).scalar_one()
            if tag_rows:
                conn.execute(
                    model_version_tags.insert(),
                    [{"version_id": version_pk, "key": k, "value": v} for k, v in tag_rows.items()],
                )
            fire("register:inserted")
            write_event(conn, version_created(name, int(version), run_id, bundle_sha))
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
                actor,
            )

        return pins.record(tx)  # the version's references replace the pins: see _gc.py

    def list_versions(self, model: str) -> list[ModelVersion]:
        checks.check_name(model, "model name")
        with self._db.read() as conn:
            model_pk = self._model_id(conn, model)
            rows = conn.execute(
                select(model_versions)
                .where(model_versions.c.model_id == model_pk, tombstones.live(model_versions))
                .order_by(model_versions.c.version)
            ).all()
            return self._model_versions(conn, rows)

    def get_model(self, name: str) -> Model:
        checks.check_name(name, "model name")
        with self._db.read() as conn:
            row = conn.execute(select(models).where(models.c.name == name)).first()
            if row is None:
                raise NotFoundError(f"no model named {name!r}")
            if row.deleted_at is not None:
                raise tombstones.model_deleted(name, row.purged_at is not None)
            return self._model(conn, row)

    def _model(self, conn: Connection, row: Any) -> Model:
        return self._models(conn, [row])[0]

    def _models(self, conn: Connection, rows: Sequence[Any]) -> list[Model]:
        """Rows of models as records: their aliases, tags and latest versions read in a few
        queries for all of them."""
        named: dict[int, dict[str, int]] = {r.id: {} for r in rows}
        model_tag_rows: dict[int, dict[str, str]] = {r.id: {} for r in rows}
        latest: dict[int, int] = {}
        for part in _chunks(rows):
            ids = [r.id for r in part]
            for model_id, alias, version in conn.execute(
                select(aliases.c.model_id, aliases.c.alias, model_versions.c.version)
                .join(model_versions, model_versions.c.id == aliases.c.version_id)
                .where(aliases.c.model_id.in_(ids))
                .order_by(aliases.c.alias)
            ):
                named[model_id][alias] = version
            for model_id, key, value in conn.execute(
                select(model_tags.c.model_id, model_tags.c.key, model_tags.c.value).where(
                    model_tags.c.model_id.in_(ids)
                )
            ):
                model_tag_rows[model_id][key] = value
            latest.update(
                conn.execute(
                    select(model_versions.c.model_id, func.max(model_versions.c.version))
                    .where(model_versions.c.model_id.in_(ids), tombstones.live(model_versions))
                    .group_by(model_versions.c.model_id)
                ).all()
            )
        return [
            Model(
                row.name,
                row.description,
                row.created_at,
                row.updated_at,
                latest.get(row.id),
                named[row.id],
                model_tag_rows[row.id],
            )
            for row in rows
        ]

    def list_models(self) -> list[Model]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(models).where(tombstones.live(models)).order_by(models.c.name)
            ).all()
            return self._models(conn, rows)

    # --- search, a page at a time -------------------------------------------------------------

    def search_models(
        self,
        name_like: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> ModelPage:
        """Models (not deleted) whose name matches `name_like` (a like pattern: ``%`` any
        text, ``_`` one character, ``\\`` makes the next one literal; case-sensitive) and that
        carry every tag of `tags`, by name (byte order), at most `max_results` at a time.

        The answer's ``token``, passed back as ``page_token`` with the same arguments, gives
        the next page (None on the last). Pages are cut by name, so models registered or
        deleted between two calls never make another one appear twice or go missing."""
        _pages.check_max_results(max_results)
        if name_like is not None and (
            not isinstance(name_like, str) or _search.ends_with_lone_escape(name_like)
        ):
            raise InvalidInputError(
                f"name_like must be a like pattern: {name_like!r}"
                + (f" ({_search.LONE_ESCAPE})" if isinstance(name_like, str) else "")
            )
        wanted = _tag_rows(tags)
        key = _pages.query_key("models", name_like, wanted)
        name = _search.by_bytes(models.c.name, self._postgres)
        query = select(models).where(tombstones.live(models))
        if name_like is not None:
            query = query.where(models.c.name.like(name_like, escape="\\"))
        query = _tagged(query, model_tags, model_tags.c.model_id == models.c.id, wanted)
        if page_token is not None:
            (after,) = _pages.after_key(page_token, key, "search_models", (str,))
            query = query.where(name > after)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(name).limit(max_results + 1)).all()
            found = self._models(conn, rows[:max_results])
        more = len(rows) > max_results
        return ModelPage(found, _pages.keyset_token(key, (found[-1].name,)) if more else None)

    def search_model_versions(
        self,
        model: str | Sequence[str] | None = None,
        *,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> VersionPage:
        """Versions (not deleted) of `model` (a name, names, or None for every model), made
        by the run `run_id` if given, that carry every tag of `tags`; by model name (byte
        order), then version, at most `max_results` at a time.

        The answer's ``token``, passed back as ``page_token`` with the same arguments, gives
        the next page (None on the last). Pages are cut by (model, version), so versions
        registered or deleted between two calls never make another one appear twice or go
        missing."""
        _pages.check_max_results(max_results)
        if isinstance(model, str):
            names: list[str] | None = [model]
        elif model is None:
            names = None
        elif isinstance(model, (list, tuple)):
            names = list(model)
        else:
            raise InvalidInputError(f"model must be a name, a list of names or None, got {model!r}")
        for n in names or ():
            checks.check_name(n, "model name")
        if run_id is not None:
            checks.check_run_id(run_id)
        wanted = _tag_rows(tags)
        key = _pages.query_key("versions", names, run_id, wanted)
        name = _search.by_bytes(models.c.name, self._postgres)
        query = (
            select(model_versions)
            .join(models, models.c.id == model_versions.c.model_id)
            .where(tombstones.live(model_versions), tombstones.live(models))
        )
        if run_id is not None:
            query = query.where(
                model_versions.c.run_id.in_(select(runs.c.id).where(runs.c.uuid == run_id))
            )
        query = _tagged(
            query,
            model_version_tags,
            model_version_tags.c.version_id == model_versions.c.id,
            wanted,
        )
        if page_token is not None:
            after, version = _pages.after_key(page_token, key, "search_model_versions", (str, int))
            query = query.where(
                or_(name > after, and_(models.c.name == after, model_versions.c.version > version))
            )
        query = query.order_by(name, model_versions.c.version).limit(max_results + 1)
        with self._db.read() as conn:
            if names is not None:  # a model that is not there (or deleted) is told, by name
                query = query.where(
                    model_versions.c.model_id.in_([self._model_id(conn, n) for n in names])
                )
            rows = conn.execute(query).all()
            found = self._model_versions(conn, rows[:max_results])
        if len(rows) <= max_results:
            return VersionPage(found, None)
        last = found[-1]
        return VersionPage(found, _pages.keyset_token(key, (last.model, last.version)))

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


def _tagged(query: Any, table: Any, owned: Any, wanted: Mapping[str, str]) -> Any:
    """`query` keeping the rows that carry every tag of `wanted`, in the tag `table` (whose
    rows are theirs where `owned`)."""
    for k, v in wanted.items():
        query = query.where(exists().where(owned, table.c.key == k, table.c.value == v))
    return query
