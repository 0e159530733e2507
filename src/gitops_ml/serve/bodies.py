"""JSON in and out without pydantic on the hot path; JSON errors never quote the input."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response


def encode(obj: Any) -> bytes:
    # orjson writes NaN as null; scoring never returns NaN (features.non_finite_rows).
    return orjson.dumps(obj)


class BadRequest(Exception):
    """A request we cannot even read (not JSON, wrong top-level shape): 400."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


def _no_constants(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def parse(body: bytes) -> Any:
    """orjson (about 3x the standard library here); json for what it refuses.

    orjson refuses numbers beyond float64 (1e999), which are valid JSON: the standard library
    reads them as infinity, so the feature schema can name the field instead of a 400.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("request body is not valid JSON") from None


def json_response(obj: Any, status_code: int = 200,
                  headers: Mapping[str, str] | None = None) -> Response:
    return Response(encode(obj), status_code=status_code, media_type="application/json",
                    headers=headers)
