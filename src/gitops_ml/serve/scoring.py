"""The scoring endpoints as plain ASGI, in front of the FastAPI app.

FastAPI's per-request machinery (its telemetry hook, error middleware, request objects, dependency
solving, response wrapping) cost more than scoring one row with ONNX Runtime; measured in
bench/serve.py, it halved throughput. So what uvicorn runs is this small app: it answers the two
scoring endpoints itself, with the body limit, the metrics and the generic 500 of the rest of the
app, and hands every other request (health, metadata, docs, lifespan) to FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gitops_ml.features import InvalidInput
from gitops_ml.serve.bodies import BadRequest, encode
from gitops_ml.serve.challenger import MADE, request_id
from gitops_ml.serve.records import records_reader
from gitops_ml.serve.routers import predict, v2
from gitops_ml.serve.state import Runtime

log = logging.getLogger("gitops_ml.serve")

_MODELS, _INFER = "/v2/models/", "/infer"
INFER_PATH = "/v2/models/{name}/infer"
_JSON = (b"content-type", b"application/json")
Handler = Callable[[bytes, list[tuple[bytes, bytes]], str, bool],
                   Awaitable[tuple[dict[str, Any] | bytes, list[tuple[bytes, bytes]]]]]


class Batcher:
    """/predict requests that arrive in the same event-loop turn are scored together.

    Under concurrent load several requests are parsed before any is scored; each waits on a
    future, and one callback at the end of the turn scores them all (`predict_many`: one
    conversion and one ONNX Runtime call when their records are clean). A lone request waits
    one loop turn. Each request still gets its own answer or its own error.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._pending: list[tuple[Any, str, asyncio.Future[Any]]] = []

    async def __call__(self, payload: Any, request_id: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((payload, request_id, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future  # type: ignore[no-any-return]

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        try:
            results = predict.predict_many(self.runtime, [(p, r) for p, r, _ in pending])
        except Exception as exc:  # noqa: BLE001 (a bug: every request of the batch gets the 500)
            results = [exc] * len(pending)
        for (_, _, future), result in zip(pending, results, strict=True):
            if future.cancelled():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


class ScoringApp:
    """Answers POST /predict and POST /v2/models/{name}/infer; passes everything else to `app`."""

    def __init__(self, app: Any, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.header = runtime.settings.request_id_header.encode("latin-1")
        self.max_bytes = runtime.settings.max_body_bytes
        self.batcher = Batcher(runtime)
        self.read_records = records_reader(runtime.schema)

    @property
    def state(self) -> Any:
        return self.app.state

    def openapi(self) -> dict[str, Any]:
        return self.app.openapi()  # type: ignore[no-any-return]

    def _route(self, path: str) -> tuple[str, Handler] | None:
        runtime, batcher, read = self.runtime, self.batcher, self.read_records
        if path == predict.PATH:
            async def score(body: bytes, headers: list[tuple[bytes, bytes]], rid: str,
                            sent: bool) -> tuple[dict[str, Any], list[tuple[bytes, bytes]]]:
                return await batcher(read(body), rid), []
            return predict.PATH, score
        if path.startswith(_MODELS) and path.endswith(_INFER):
            name = path[len(_MODELS):-len(_INFER)]
            if name and "/" not in name:
                async def infer(body: bytes, headers: list[tuple[bytes, bytes]], rid: str,
                                sent: bool) -> tuple[dict[str, Any] | bytes,
                                                     list[tuple[bytes, bytes]]]:
                    return v2.infer_http(runtime, name, body, headers,
                                         rid if sent else MADE + rid)
                return INFER_PATH, infer
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        route = self._route(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        metrics = self.runtime.metrics
        started = time.perf_counter()
        metrics.in_flight.inc()
        status = 500
        try:
            status = await self._serve(scope, receive, send, route[1])
        finally:
            metrics.in_flight.dec()
            metrics.observe(route[0], scope["method"], status, time.perf_counter() - started)

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any,
                     handler: Handler) -> int:
        if scope["method"] != "POST":
            # RFC 9110, 15.5.6: a 405 lists the allowed methods in `Allow`
            return await _answer(send, 405, encode({"error": "method not allowed"}),
                                 [(b"allow", b"POST")])
        headers = scope["headers"]
        too_large = 0
        for key, value in headers:
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                too_large = 1
        chunks, size, more = [], 0, not too_large
        while more:  # a chunked body is read up to the limit, then refused
            message = await receive()
            if message["type"] == "http.disconnect":
                return 499  # the client left; nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                too_large = 1
                break
            chunks.append(chunk)
            more = message.get("more_body", False)
        if too_large:
            body = encode({"error": f"request body exceeds {self.max_bytes} bytes"})
            return await _answer(send, 413, body, [(b"connection", b"close")])
        rid, sent = request_id(headers, self.header)
        echo = [(self.header, rid.encode("latin-1", "replace"))]
        try:
            result, extra = await handler(
                chunks[0] if len(chunks) == 1 else b"".join(chunks), headers, rid, sent)
            status = 200
        except InvalidInput as exc:
            status, result, extra = exc.status_code, exc.body(), []
        except BadRequest as exc:
            status, result, extra = exc.status_code, {"error": str(exc)}, []
        except Exception:
            log.exception("unhandled error on %s", scope["path"])
            status, result, extra = 500, {"error": "internal server error"}, []
        if type(result) is bytes:  # already encoded, with its own content type (v2 binary)
            return await _answer(send, status, result, echo + extra, content_type=None)
        return await _answer(send, status, encode(result), echo + extra)


async def _answer(send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]],
                  content_type: tuple[bytes, bytes] | None = _JSON) -> int:
    headers = [(b"content-length", str(len(body)).encode()), *extra]
    if content_type is not None:
        headers.append(content_type)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status
