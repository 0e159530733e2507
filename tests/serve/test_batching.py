"""/predict requests that arrive together are scored together, each with its own answer."""

from __future__ import annotations

import asyncio
import json

import pytest

from gitops_ml.serve.app import create_app
from gitops_ml.serve.routers import predict as predict_router


async def _post_all(app, bodies: list[bytes]) -> list[tuple[int, dict]]:
    """Every body sent in the same event-loop turn, as concurrent HTTP requests arrive."""
    async def post(body: bytes) -> tuple[int, dict]:
        sent = []

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [
            (b"content-type", b"application/json")], "query_string": b""}
        await app(scope, receive, send)
        return sent[0]["status"], json.loads(sent[1]["body"])

    startup: asyncio.Queue = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def lifespan_send(message: dict) -> None:
        started.set()

    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                       startup.get, lifespan_send))
    await started.wait()
    try:
        return await asyncio.gather(*(post(b) for b in bodies))
    finally:
        await startup.put({"type": "lifespan.shutdown"})
        await lifespan


def test_requests_arriving_together_share_one_call_and_keep_their_answers(
        mixed_model, serve_settings, good_record, monkeypatch):
    other = {**good_record, "size": 2.0, "colour": "blue"}
    bodies = [json.dumps(rows).encode() for rows in (
        [good_record], [other, good_record], [{**good_record, "colour": "purple"}], [other])]
    bodies.append(b"not json")
    alone = asyncio.run(_post_all(create_app(serve_settings(mixed_model.dir)), [bodies[0]]))
    batches = []
    many = predict_router.predict_many
    monkeypatch.setattr(predict_router, "predict_many",
                        lambda runtime, requests: batches.append(len(requests))
                        or many(runtime, requests))
    answers = asyncio.run(_post_all(create_app(serve_settings(mixed_model.dir)), bodies))
    assert batches == [4]  # the unreadable body never reached scoring
    assert [status for status, _ in answers] == [200, 200, 422, 200, 400]
    # ONNX Runtime's batched kernels round in another order: the same row agrees to float32
    # precision whatever it was scored with, as rows of one multi-row request always have
    def same(a: dict, b: dict) -> bool:
        return a["label"] == b["label"] and a["probabilities"] == pytest.approx(
            b["probabilities"], rel=1e-6)

    assert same(answers[0][1]["predictions"][0], alone[0][1]["predictions"][0])
    assert same(answers[1][1]["predictions"][1], alone[0][1]["predictions"][0])
    assert answers[2][1]["errors"] == [{"row": 0, "field": "colour",
                                        "error": "unknown category"}]
    assert same(answers[3][1]["predictions"][0], answers[1][1]["predictions"][0])
