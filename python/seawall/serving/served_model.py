"""One model as the server serves it: a bundle behind its batcher, under a name and version, and
the decoding of its requests (v2 infer tensors, v1 predict records) into a feature batch and of
its outputs into a response."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .._server import bulk_json
from ..bundles import Bundle, records_to_table
from ..errors import InvalidInputError
from .live import LiveProfiler
from .protocol import (
    DATATYPES,
    NUMBER_TYPES,
    BinarySection,
    TensorSpec,
    datatype_of,
    decode_tensor,
    encode_binary,
    encode_tensor,
)
from .triton_shapes import RequestCounts

__all__ = ["BadRequest", "NotFound", "ServedModel"]

_MAX_PRIORITY = (1 << 31) - 1
_MAX_TIMEOUT_US = 86_400_000_000  # a day
_INT_TYPES = tuple(t for t in NUMBER_TYPES if t.startswith(("INT", "UINT")))


class BadRequest(Exception):
    """A request the server cannot use: answered with 400 and the message."""


class PayloadTooLarge(BadRequest):
    """A body over the server's limit: answered with 413."""


class NotFound(Exception):
    """An unknown model or version: answered with 404."""


@dataclass
class _Prepared:
    x: np.ndarray
    outputs: list[str]
    id: str | None
    options: dict[str, int]
    binary: frozenset[str] = frozenset()  # outputs to send as binary tensor data
    raw: Any = None  # the raw feature columns, for the live profile
    parameters: dict[str, Any] | None = None  # the response's (a traffic policy names the arm)
    request: dict[str, Any] | None = None  # the parsed JSON request (None: binary tensor data)


