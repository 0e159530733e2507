"""The binary tensor data extension of the v2 protocol (Triton's `binary_tensor_data`).

https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md

A request with an `Inference-Header-Content-Length: N` header carries a JSON header of N bytes,
then the raw data of each input whose `parameters` hold `binary_data_size`, in input order:
fixed-size datatypes little-endian, BYTES as a 4-byte little-endian length before each element,
BOOL one byte per element. Outputs come back the same way when the request asks for it
(`binary_data_output`, or `binary_data` on a requested output). This is the fast path for
batches: numbers arrive as arrays, with no JSON number parsing and no Python float per value.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gitops_ml.features import InvalidInput, Problem, field_name
from gitops_ml.serve.bodies import BadRequest, parse

EXTENSION = "binary_tensor_data"  # its name in the server metadata's `extensions`
HEADER = b"inference-header-content-length"
# little-endian element types of the fixed-size v2 datatypes
DTYPES = {"BOOL": "?", "INT8": "i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
          "UINT8": "u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
          "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}
_LENGTH = struct.Struct("<I")


def header_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    """The JSON header's size when the request uses the extension, else None."""
    for key, value in headers:
        if key == HEADER:
            if not value.isdigit():
                raise BadRequest("Inference-Header-Content-Length must be a byte count")
            return int(value)
    return None


def split(body: bytes, length: int) -> tuple[Any, list[np.ndarray | list[str] | None]]:
    """The JSON header, and each input's binary data decoded (None where it is in the JSON).

    Framing errors (sizes that do not add up to the body) are a 400; an input whose data does
    not fit its datatype is a 422 naming it.
    """
    if length > len(body):
        raise BadRequest("Inference-Header-Content-Length is larger than the body")
    payload = parse(body[:length])
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise BadRequest("expected a JSON object with `inputs`")
    raw = memoryview(body)[length:]
    decoded: list[np.ndarray | list[str] | None] = []
    offset = 0
    for tensor in payload["inputs"]:
        params = tensor.get("parameters") if isinstance(tensor, dict) else None
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            decoded.append(None)
            continue
        name = field_name(tensor.get("name"))
        if type(size) is not int or size < 0 or offset + size > len(raw):
            raise BadRequest(f"input {name}: binary_data_size does not fit the body")
        if "data" in tensor:
            raise InvalidInput([Problem(None, name, "data given both in JSON and binary")])
        decoded.append(_decode(name, tensor.get("datatype"), raw[offset:offset + size]))
        offset += size
    if offset != len(raw):
        raise BadRequest(f"{len(raw) - offset} bytes after the last binary input")
    return payload, decoded


def _decode(name: str, datatype: Any, data: memoryview) -> np.ndarray | list[str]:
    if datatype == "BYTES":
        return _strings(name, data)
    dtype = DTYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:  # the feature schema names the datatype it wants
        return np.empty(0)
    itemsize = np.dtype(dtype).itemsize
    if len(data) % itemsize:
        raise InvalidInput([Problem(None, name, f"binary data is not a whole number of "
                                                f"{datatype} values")])
    return np.frombuffer(data, dtype=dtype)


def _strings(name: str, data: memoryview) -> list[str]:
    out, offset, end = [], 0, len(data)
    while offset < end:
        if offset + 4 > end:
            raise InvalidInput([Problem(None, name, "BYTES data cut inside a length")])
        (size,) = _LENGTH.unpack_from(data, offset)
        offset += 4
        if offset + size > end:
            raise InvalidInput([Problem(None, name, "BYTES data cut inside an element")])
        try:
            out.append(str(data[offset:offset + size], "utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput([Problem(None, name, "BYTES element is not UTF-8")]) from None
        offset += size
    return out


def wants_binary(payload: Mapping[str, Any], output: str) -> bool:
    """Whether the request asks for `output` as binary data (the output's own setting wins)."""
    for requested in payload.get("outputs") or ():
        if requested.get("name") == output:
            setting = _parameter(requested, "binary_data")
            if setting is not None:
                return setting is True
    return _parameter(payload, "binary_data_output") is True


def _parameter(obj: Mapping[str, Any], key: str) -> Any:
    parameters = obj.get("parameters")
    return parameters.get(key) if isinstance(parameters, dict) else None


def encode_tensor(datatype: str, array: np.ndarray) -> bytes:
    """An output's raw bytes: BYTES length-prefixed (UTF-8), numbers little-endian."""
    if datatype == "BYTES":
        parts = []
        for value in array.ravel().tolist():
            text = str(value).encode("utf-8")
            parts.append(_LENGTH.pack(len(text)))
            parts.append(text)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=DTYPES[datatype]).tobytes()
