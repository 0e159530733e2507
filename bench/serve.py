"""Serving benchmark: latency and throughput of the app next to ONNX Runtime and a bare endpoint.

    uv run python bench/serve.py [--model-dir models] [--data data/test.parquet] [--seconds 3]

Starts `gitops-ml serve` (one uvicorn worker) and, for the web stack's floor, uvicorn serving a
constant from a bare ASGI app and from a one-route FastAPI app. A small asyncio HTTP/1.1 client
with keep-alive connections sends 1-row and 100-row /predict bodies at concurrency 1 and 32.
Prints medians (p50), p99 and requests per second; targets are in the README (Serving).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import Response

CONSTANT = b'{"ok":true}'


# -- the floors: apps that return a constant -----------------------------------------------------

async def bare_asgi(scope, receive, send):  # noqa: ANN001, ANN201 (raw ASGI signature)
    """uvicorn alone: read the body, answer a constant."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(CONSTANT)).encode())]})
    await send({"type": "http.response.body", "body": CONSTANT})


def bare_fastapi():  # noqa: ANN201
    """uvicorn + FastAPI: one route that reads the body and answers a constant."""
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        await request.body()
        return Response(CONSTANT, media_type="application/json")

    return app


# -- a minimal keep-alive HTTP/1.1 client --------------------------------------------------------

async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def load(port: int, path: str, body: bytes, concurrency: int,
               seconds: float) -> tuple[list[float], float]:
    """Send `body` from `concurrency` connections for `seconds`; latencies (s) and wall time."""
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    latencies: list[float] = []
    deadline = 0.0

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(5):  # warm-up
            await _one(reader, writer, request)
        warm.append(1)
        await start.wait()
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            status = await _one(reader, writer, request)
            latencies.append(time.perf_counter() - t)
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status}")
        writer.close()

    start, warm = asyncio.Event(), []
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    while len(warm) < concurrency:
        if any(t.done() for t in tasks):  # a worker failed (refused, bad status): say so
            await asyncio.gather(*tasks)
        await asyncio.sleep(0.05)
    began = time.perf_counter()
    deadline = began + seconds
    start.set()
    await asyncio.gather(*tasks)
    return latencies, time.perf_counter() - began


# -- servers -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float = 30) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("server not ready in time")


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


# -- measurements --------------------------------------------------------------------------------

def bodies(data: Path, target: str) -> dict[int, bytes]:
    import pyarrow.parquet as pq

    rows = pq.read_table(data).drop_columns([target]).to_pylist()
    clean = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
             for r in rows]
    return {n: json.dumps(clean[:n]).encode() for n in (1, 100)}


def onnx_floor(model_dir: Path, body: bytes, repeats: int) -> tuple[float, float]:
    """Median seconds for session.run alone, and for validation + run (no HTTP)."""
    from gitops_ml.features import FeatureSchema
    from gitops_ml.serve.model import OnnxModel

    model = OnnxModel.load(model_dir, threads=1)
    validator = FeatureSchema(model.meta.features, reject_unknown_categories=True)
    records = json.loads(body)
    feeds, _ = validator.records(records, 10_000)
    run_t, full_t = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        model.run(feeds)
        run_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.run(validator.records(json.loads(body), 10_000)[0])
        full_t.append(time.perf_counter() - t)
    return statistics.median(run_t), statistics.median(full_t)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", default="models")
    ap.add_argument("--data", default="data/test.parquet")
    ap.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    ap.add_argument("--cold-starts", type=int, default=3)
    args = ap.parse_args()
    model_dir = Path(args.model_dir)
    target = json.loads((model_dir / "model.json").read_text())["target"]
    payloads = bodies(Path(args.data), target)
    env = dict(os.environ, GITOPS_ML_MODEL_DIR=str(model_dir))
    here = Path(__file__).resolve().parent

    colds = []
    for _ in range(args.cold_starts):
        port = free_port()
        proc = start([sys.executable, "-m", "gitops_ml", "serve"],
                     dict(env, GITOPS_ML_PORT=str(port)))
        try:
            colds.append(wait_ready(port, "/v2/health/ready", proc))
        finally:
            stop(proc)

    servers = {
        "app /predict": ([sys.executable, "-m", "gitops_ml", "serve"], "/v2/health/ready"),
        "bare uvicorn": ([sys.executable, "-m", "uvicorn", "--app-dir", str(here),
                          "--log-level", "warning", "serve:bare_asgi"], "/"),
        "bare fastapi": ([sys.executable, "-m", "uvicorn", "--app-dir", str(here), "--factory",
                          "--log-level", "warning", "serve:bare_fastapi"], "/docs"),
    }
    results = []
    for name, (argv, ready_path) in servers.items():
        port = free_port()
        full = [*argv, "--port", str(port)] if "uvicorn" in argv else argv
        proc = start(full, dict(env, GITOPS_ML_PORT=str(port)))
        try:
            wait_ready(port, ready_path, proc)
            for n, body in payloads.items():
                for c in (1, 32):
                    lat, wall = asyncio.run(load(port, "/predict", body, c, args.seconds))
                    results.append((name, n, c, pct(lat, 0.5), pct(lat, 0.99), len(lat) / wall))
        finally:
            stop(proc)

    print(f"cold start to ready (median of {len(colds)}): {statistics.median(colds) * 1000:.0f} ms "
          f"(runs: {', '.join(f'{c * 1000:.0f}' for c in colds)})")
    for n, body in payloads.items():
        run_s, full_s = onnx_floor(model_dir, body, 2000)
        print(f"in-process, {n:>3} row(s): session.run p50 {run_s * 1e3:.3f} ms; "
              f"json + validation + run p50 {full_s * 1e3:.3f} ms")
    print(f"\n{'server':<14}{'rows':>5}{'conc':>6}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
    for name, n, c, p50, p99, rps in results:
        print(f"{name:<14}{n:>5}{c:>6}{p50 * 1e3:>9.2f}{p99 * 1e3:>9.2f}{rps:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
