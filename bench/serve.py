"""Serving benchmark: the app against a floor (a bare Starlette app answering a constant), same run.

    uv run python bench/serve.py [--model-dir models] [--data data/test.parquet] [--seconds 10]
                                 [--passes 2] [--image gitops-ml]

Load comes from `wrk` (Debian package `wrk`) with keep-alive connections and one thread. Every
server runs as one uvicorn process with uvloop and httptools; the floor is the same stack with a
Starlette route that reads the body and answers a constant, so the ratio is what the model, the
feature schema and our middleware cost on top of the web stack. Servers take turns, scenario by
scenario, for `--passes` passes; medians are printed with the ratio to the floor. Also measured:
the same app on uvicorn's pure-Python stack (asyncio + h11: what uvloop and httptools buy), JSON
in-process with the standard library and orjson (what orjson buys), cold start to ready, and,
with `--image`, the image's layers above its base. Targets are in the README (Serving).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CONSTANT = b'{"ok":true}'
SCENARIOS = ((1, 1), (1, 32), (100, 8))  # (rows per request, connections)


# -- the floor: Starlette answering a constant ---------------------------------------------------

def floor_app():  # noqa: ANN201
    """uvicorn + Starlette: one POST route that reads the body and answers a constant."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def predict(request: Request) -> Response:
        await request.body()
        return Response(CONSTANT, media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(CONSTANT, media_type="application/json")

    return Starlette(routes=[Route("/predict", predict, methods=["POST"]),
                             Route("/v2/health/ready", ready)])


# -- servers -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready",
                                        timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.005)
    raise RuntimeError("server not ready in time")


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def uvicorn_argv(target: str, port: int, loop: str, http: str, factory: bool) -> list[str]:
    here = Path(__file__).resolve().parent
    return [sys.executable, "-m", "uvicorn", "--app-dir", str(here), "--port", str(port),
            "--loop", loop, "--http", http, "--log-level", "warning", "--no-access-log",
            *(["--factory"] if factory else []), target]


# -- load ----------------------------------------------------------------------------------------

def wrk(port: int, body: bytes, connections: int, seconds: int, script_dir: Path) -> dict:
    """Requests/s, p50 and p99 (ms) from one wrk run; fails on any non-2xx answer."""
    body_file = script_dir / f"body-{len(body)}.json"
    body_file.write_bytes(body)
    script = script_dir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        "function done(summary, latency, requests)\n"
        '  io.write(string.format("non2xx=%d\\n", summary.errors.status))\nend\n')
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}/predict"], capture_output=True, text=True, check=True,
        timeout=seconds + 60).stdout
    bad = int(re.search(r"non2xx=(\d+)", out).group(1))  # type: ignore[union-attr]
    if bad or "Non-2xx" in out:
        raise RuntimeError(f"wrk saw {bad} non-2xx answers:\n{out}")

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%")}


# -- in-process ----------------------------------------------------------------------------------

def bodies(data: Path, model_dir: Path) -> dict[int, bytes]:
    import pandas as pd

    from gitops_ml.features import Feature, FeatureSchema

    meta = json.loads((model_dir / "model.json").read_text())
    schema = FeatureSchema([Feature.from_dict(f) for f in meta["features"]],
                           reject_unknown_categories=True)
    records = schema.records_of(pd.read_parquet(data).head(100))
    return {n: json.dumps(records[:n]).encode() for n in (1, 100)}