class ServedModel:
    """One bundle behind its batcher, under a name and version."""

    def __init__(
        self, bundle: Bundle, name: str, version: str | None, batcher: Any, max_batch_size: int
    ) -> None:
        self.bundle = bundle
        self.name = name
        self.version = version
        self.batcher = batcher
        self.max_batch_size = max_batch_size
        self.inputs = {s.name: s for s in bundle.signature.inputs}
        self.output_names = [s.name for s in bundle.signature.outputs]
        self.platform = "onnxruntime_onnx" if bundle.flavor == "onnx" else "python"
        self.ready = True
        self.profiler: LiveProfiler | None = None
        # Set when a hot swap replaced this model: late requests go on to the replacement.
        self.replaced_by: ServedModel | None = None
        # For Triton's statistics and config (triton_shapes): the requests answered, and the
        # batch sizes of the warm-up it ran.
        self.counts = RequestCounts()
        self.warmup_sizes: list[int] = []
        self.warmup_x: np.ndarray | None = None  # a row of model input its warm-up ran
        # (endpoint, body) of its warm-up's batch-size-1 requests, to send through the app
        self.warmup_requests: list[tuple[str, bytes]] = []
        # What turns a request's inputs into model input: equal keys make equal model input of
        # the same request (a shadow reuses another arm's); None when unknown.
        self.features_key = _features_key(bundle)
        self.string_columns = (
            {
                str(c)
                for c, s in zip(
                    bundle.pipeline.input_columns_, bundle.pipeline._input_is_string, strict=True
                )
                if s
            }
            if bundle.pipeline is not None
            else set()
        )

    @classmethod
    def start(
        cls, bundle: Bundle, name: str, version: str | None, options: Mapping[str, Any]
    ) -> ServedModel:
        """`bundle` served under `name` and `version` behind a new Batcher with `options`
        (:class:`seawall.serving.Batcher`'s; ``max_batch_size`` 64 unless they say)."""
        from .batcher import Batcher

        if len(bundle.signature.model_inputs) != 1:
            raise InvalidInputError(
                f"bundle {name!r}: the server batches one model input tensor, the model has "
                f"{len(bundle.signature.model_inputs)}"
            )
        spec = bundle.signature.model_inputs[0]
        rows = (len(bundle.pipeline.feature_names_out_),) if bundle.pipeline else spec.shape[1:]
        options = {"max_batch_size": 64, **options}
        batcher = Batcher(
            bundle.model,
            dtype=np.float32 if bundle.pipeline else DATATYPES[spec.datatype],
            row_shape=rows if all(d >= 0 for d in rows) else None,
            **options,
        )
        return cls(bundle, name, version, batcher, options["max_batch_size"])

    async def run(self, x: np.ndarray, options: Mapping[str, int]) -> Mapping[str, np.ndarray]:
        """The model's outputs for `x` through the batcher; a request of more rows than a batch
        holds goes in parts of max_batch_size rows, joined again in order."""
        step = self.max_batch_size
        if x.shape[0] <= step:
            parts = [await self.batcher.apredict(x, **options)]
        else:
            results = await asyncio.gather(
                *(
                    self.batcher.apredict(x[i : i + step], **options)
                    for i in range(0, len(x), step)
                ),
                return_exceptions=True,
            )
            for r in results:
                if isinstance(r, BaseException):
                    raise r
            parts = list(results)
        return self._joined(parts)

    def run_blocking(self, x: np.ndarray, options: Mapping[str, int]) -> Mapping[str, np.ndarray]:
        """:meth:`run` from a thread of its own, which waits (without the GIL) for each part."""
        step = self.max_batch_size
        return self._joined(
            [self.batcher.predict(x[i : i + step], **options) for i in range(0, len(x), step)]
        )

    def _joined(self, parts: list[Any]) -> Mapping[str, np.ndarray]:
        outputs = [p if isinstance(p, Mapping) else {self.output_names[0]: p} for p in parts]
        if len(outputs) == 1:
            return outputs[0]
        return {name: np.concatenate([o[name] for o in outputs]) for name in outputs[0]}

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version] if self.version is not None else [],
            "platform": self.platform,
            "inputs": [s.to_dict() for s in self.bundle.signature.inputs],
            "outputs": [s.to_dict() for s in self.bundle.signature.outputs],
        }

    # --- the v2 infer request -----------------------------------------------------------------

    def prepare_infer(self, body: bytes, header_length: str | None) -> _Prepared:
        binary = None
        if header_length is not None:
            # Triton's binary tensor data extension: JSON first, then the inputs' bytes.
            if not header_length.isdigit() or int(header_length) > len(body):
                raise BadRequest(
                    f"Inference-Header-Content-Length is {header_length!r}, the body has "
                    f"{len(body)} bytes"
                )
            binary = BinarySection(memoryview(body)[int(header_length) :])
            body = body[: int(header_length)]
        return self._infer_request(_parse_json(body), binary)

    def prepare_request(self, endpoint: str, request: dict[str, Any]) -> _Prepared:
        """prepare_infer (``endpoint`` "infer") or prepare_predict ("predict") of a request
        already parsed from JSON (without binary tensor data)."""
        if endpoint == "infer":
            return self._infer_request(request, None)
        return self._predict_request(request)

    def _infer_request(self, request: dict[str, Any], binary: BinarySection | None) -> _Prepared:
        inputs = request.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise BadRequest("'inputs' must be a non-empty array of tensors")
        parameters = request.get("parameters")
        options = _options(parameters)
        outputs, binary_outputs = self._requested_outputs(
            request.get("outputs"),
            by_object=True,
            binary=isinstance(parameters, dict) and parameters.get("binary_data_output") is True,
        )
        decoded: dict[str, tuple[str, tuple[int, ...], Any]] = {}
        for tensor in inputs:
            name = tensor.get("name") if isinstance(tensor, dict) else None
            if not isinstance(name, str):
                raise BadRequest("each input must be an object with a string 'name'")
            spec = self.inputs.get(name)
            if spec is None:
                raise BadRequest(
                    f"unknown input {name!r}: model {self.name!r} takes {list(self.inputs)}"
                )
            if name in decoded:
                raise BadRequest(f"input {name!r} is given twice")
            accept = self._accepted(spec)
            _, datatype, shape, values = decode_tensor(
                tensor,
                accept=accept,
                allow_missing=self.bundle.pipeline is not None,
                binary=binary,
            )
            decoded[name] = (datatype, shape, values)
        if binary is not None:
            binary.finish()
        missing = [n for n in self.inputs if n not in decoded]
        if missing:
            raise BadRequest(
                f"missing inputs {missing}: model {self.name!r} takes {list(self.inputs)}"
            )
        if self.bundle.pipeline is not None:
            x = self._features_from_columns(decoded)
        else:
            (spec,) = self.bundle.signature.model_inputs
            datatype, shape, values = decoded[spec.name]
            spec.check_shape(shape)
            x = values
        if x.shape[0] == 0:
            raise BadRequest("the request has no rows")
        raw = (
            {name: values for name, (_, _, values) in decoded.items()}
            if self.bundle.pipeline is not None
            else None
        )
        prepared = _Prepared(x, outputs, _request_id(request), options, binary_outputs, raw)
        if binary is None:
            prepared.request = request
        return prepared

    def _accepted(self, spec: TensorSpec) -> list[str]:
        if self.bundle.pipeline is None:
            return [spec.datatype]
        if spec.name in self.string_columns:
            return ["BYTES", *_INT_TYPES]
        return [*NUMBER_TYPES, "BOOL"]

    def _features_from_columns(
        self, decoded: Mapping[str, tuple[str, tuple[int, ...], Any]]
    ) -> Any:
        rows = None
        columns = {}
        for name, (_, shape, _) in decoded.items():
            if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                raise BadRequest(
                    f"input {name!r} has shape {list(shape)}: a feature column takes [rows] or "
                    "[rows, 1]"
                )
            if rows is not None and shape[0] != rows:
                raise BadRequest(f"the inputs have different numbers of rows ({rows}, {shape[0]})")
            rows = shape[0]
        pipeline = self.bundle.pipeline
        assert pipeline is not None
        if rows == 1 and all(
            isinstance(values, list)
            and (datatype == "BYTES") == (name in self.string_columns)
            and datatype != "BOOL"
            for name, (datatype, _, values) in decoded.items()
        ):
            # One JSON row, the usual online request: transform_one gives the same float32
            # numbers as transform, without building a table.
            row = {name: values[0] for name, (_, _, values) in decoded.items()}
            return pipeline.transform_one(row).reshape(1, -1)
        for name, (datatype, _, values) in decoded.items():
            arrow_type = (
                pa.large_string()
                if datatype == "BYTES"
                else pa.from_numpy_dtype(DATATYPES[datatype])
            )
            columns[name] = pa.array(values, type=arrow_type)
        return pipeline.transform(pa.table(columns))

    def _requested_outputs(
        self, outputs: Any, *, by_object: bool, binary: bool = False
    ) -> tuple[list[str], frozenset[str]]:
        """The outputs asked for, and those of them to send as binary data: those whose
        parameters say binary_data, or all by default when the request says binary_data_output."""
        if outputs is None:
            names = list(self.output_names)
            return names, frozenset(names if binary else ())
        if not isinstance(outputs, list):
            raise BadRequest("'outputs' must be an array")
        names = []
        binary_names = set()
        for o in outputs:
            name = o.get("name") if by_object and isinstance(o, dict) else o
            if not isinstance(name, str):
                what = "objects with a string 'name'" if by_object else "output names (strings)"
                raise BadRequest(f"'outputs' must list {what}")
            if name not in self.output_names:
                raise BadRequest(
                    f"unknown output {name!r}: model {self.name!r} gives {self.output_names}"
                )
            names.append(name)
            params = o.get("parameters") if isinstance(o, dict) else None
            flag = params.get("binary_data") if isinstance(params, dict) else None
            if flag is True or (flag is None and binary):
                binary_names.add(name)
        return names, frozenset(binary_names)

    def _response(self, prepared: _Prepared, outputs: Any, values: int) -> bytes:
        """The response's JSON; `values`: how many output values it holds."""
        response: dict[str, Any] = {"model_name": self.name}
        if self.version is not None:
            response["model_version"] = self.version
        if prepared.id is not None:
            response["id"] = prepared.id
        if prepared.parameters is not None:
            response["parameters"] = prepared.parameters
        response["outputs"] = outputs
        return bulk_json.dumps(response, small=values <= bulk_json.ITEMS).encode("utf-8")

    def infer_response(
        self, prepared: _Prepared, result: Mapping[str, np.ndarray]
    ) -> tuple[bytes, int | None]:
        """The response body, and the length of its JSON part when binary data follows it."""
        if not prepared.binary:
            tensors = [encode_tensor(n, result[n]) for n in prepared.outputs]
            return self._response(prepared, tensors, _values(result, prepared.outputs)), None
        tensors = []
        blobs = []
        for n in prepared.outputs:
            if n in prepared.binary:
                entry, blob = encode_binary(n, result[n])
                tensors.append(entry)
                blobs.append(blob)
            else:
                tensors.append(encode_tensor(n, result[n]))
        text = [n for n in prepared.outputs if n not in prepared.binary]
        header = self._response(prepared, tensors, _values(result, text))
        return b"".join([header, *blobs]), len(header)

    # --- the records request ------------------------------------------------------------------

    def prepare_predict(self, body: bytes, header_length: str | None) -> _Prepared:
        if header_length is not None:
            raise BadRequest("binary tensor data goes to /v2/models/{name}/infer, not /predict")
        return self._predict_request(_parse_json(body))

    def _predict_request(self, request: dict[str, Any]) -> _Prepared:
        given = [k for k in ("records", "columns", "instances") if k in request]
        if len(given) != 1:
            raise BadRequest(
                "send exactly one of 'records' (a list of {column: value}), 'columns' "
                "({column: [values]}) or 'instances' (rows of the model input)"
            )
        (key,) = given
        data = request[key]
        outputs, _ = self._requested_outputs(request.get("outputs"), by_object=False)
        if self.bundle.pipeline is not None:
            if key == "columns":
                if not isinstance(data, dict) or not data:
                    raise BadRequest("'columns' must be an object of column: [values]")
                if not all(isinstance(v, list) for v in data.values()):
                    raise BadRequest("each of 'columns' must be an array of values")
            elif not isinstance(data, list):
                raise BadRequest(f"'{key}' must be an array of records")
            table = records_to_table(data)
            for column in table.columns:
                if pa.types.is_floating(column.type) and pc.any(pc.is_inf(column)).as_py():
                    raise BadRequest("a value is not a finite number")
            x = self.bundle.pipeline.transform(table)
            raw = table
        else:
            if key != "instances":
                raise BadRequest(
                    f"model {self.name!r} has no feature pipeline: send 'instances', rows of "
                    "its input"
                )
            x = self._instances(data)
            raw = None
        if x.shape[0] == 0:
            raise BadRequest("the request has no rows")
        options = _options(request.get("parameters"))
        return _Prepared(x, outputs, _request_id(request), options, raw=raw, request=request)

    def _instances(self, data: Any) -> np.ndarray:
        (spec,) = self.bundle.signature.model_inputs
        if not isinstance(data, list):
            raise BadRequest("'instances' must be an array of rows")
        try:
            x = np.asarray(data)
        except ValueError as exc:
            raise BadRequest(f"'instances' are not rows of one shape: {exc}") from None
        kind = x.dtype.kind
        datatype = spec.datatype
        ok = (
            (datatype == "BYTES" and kind == "U")
            or (datatype == "BOOL" and kind == "b")
            or (datatype in NUMBER_TYPES and kind in ("iu" if datatype in _INT_TYPES else "iuf"))
        )
        if not ok:
            raise BadRequest(f"'instances' hold {x.dtype} values, the model takes {datatype}")
        if kind == "f" and not np.isfinite(x).all():
            raise BadRequest("a value is not a finite number")
        target = DATATYPES[datatype]
        if kind in "iuf" and target.kind in "iu":
            info = np.iinfo(target)
            if x.size and (x.min() < info.min or x.max() > info.max):
                raise BadRequest(f"a value is out of the range of {datatype}")
        if kind in "f" and target.kind == "f" and x.size and np.abs(x).max() > np.finfo(target).max:
            raise BadRequest(f"a value is out of the range of {datatype}")
        x = x.astype(target)
        spec.check_shape(x.shape)
        return x

    def predict_response(
        self, prepared: _Prepared, result: Mapping[str, np.ndarray]
    ) -> tuple[bytes, int | None]:
        outputs = {n: _nested(result[n]) for n in prepared.outputs}
        return self._response(prepared, outputs, _values(result, prepared.outputs)), None


