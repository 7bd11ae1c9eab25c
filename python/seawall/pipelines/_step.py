"""Steps: functions with declared inputs and outputs, and the hash of their code."""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import marshal
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

from ..errors import DTypeError, InvalidInputError

__all__ = ["Step", "step"]

# Data names become artifact paths and registry keys: keep them plain.
_DATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")


def check_data_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _DATA_NAME.match(name):
        raise InvalidInputError(
            f"invalid {what} {name!r}: use 1 to 128 letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'"
        )
    return name


def code_sha256(fn: Callable[..., Any]) -> str:
    """SHA-256 of a function's code as written: the syntax tree of its source, without its
    decorators and docstring, so reformatting, comments and the decorator's arguments do not
    count. Functions without source (defined in a REPL) fall back to their bytecode.

    Only the function's own body counts, not the functions it calls: bump the step's
    ``version`` when a helper changes.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        node: ast.AST = tree
        first = tree.body[0] if len(tree.body) == 1 else None
        if isinstance(first, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first.decorator_list = []
            body = first.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                first.body = body[1:] or [ast.Pass()]
            node = first
        text = ast.dump(node).encode("utf-8")
    except (OSError, TypeError, SyntaxError):
        text = b"bytecode:" + marshal.dumps(fn.__code__)
    return hashlib.sha256(text).hexdigest()


class Step:
    """A function run as one step of a :class:`~seawall.pipelines.Pipeline`.

    Made by :func:`step`. Calling it calls the function. ``inputs`` maps each parameter of the
    function to the name of the data it takes; ``outputs`` names what it returns.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        inputs: Mapping[str, str] | Sequence[str] | None = None,
        outputs: str | Sequence[str] | None = None,
        version: str | int | None = None,
        retries: int = 0,
        backoff: float = 1.0,
        cache: bool = True,
    ) -> None:
        if not inspect.isfunction(fn):
            raise DTypeError(f"a step is made from a Python function, got {type(fn).__name__}")
        self.fn = fn
        self.name = check_data_name(name if name is not None else fn.__name__, "step name")
        self.inputs = _inputs(fn, inputs, self.name)
        self.outputs = _outputs(outputs, self.name)
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, (str, int))
        ):
            raise InvalidInputError(f"step version must be a string or an integer, got {version!r}")
        self.version = None if version is None else str(version)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidInputError(f"retries must be a non-negative integer, got {retries!r}")
        self.retries = retries
        if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or not backoff >= 0:
            raise InvalidInputError(
                f"backoff must be a non-negative number of seconds, got {backoff!r}"
            )
        self.backoff = float(backoff)
        if not isinstance(cache, bool):
            raise InvalidInputError(f"cache must be True or False, got {cache!r}")
        self.cache = cache
        self.code_sha256 = code_sha256(fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def defaults(self) -> dict[str, Any]:
        """The default value of each parameter that has one."""
        return {
            p.name: p.default
            for p in inspect.signature(self.fn).parameters.values()
            if p.default is not inspect.Parameter.empty
        }

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt` (2, 3, ...): backoff, doubling each time."""
        return self.backoff * 2.0 ** (attempt - 2)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __reduce_ex__(self, protocol: Any) -> Any:
        # A step defined at the top of a module pickles as a reference to it, as functions do
        # (the module's attribute is the step, not the function, so the function cannot be
        # pickled by reference). Elsewhere (__main__, a notebook) the step pickles whole, and
        # cloudpickle (the processes executor's and Ray's) sends its function by value.
        module, qualname = self.fn.__module__, self.fn.__qualname__
        if module != "__main__" and getattr(sys.modules.get(module), qualname, None) is self:
            return _import_step, (module, qualname)
        return super().__reduce_ex__(protocol)

    def __repr__(self) -> str:
        ins = ", ".join(v if k == v else f"{k}={v}" for k, v in self.inputs.items())
        return f"<step {self.name}({ins}) -> {', '.join(self.outputs)}>"


def _import_step(module: str, qualname: str) -> Step:
    found = getattr(importlib.import_module(module), qualname)
    if not isinstance(found, Step):
        raise DTypeError(f"{module}.{qualname} is not a step here")
    return found


def _inputs(
    fn: Callable[..., Any], inputs: Mapping[str, str] | Sequence[str] | None, name: str
) -> dict[str, str]:
    params = list(inspect.signature(fn).parameters.values())
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise InvalidInputError(
                f"step {name!r}: parameter {p.name!r} cannot be an input ({p.kind.description}); "
                "steps take named parameters"
            )
    names = [p.name for p in params]
    if inputs is None:
        mapping = {n: n for n in names}
    elif isinstance(inputs, Mapping):
        unknown = sorted(set(inputs) - set(names))
        if unknown:
            raise InvalidInputError(f"step {name!r} has no parameters {unknown} (it has {names})")
        mapping = {n: inputs.get(n, n) for n in names}
    elif isinstance(inputs, (list, tuple)):
        if len(inputs) != len(names):
            raise InvalidInputError(
                f"step {name!r}: inputs names the data of each parameter in order, so it needs "
                f"{len(names)} names ({names}), got {len(inputs)}"
            )
        mapping = dict(zip(names, inputs, strict=True))
    else:
        raise InvalidInputError(
            f"inputs must be a mapping of parameter to data name, or a list of data names, "
            f"got {inputs!r}"
        )
    for data in mapping.values():
        check_data_name(data, f"input of step {name!r}")
    data_names = list(mapping.values())
    if len(set(data_names)) != len(data_names):
        raise InvalidInputError(f"step {name!r} takes the same data twice: {data_names}")
    return mapping


def _outputs(outputs: str | Sequence[str] | None, name: str) -> tuple[str, ...]:
    if outputs is None:
        names: tuple[str, ...] = (name,)
    elif isinstance(outputs, str):
        names = (outputs,)
    elif isinstance(outputs, (list, tuple)):
        names = tuple(outputs)
    else:
        raise InvalidInputError(f"outputs must be a name or a list of names, got {outputs!r}")
    for out in names:
        check_data_name(out, f"output of step {name!r}")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"step {name!r} names an output twice: {list(names)}")
    return names


@overload
def step(fn: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    inputs: Mapping[str, str] | Sequence[str] | None = None,
    outputs: str | Sequence[str] | None = None,
    version: str | int | None = None,
    retries: int = 0,
    backoff: float = 1.0,
    cache: bool = True,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    inputs: Mapping[str, str] | Sequence[str] | None = None,
    outputs: str | Sequence[str] | None = None,
    version: str | int | None = None,
    retries: int = 0,
    backoff: float = 1.0,
    cache: bool = True,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Makes a function a pipeline step: ``@seawall.step`` or ``@seawall.step(outputs=...)``.

    * inputs: each parameter takes the data of its own name (the output of the step that makes
      it, or a pipeline parameter); ``inputs={"param": "data"}`` renames some, a list names the
      data of every parameter in order.
    * outputs: the names of what the function returns: one name (default: the step's name), or
      several, when the function returns a tuple of that length or a dict with those keys; ()
      for a step run for its effect (what it returns is not kept).
    * version: part of the cache key beside the code; bump it when something the function's
      own source does not show changes (a helper it calls, a file it reads).
    * retries, backoff: run again up to `retries` times after an exception, waiting `backoff`
      seconds before the first retry and doubling each time.
    * cache: False runs the step every time (it reads something outside the pipeline).
    """
    options: dict[str, Any] = {
        "name": name,
        "inputs": inputs,
        "outputs": outputs,
        "version": version,
        "retries": retries,
        "backoff": backoff,
        "cache": cache,
    }
    if fn is not None:
        return Step(fn, **options)
    return lambda f: Step(f, **options)