def timed(fn, repeats: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def in_process(model_dir: Path, payloads: dict[int, bytes], repeats: int) -> list[str]:
    """What each step costs without HTTP, and what orjson buys over the standard library."""
    import orjson

    from gitops_ml.features import FeatureSchema
    from gitops_ml.serve.model import OnnxModel

    model = OnnxModel.load(model_dir, threads=1)
    schema = FeatureSchema(model.meta.features, reject_unknown_categories=True)
    lines = []
    for n, body in payloads.items():
        records = orjson.loads(body)
        feeds, _ = schema.records(records, 10_000)
        out = model.score(feeds, schema)
        answer = {"predictions": [{"label": str(v), "probabilities": p} for v, p in zip(
            out["label"].ravel().tolist(), out["probabilities"].tolist(), strict=True)]}
        cost = {
            "json.loads": timed(lambda b=body: json.loads(b), repeats),
            "orjson.loads": timed(lambda b=body: orjson.loads(b), repeats),
            "json.dumps": timed(lambda a=answer: json.dumps(a).encode(), repeats),
            "orjson.dumps": timed(lambda a=answer: orjson.dumps(a), repeats),
            "schema": timed(lambda r=records: schema.records(r, 10_000), repeats),
            "session.run": timed(lambda f=feeds: model.run(f), repeats),
        }
        lines.append(f"in-process, {n:>3} row(s), p50 us: " + ", ".join(
            f"{k} {v * 1e6:.1f}" for k, v in cost.items()))
    return lines


def image_growth(image: str, base: str) -> str:
    """Bytes the image adds above its base (the layers this Dockerfile writes)."""
    def size(name: str) -> int:
        return int(subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", name],
                                  capture_output=True, text=True, check=True).stdout)

    grown = size(image) - size(base)
    return f"image {image}: {grown / 1e6:.1f} MB above {base} (target <= 120 MB)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", default="models", type=Path)
    ap.add_argument("--data", default="data/test.parquet", type=Path)
    ap.add_argument("--seconds", type=int, default=10, help="per wrk run")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--cold-starts", type=int, default=5)
    ap.add_argument("--image", help="also report this image's size above its base")
    ap.add_argument("--base", default="python:3.11-slim", help="the image's base")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk not found (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    payloads = bodies(args.data, args.model_dir)
    env = dict(os.environ, GITOPS_ML_MODEL_DIR=str(args.model_dir), GITOPS_ML_LOG_LEVEL="warning")

    colds = []
    for _ in range(args.cold_starts):
        port = free_port()
        proc = start([sys.executable, "-m", "gitops_ml", "serve"],
                     dict(env, GITOPS_ML_PORT=str(port)))
        try:
            colds.append(wait_ready(port, proc))
        finally:
            stop(proc)

    ports = {name: free_port() for name in ("floor", "app", "app on asyncio+h11")}
    argv = {
        "floor": uvicorn_argv("serve:floor_app", ports["floor"], "uvloop", "httptools", True),
        "app": [sys.executable, "-m", "gitops_ml", "serve"],
        "app on asyncio+h11": uvicorn_argv("gitops_ml.serve.app:create_app_from_env",
                                           ports["app on asyncio+h11"], "asyncio", "h11", True),
    }
    procs = {name: start(a, dict(env, GITOPS_ML_PORT=str(ports[name])))
             for name, a in argv.items()}
    runs: dict[tuple[str, int, int], list[dict]] = {}
    try:
        for name, proc in procs.items():
            wait_ready(ports[name], proc)
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.passes):
                for rows, conns in SCENARIOS:
                    for name in procs:  # servers take turns within each scenario
                        if name == "app on asyncio+h11" and (rows, conns) != (1, 32):
                            continue
                        runs.setdefault((name, rows, conns), []).append(
                            wrk(ports[name], payloads[rows], conns, args.seconds, Path(tmp)))
    finally:
        for proc in procs.values():
            stop(proc)

    def med(key: tuple[str, int, int], field: str) -> float:
        return statistics.median(r[field] for r in runs[key])

    print(f"conditions: {os.cpu_count()} CPUs shared with the load generator (wrk -t1) and "
          f"whatever else runs; {args.passes} alternating passes of {args.seconds:.0f} s, "
          "medians")
    print(f"cold start to ready (median of {len(colds)}): {statistics.median(colds) * 1e3:.0f} ms"
          f" (target < 1000 ms; runs: {', '.join(f'{c * 1e3:.0f}' for c in colds)})")
    print("\n| scenario | server | req/s | rows/s | p50 ms | p99 ms | ratio to floor |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for rows, conns in SCENARIOS:
        floor_rps = med(("floor", rows, conns), "rps")
        for name in procs:
            key = (name, rows, conns)
            if key not in runs:
                continue
            rps = med(key, "rps")
            print(f"| {rows} row(s), c={conns} | {name} | {rps:,.0f} | {rps * rows:,.0f} | "
                  f"{med(key, 'p50'):.2f} | {med(key, 'p99'):.2f} | {rps / floor_rps:.2f} |")
    print("\ntargets: 1 row c=32 >= 0.5x floor and p99 <= 10 ms; 100 rows c=8 >= 200k rows/s; "
          "1 row c=1 p50 <= 0.4 ms")
    for line in in_process(args.model_dir, payloads, 2000):
        print(line)
    if args.image:
        print(image_growth(args.image, args.base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
