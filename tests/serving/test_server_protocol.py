"""Open Inference Protocol tensors without a server: JSON and binary encodings round trip for
every datatype, and what is malformed is refused with the input named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seawall.errors import DTypeError, InvalidInputError
from seawall.serving.protocol import (
    DATATYPES,
    BinarySection,
    TensorSpec,
    datatype_of,
    decode_tensor,
    encode_binary,
    encode_tensor,
)

NUMERIC = [t for t in DATATYPES if t not in ("BYTES", "FP16")]


@st.composite
def tensors(draw):
    datatype = draw(st.sampled_from([*NUMERIC, "BYTES"]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    if datatype == "BYTES":
        flat = draw(
            st.lists(
                st.text(max_size=6), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))
            )
        )
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return datatype, arr.reshape(shape)
    dtype = DATATYPES[datatype]
    elements = None
    if dtype.kind == "f":
        elements = st.floats(allow_nan=False, allow_infinity=False, width=dtype.itemsize * 8)
    return datatype, draw(hnp.arrays(dtype, shape, elements=elements))


@given(tensors())
def test_json_round_trip(tensor):
    datatype, arr = tensor
    encoded = json.loads(json.dumps(encode_tensor("t", arr)))
    assert encoded["datatype"] == datatype
    name, got_type, shape, values = decode_tensor(encoded)
    assert (name, got_type, shape) == ("t", datatype, arr.shape)
    assert values.dtype == arr.dtype
    np.testing.assert_array_equal(values, arr)


@given(tensors(), st.binary(max_size=8))
def test_binary_round_trip(tensor, trailing):
    datatype, arr = tensor
    entry, blob = encode_binary("t", arr)
    assert entry["parameters"]["binary_data_size"] == len(blob)
    section = BinarySection(blob + trailing)
    _, got_type, shape, values = decode_tensor(json.loads(json.dumps(entry)), binary=section)
    assert (got_type, shape) == (datatype, arr.shape)
    np.testing.assert_array_equal(values, arr)
    if trailing:
        with pytest.raises(InvalidInputError, match="belong to no input"):
            section.finish()
    else:
        section.finish()


def test_nested_data_is_read_row_major(rng):
    arr = rng.normal(size=(3, 4, 2))
    tensor = {"name": "x", "datatype": "FP64", "shape": [3, 4, 2], "data": arr.tolist()}
    np.testing.assert_array_equal(decode_tensor(tensor)[3], arr)


def test_missing_values_are_kept_for_feature_columns():
    tensor = {"name": "a", "datatype": "FP64", "shape": [3], "data": [1.5, None, 2]}
    assert decode_tensor(tensor, allow_missing=True)[3] == [1.5, None, 2]
    with pytest.raises(DTypeError, match="null"):
        decode_tensor(tensor)


@pytest.mark.parametrize(
    ("tensor", "error", "message"),
    [
        ({"datatype": "FP64", "shape": [1], "data": [1]}, InvalidInputError, "'name'"),
        ({"name": "x", "shape": [1], "data": [1]}, InvalidInputError, "'datatype'"),
        ({"name": "x", "datatype": "FP64", "data": [1]}, InvalidInputError, "'shape'"),
        ({"name": "x", "datatype": "FP64", "shape": [1]}, InvalidInputError, "'data'"),
        ({"name": "x", "datatype": "F64", "shape": [1], "data": [1]}, DTypeError, "datatype"),
        (
            {"name": "x", "datatype": "FP64", "shape": [2], "data": [1]},
            InvalidInputError,
            "holds 2",
        ),
        (
            {"name": "x", "datatype": "FP64", "shape": [1.5], "data": [1]},
            InvalidInputError,
            "shape",
        ),
        (
            {"name": "x", "datatype": "FP64", "shape": [True], "data": [1]},
            InvalidInputError,
            "shape",
        ),
        (
            {"name": "x", "datatype": "FP32", "shape": [1], "data": [1e39]},
            InvalidInputError,
            "range",
        ),
        (
            {"name": "x", "datatype": "UINT8", "shape": [1], "data": [-1]},
            InvalidInputError,
            "range",
        ),
        (
            {"name": "x", "datatype": "INT8", "shape": [1], "data": [128]},
            InvalidInputError,
            "range",
        ),
        ({"name": "x", "datatype": "BOOL", "shape": [1], "data": [1]}, DTypeError, "true or false"),
        ({"name": "x", "datatype": "BYTES", "shape": [1], "data": [1]}, DTypeError, "strings"),
        (
            {
                "name": "x",
                "datatype": "FP64",
                "shape": [1],
                "data": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
            },
            InvalidInputError,
            "deeply",
        ),
    ],
)
def test_malformed_tensors_say_what_is_wrong(tensor, error, message):
    with pytest.raises(error, match=message):
        decode_tensor(tensor)


def test_malformed_binary_data_is_refused():
    def binary(datatype, shape, blob, size=None):
        tensor = {
            "name": "x",
            "datatype": datatype,
            "shape": shape,
            "parameters": {"binary_data_size": len(blob) if size is None else size},
        }
        return decode_tensor(tensor, binary=BinarySection(blob))

    with pytest.raises(InvalidInputError, match="takes 16 bytes"):
        binary("FP64", [2], b"\0" * 8)
    with pytest.raises(InvalidInputError, match="past the end"):
        binary("FP64", [1], b"\0" * 8, size=9)
    with pytest.raises(InvalidInputError, match="0 or 1"):
        binary("BOOL", [2], b"\x01\x02")
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        binary("BYTES", [1], b"\x02\0\0\0\xff\xfe")
    with pytest.raises(InvalidInputError, match="runs past"):
        binary("BYTES", [1], b"\x09\0\0\0ab")
    with pytest.raises(InvalidInputError, match="longer than its shape"):
        binary("BYTES", [1], b"\x01\0\0\0a\x01\0\0\0b")
    with pytest.raises(InvalidInputError, match="finite"):
        binary("FP32", [1], np.array([np.inf], dtype="<f4").tobytes())
    with pytest.raises(InvalidInputError, match="no binary data"):
        decode_tensor(
            {"name": "x", "datatype": "FP64", "shape": [1], "parameters": {"binary_data_size": 8}}
        )
    with pytest.raises(InvalidInputError, match="not both"):
        decode_tensor(
            {
                "name": "x",
                "datatype": "FP64",
                "shape": [1],
                "data": [1.0],
                "parameters": {"binary_data_size": 8},
            },
            binary=BinarySection(b"\0" * 8),
        )


def test_datatypes_and_specs():
    assert datatype_of(np.dtype(np.float32)) == "FP32"
    assert datatype_of(np.dtype(">i8")) == "INT64"
    assert datatype_of(np.dtype("U3")) == "BYTES"
    with pytest.raises(DTypeError):
        datatype_of(np.dtype(np.complex64))
    spec = TensorSpec("x", "FP32", (-1, 3))
    assert TensorSpec.from_dict(spec.to_dict()) == spec
    spec.check_shape((7, 3))
    with pytest.raises(InvalidInputError, match="takes"):
        spec.check_shape((7, 4))
    with pytest.raises(DTypeError):
        TensorSpec("x", "FLOAT", (1,))
