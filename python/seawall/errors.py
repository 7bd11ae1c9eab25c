"""The errors seawall raises on purpose.

Every class derives from :class:`SeawallError` and also from the builtin exception a Python
user would catch for the same problem, so ``except ValueError`` keeps working. The native core
raises these same classes (translated once, in ``cpp/bindings/errors.cpp``).
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "AuthenticationError",
    "BatcherClosedError",
    "CudaUnavailableError",
    "DTypeError",
    "DeletedError",
    "IntegrityError",
    "InvalidInputError",
    "MissingColumnError",
    "MissingDependencyError",
    "MissingReferenceError",
    "NotFittedError",
    "NotFoundError",
    "PipelineCycleError",
    "QueueFullError",
    "RegistryUnavailableError",
    "RequestTimeoutError",
    "RunClosedError",
    "SeawallError",
    "ServerUnavailableError",
    "StepFailedError",
    "StorageError",
    "TokenExpiredError",
    "TokenForeignError",
    "TokenMalformedError",
    "TokenRevokedError",
    "TokenUnknownError",
    "UnsupportedVersionError",
    "UntrustedCodeError",
    "WarmupError",
]


class SeawallError(Exception):
    """Base class of every error seawall raises on purpose."""


class InvalidInputError(SeawallError, ValueError):
    """An argument or a value in the data cannot be used (NaN without imputation, empty table...)."""


class MissingColumnError(InvalidInputError, KeyError):
    """A column the operation needs is not in the data (or a field is not in the request)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DTypeError(SeawallError, TypeError):
    """A column or value has the wrong type (a string where a number was fit...)."""


class NotFittedError(SeawallError, ValueError, AttributeError):
    """The object must be fit before it is used, as scikit-learn's NotFittedError."""


class IntegrityError(SeawallError, ValueError):
    """Stored state failed validation: corrupted, truncated, or its hash does not match."""


class UnsupportedVersionError(SeawallError, ValueError):
    """Stored state was written by a newer seawall, in a format this version cannot read."""


class CudaUnavailableError(SeawallError, RuntimeError):
    """device="cuda" was asked of a build without CUDA, or of a machine without a device."""


class NotFoundError(SeawallError, KeyError):
    """A named thing does not exist: an experiment, run, model, version or alias in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DeletedError(NotFoundError):
    """The thing was deleted: softly (the message says how to restore it) or permanently
    (purged: it cannot be restored). Deleted things are hidden from lists, searches and lookups."""


class QueueFullError(SeawallError, RuntimeError):
    """The batcher's queue is at max_queue_size: the request was rejected at once, never queued."""


class RequestTimeoutError(SeawallError, TimeoutError):
    """A request waited in the batcher's queue past its timeout and was removed without running."""


class BatcherClosedError(SeawallError, RuntimeError):
    """The batcher was closed: new requests are refused, and pending ones too when not drained."""


class WarmupError(SeawallError, RuntimeError):
    """A model failed on its warm-up inputs (or its pipeline did): a server does not serve it."""


class AlreadyExistsError(SeawallError, FileExistsError):
    """A write-once name is taken: an artifact path in a run, a param logged with another value."""


class StorageError(SeawallError, OSError):
    """The registry's database failed: a corrupted or read-only file, a full disk, an error the
    database server reported. The message names the database and gives the database's words."""


class RegistryUnavailableError(StorageError, ConnectionError):
    """The registry's database cannot be reached (a server down, a file that cannot be opened),
    or another process kept it locked past the busy timeout."""


class ServerUnavailableError(SeawallError, ConnectionError):
    """A server cannot be reached (refused, unresolvable, timed out) or answered something that
    is not the protocol asked for; the message names the URL."""


class RunClosedError(SeawallError, RuntimeError):
    """The run has ended (finished, failed or killed): it takes no more params, metrics or files."""


class UntrustedCodeError(SeawallError, PermissionError):
    """Loading this would execute code from a file (a pickled model): pass trust_code=True."""


class PipelineCycleError(InvalidInputError):
    """A pipeline's steps depend on each other in a cycle; ``cycle`` names its steps in order."""

    def __init__(self, message: str, cycle: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.cycle = tuple(cycle)


class StepFailedError(SeawallError, RuntimeError):
    """A pipeline step raised after its retries; its dependents did not run, finished steps stay
    cached. ``result`` is the pipeline's run record (a ``seawall.pipelines.PipelineRun``)."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class MissingDependencyError(SeawallError, ImportError):
    """An optional package this needs is not installed; the message says what to install."""


class MissingReferenceError(NotFoundError):
    """A monitor has no reference profile to compare live data with: none was given, and the
    model version was registered without one (``register_model(..., profile=...)``)."""


# --- identity and access (tokens; seawall._server.tokens) ----------------------------------------
# A message never holds the token itself, only its public id where one is known.


class AuthenticationError(SeawallError, PermissionError):
    """A token cannot be accepted: a server answers 401. The subclasses say why."""


class TokenMalformedError(AuthenticationError):
    """The text is not a seawall token (``swt_...``): cut short, mistyped, or another secret."""


class TokenUnknownError(AuthenticationError):
    """A well-formed token that this registry (or token file) never issued or no longer has."""


class TokenForeignError(TokenUnknownError):
    """A token issued by another registry or token file (its issuer is not this one's)."""


class TokenExpiredError(AuthenticationError):
    """The token's expiry has passed."""


class TokenRevokedError(AuthenticationError):
    """The token was revoked."""


class AccessDeniedError(SeawallError, PermissionError):
    """The principal is known but its scopes do not allow this action on this resource: a
    server answers 403. ``needed`` is the scope that would allow it (``write:models/fraud``)."""

    def __init__(self, message: str, needed: str = "") -> None:
        super().__init__(message)
        self.needed = needed