def _features_key(bundle: Bundle) -> str | None:
    """The SHA-256 of the bundle's saved feature pipeline (its fitted state), "no pipeline"
    when the model takes its input tensor as it is, None when the bundle does not say."""
    if bundle.pipeline is None:
        return "no pipeline"
    name = (bundle.manifest.get("pipeline") or {}).get("file")
    sha = (bundle.manifest.get("files") or {}).get(name, {}).get("sha256")
    return f"pipeline {sha}" if isinstance(sha, str) else None


def _values(result: Mapping[str, Any], names: list[str]) -> int:
    return sum(int(np.size(result[n])) for n in names)


def _nested(value: np.ndarray) -> Any:
    arr = np.asarray(value)
    if datatype_of(arr.dtype) == "BYTES":
        flat = [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.ravel()
        ]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(arr.shape).tolist()
    return arr.tolist()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes) -> dict[str, Any]:
    if not body:
        raise BadRequest("the request has no body: send a JSON object")
    try:
        request = bulk_json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise BadRequest(f"the body must be a JSON object, got {type(request).__name__}")
    return request


def _request_id(request: Mapping[str, Any]) -> str | None:
    rid = request.get("id")
    if rid is not None and not isinstance(rid, str):
        raise BadRequest("'id' must be a string")
    return rid


def _options(parameters: Any) -> dict[str, int]:
    """Batcher options from the request's parameters: priority, and timeout in microseconds."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise BadRequest("'parameters' must be an object")
    options = {}
    for key, option, most in (
        ("priority", "priority", _MAX_PRIORITY),
        ("timeout", "timeout_us", _MAX_TIMEOUT_US),
    ):
        value = parameters.get(key)
        if value is None:
            continue
        if type(value) is not int or not 0 <= value <= most:
            raise BadRequest(f"parameter {key!r} must be an integer from 0 to {most}")
        options[option] = value
    return options


def _dumps(obj: Any) -> bytes:
    # allow_nan: a model may give NaN; it is written as NaN, as Python and most clients read it.
    return bulk_json.dumps(obj).encode("utf-8")
