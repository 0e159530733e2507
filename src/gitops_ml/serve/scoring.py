"""The scoring endpoints as plain ASGI, in front of FastAPI's routing.

FastAPI's per-route machinery (request objects, dependency solving, response wrapping) cost more
than scoring one row with ONNX Runtime; measured in bench/serve.py, it halved throughput. The two
scoring endpoints therefore skip it; everything else (health, metadata, docs) stays a FastAPI
route. Metrics, the body limit and the generic 500 handler still wrap these endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitops_ml.features import InvalidInput
from gitops_ml.serve.bodies import BadRequest, encode, parse
from gitops_ml.serve.challenger import MADE, request_id
from gitops_ml.serve.metrics import ENDPOINT_KEY
from gitops_ml.serve.routers import predict, v2
from gitops_ml.serve.state import Runtime

_MODELS, _INFER = "/v2/models/", "/infer"
INFER_PATH = "/v2/models/{name}/infer"


class ScoringMiddleware:
    """Answers POST /predict and POST /v2/models/{name}/infer; passes everything else on."""

    def __init__(self, app: Any, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.header = runtime.settings.request_id_header.encode("latin-1")

    def _route(self, path: str) -> tuple[str, Callable[[Any, str, bool], dict[str, Any]]] | None:
        runtime = self.runtime
        if path == predict.PATH:
            return predict.PATH, lambda payload, rid, sent: predict.predict(runtime, payload, rid)
        if path.startswith(_MODELS) and path.endswith(_INFER):
            name = path[len(_MODELS):-len(_INFER)]
            if name and "/" not in name:
                return INFER_PATH, lambda payload, rid, sent: v2.infer(
                    runtime, name, payload, rid if sent else MADE + rid)
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        route = self._route(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            # RFC 9110, 15.5.6: a 405 lists the allowed methods in `Allow`
            scope[ENDPOINT_KEY] = route[0]
            await _answer(send, 405, encode({"error": "method not allowed"}),
                          [(b"allow", b"POST")])
            return
        scope[ENDPOINT_KEY], handler = route
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        rid, sent = request_id(scope["headers"], self.header)
        echo = [(self.header, rid.encode("latin-1", "replace"))]
        try:
            status, result = 200, handler(parse(b"".join(chunks)), rid, sent)
        except InvalidInput as exc:
            status, result = exc.status_code, exc.body()
        except BadRequest as exc:
            status, result = exc.status_code, {"error": str(exc)}
        await _answer(send, status, encode(result), echo)


async def _answer(send: Any, status: int, body: bytes,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status,
                "headers": headers + extra if extra else headers})
    await send({"type": "http.response.body", "body": body})
