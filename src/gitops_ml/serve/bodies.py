"""JSON in and out without pydantic on the hot path; JSON errors never quote the input."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode(obj: Any) -> bytes:
    return _dumps(obj).encode()


class BadRequest(Exception):
    """A request we cannot even read (not JSON, wrong top-level shape): 400."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


def _no_constants(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def parse(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON") from None


def json_response(obj: Any, status_code: int = 200) -> Response:
    return Response(_dumps(obj), status_code=status_code, media_type="application/json")
