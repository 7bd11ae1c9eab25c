"""Identity: principals (users and service accounts, each belonging to a team) and their tokens.

A token is made for a principal with scopes and an expiry; the registry stores only its digest
(see ``seawall._server.tokens`` for the format and the scopes), so the token is shown once, by
``create_token``, and never again. ``authenticate`` turns a token into its principal or a typed
error (malformed, unknown, foreign, expired, revoked); servers call it through a cache that
keeps revocation within a second (``seawall._server.auth.Authenticator``).

``acting_as`` tells the registry whose changes it is writing: a server acting for a token
records the token's principal on the runs, versions and alias moves it makes.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from .._server import tokens as tk
from ..errors import InvalidInputError, NotFoundError, TokenUnknownError
from . import _actor
from ._base import RegistryBase
from ._schema import auth_settings, principals
from ._schema import tokens as tokens_table

_ISSUER_KEY = "token_issuer"
_DEFAULT_EXPIRY = 90 * 86400.0


@dataclass(frozen=True)
class PrincipalInfo:
    """A user or a service account, of one team."""

    name: str
    kind: str
    team: str
    created_at: float


def _info(row: Any) -> tk.TokenInfo:
    return tk.TokenInfo(
        row.token_id,
        row.name,
        row.kind,
        row.team,
        tuple(json.loads(row.scopes)),
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.rate_limit,
        row.description,
    )


_TOKEN_COLUMNS = (
    tokens_table.c.token_id,
    tokens_table.c.digest,
    tokens_table.c.scopes,
    tokens_table.c.created_at,
    tokens_table.c.expires_at,
    tokens_table.c.revoked_at,
    tokens_table.c.rate_limit,
    tokens_table.c.description,
    principals.c.name,
    principals.c.kind,
    principals.c.team,
)


class AuthMixin(RegistryBase):
    """Principals, tokens, and the actor the registry records."""

    _token_issuer: str | None = None

    # --- the actor ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def acting_as(self, actor: Any) -> Iterator[None]:
        """Within the block, the runs, versions and alias moves this registry writes (in this
        thread or task, and what it starts with the context copied) record `actor`: a
        :class:`~seawall._server.tokens.Principal` (recorded as ``service:ci``, ``user:ana``)
        or a name. Outside it, the OS login is recorded."""
        with _actor.acting_as(self, actor):
            yield

    @property
    def actor(self) -> str | None:
        """Who this registry records as the actor here and now."""
        return _actor.current_actor(self)

    # --- principals ---------------------------------------------------------------------------

    def _principal_pk(self, conn: Connection, name: str, kind: str, team: str) -> int:
        """The principal `name`, made if new; one of another kind or team is an error."""
        row = conn.execute(select(principals).where(principals.c.name == name)).first()
        if row is None:
            conn.execute(
                self._insert(principals)
                .values(name=name, kind=kind, team=team, created_at=time.time())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            row = conn.execute(select(principals).where(principals.c.name == name)).one()
        if (row.kind, row.team) != (kind, team):
            raise InvalidInputError(
                f"{name!r} is already a {row.kind} of team {row.team!r}: a principal belongs to "
                f"one team (asked for a {kind} of team {team!r})"
            )
        return int(row.id)

    def create_principal(self, name: str, *, kind: str = "service", team: str) -> PrincipalInfo:
        """A user or service account (`kind`) of `team`; the same one again is returned as is."""
        name, kind, team = tk.check_principal(name, kind, team)
        self._db.write(lambda conn: self._principal_pk(conn, name, kind, team))
        return next(p for p in self.principals() if p.name == name)

    def principals(self, team: str | None = None) -> list[PrincipalInfo]:
        query = select(principals).order_by(principals.c.name)
        if team is not None:
            query = query.where(principals.c.team == team)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [PrincipalInfo(r.name, r.kind, r.team, r.created_at) for r in rows]

    # --- tokens -------------------------------------------------------------------------------

    def _issuer(self, conn: Connection | None = None, create: bool = False) -> str | None:
        if self._token_issuer is not None:
            return self._token_issuer
        query = select(auth_settings.c.value).where(auth_settings.c.key == _ISSUER_KEY)
        if conn is None:
            with self._db.read() as reading:
                found = reading.execute(query).scalar()
        else:
            found = conn.execute(query).scalar()
        if found is None and create and conn is not None:
            conn.execute(
                self._insert(auth_settings)
                .values(key=_ISSUER_KEY, value=tk.new_issuer())
                .on_conflict_do_nothing(index_elements=["key"])
            )
            found = conn.execute(query).scalar_one()
        if found is not None:
            self._token_issuer = str(found)  # set once, never changes
        return self._token_issuer

    @property
    def token_issuer(self) -> str | None:
        """This registry's token issuer id (in every token it makes); None before its first."""
        return self._issuer()

    def create_token(
        self,
        name: str,
        *,
        kind: str = "service",
        team: str,
        scopes: Iterable[str | tk.Scope] | str,
        expires_in: float | None = _DEFAULT_EXPIRY,
        rate_limit: float | None = None,
        description: str | None = None,
    ) -> tk.NewToken:
        """A new token for the principal `name` (a ``"service"`` account or a ``"user"`` of
        `team`, made if new), with `scopes` (``"write:experiments/fraud*"``, ...), expiring in
        `expires_in` seconds (None: never) and at most `rate_limit` requests per second on a
        server (None: the server's default). The returned ``secret`` is the token: shown now,
        never again; the registry keeps only its digest."""
        scopes = [scopes] if isinstance(scopes, str) else scopes
        created_by = _actor.current_actor(self)

        def tx(conn: Connection) -> tk.NewToken:
            issuer = self._issuer(conn, create=True)
            assert issuer is not None
            new, record = tk.issue(
                issuer,
                name,
                kind,
                team,
                scopes,
                expires_in=expires_in,
                rate_limit=rate_limit,
                description=description,
            )
            info = new.info
            principal_pk = self._principal_pk(conn, info.principal, info.kind, info.team)
            conn.execute(
                tokens_table.insert().values(
                    token_id=info.id,
                    principal_id=principal_pk,
                    digest=record.digest,
                    scopes=json.dumps(list(info.scopes)),
                    created_at=info.created_at,
                    expires_at=info.expires_at,
                    rate_limit=info.rate_limit,
                    description=info.description,
                    created_by=created_by,
                )
            )
            return new

        result: tk.NewToken = self._db.write(tx)
        return result

    def _token_query(self) -> Any:
        return select(*_TOKEN_COLUMNS).join(
            principals, principals.c.id == tokens_table.c.principal_id
        )

    def tokens(
        self, principal: str | None = None, *, include_revoked: bool = True
    ) -> list[tk.TokenInfo]:
        """Every token (of one principal), oldest first: ids, principals, scopes, expiry and
        revocation; never a secret."""
        query = self._token_query().order_by(tokens_table.c.id)
        if principal is not None:
            query = query.where(principals.c.name == principal)
        if not include_revoked:
            query = query.where(tokens_table.c.revoked_at.is_(None))
        with self._db.read() as conn:
            return [_info(r) for r in conn.execute(query)]

    def revoke_token(self, token_id: str) -> tk.TokenInfo:
        """Revokes a token by its id; revoking it again keeps the first revocation time.
        Servers stop accepting it within a second."""
        tk.check_token_id(token_id)

        def tx(conn: Connection) -> tk.TokenInfo:
            conn.execute(
                update(tokens_table)
                .where(tokens_table.c.token_id == token_id, tokens_table.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
            row = conn.execute(
                self._token_query().where(tokens_table.c.token_id == token_id)
            ).first()
            if row is None:
                raise NotFoundError(f"no token {token_id} in this registry")
            return _info(row)

        result: tk.TokenInfo = self._db.write(tx)
        return result

    def _record(self, token_id: str) -> tk.TokenRecord | None:
        with self._db.read() as conn:
            row = conn.execute(
                self._token_query().where(tokens_table.c.token_id == token_id)
            ).first()
        return None if row is None else tk.TokenRecord(_info(row), row.digest)

    def authenticate(self, token: str) -> tk.Principal:
        """The principal and scopes `token` speaks for; TokenMalformedError, TokenForeignError
        (issued by another registry), TokenUnknownError, TokenExpiredError or
        TokenRevokedError (all AuthenticationError) when it does not."""
        issuer, token_id = tk.parse_token(token)
        tk.check_issuer(issuer, self._issuer())
        return tk.verify(self._record(token_id), token)

    def principal_for(self, token_id: str) -> tk.Principal:
        """The principal of a token already verified once (a dashboard session), by its id:
        expired and revoked tokens raise as in :meth:`authenticate`."""
        record = self._record(tk.check_token_id(token_id))
        if record is None:
            raise TokenUnknownError(f"token {token_id} is not known here")
        return tk.verify_info(record.info)

    def export_tokens(self, path: str | os.PathLike[str]) -> int:
        """Writes the digests of this registry's tokens to a token file (for ``--auth-tokens``
        on a server without the registry), atomically; returns how many."""
        with self._db.read() as conn:
            rows = conn.execute(self._token_query().order_by(tokens_table.c.id)).all()
        issuer = self._issuer()
        if issuer is None:
            raise NotFoundError("this registry has issued no token yet: nothing to export")
        tk.write_token_file(path, issuer, [tk.TokenRecord(_info(r), r.digest) for r in rows])
        return len(rows)
