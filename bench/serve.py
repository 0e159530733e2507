"""Serving benchmark: the app against a floor (a bare Starlette app answering a constant), same run.

    uv run python bench/serve.py [--model-dir models] [--data data/test.parquet] [--seconds 10]
                                 [--passes 3] [--image gitops-ml] [--markdown docs/serving.md]

Load comes from `wrk` (Debian package `wrk`) with keep-alive connections and one thread. Every
server runs as one uvicorn process with uvloop and httptools; the floor is the same stack with a
Starlette route that reads the body and answers a constant, so the ratio is what the model, the
feature schema and our middleware cost on top of the web stack. Servers take turns, scenario by
scenario, for `--passes` passes; medians are printed with the ratio to the floor. Also measured:
the same app on uvicorn's pure-Python stack (asyncio + h11: what uvloop and httptools buy), JSON
in-process with the standard library and orjson (what orjson buys), cold start to ready, the
cost of a shadow challenger (two more servers logging every row, one with a copy of the model as
challenger in shadow, at 1 row c=32; bench/shadow.py compares sample rates), and, with
`--image`, the image's layers above its base. Targets are in docs/serving.md.

Batches are sent twice: as /predict JSON records and as a v2 infer request in the binary tensor
data extension (a JSON header and raw float32 tensors, what `tritonclient` sends by default).
`--markdown FILE` rewrites the result table between the `<!-- bench/serve.py -->` markers in
FILE, with the machine, the date and the command.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
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
# (rows per request, connections, body): "json" /predict records, "binary" v2 binary tensors
SCENARIOS = ((1, 1, "json"), (1, 32, "json"), (100, 8, "json"), (100, 8, "binary"))
MARKER = "<!-- bench/serve.py -->"


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
                             Route("/v2/models/{name}/infer", predict, methods=["POST"]),
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
    # its own process group: `gitops-ml serve` in a checkout starts `dvc status` beside it,
    # which must not outlive the server and load the next measurement
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def uvicorn_argv(target: str, port: int, loop: str, http: str, factory: bool) -> list[str]:
    here = Path(__file__).resolve().parent
    return [sys.executable, "-m", "uvicorn", "--app-dir", str(here), "--port", str(port),
            "--loop", loop, "--http", http, "--log-level", "warning", "--no-access-log",
            *(["--factory"] if factory else []), target]


# -- load ----------------------------------------------------------------------------------------

def wrk(port: int, body: tuple[str, bytes, dict[str, str]], connections: int, seconds: int,
        script_dir: Path) -> dict:
    """Requests/s, p50 and p99 (ms) from one wrk run; fails on any non-2xx answer."""
    path, data, headers = body
    body_file = script_dir / f"body-{abs(hash((path, data)))}.bin"
    body_file.write_bytes(data)
    script = script_dir / f"post-{body_file.stem}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
        + f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        "function done(summary, latency, requests)\n"
        '  io.write(string.format("non2xx=%d\\n", summary.errors.status))\nend\n')
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True,
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

def records(data: Path, model_dir: Path) -> list[dict]:
    """The first 100 test rows as the JSON records a client sends."""
    import pandas as pd

    from gitops_ml.features import Feature, FeatureSchema

    meta = json.loads((model_dir / "model.json").read_text())
    schema = FeatureSchema([Feature.from_dict(f) for f in meta["features"]],
                           reject_unknown_categories=True)
    return schema.records_of(pd.read_parquet(data).head(100))


def bodies(data: Path, model_dir: Path) -> dict[int, bytes]:
    rows = records(data, model_dir)
    return {n: json.dumps(rows[:n]).encode() for n in (1, 100)}


def binary_body(rows: list[dict], model_dir: Path) -> tuple[str, bytes, dict[str, str]]:
    """A v2 infer request in the binary tensor data extension (numeric features: FP32)."""
    import numpy as np

    meta = json.loads((model_dir / "model.json").read_text())
    inputs, raw = [], []
    for f in meta["features"]:
        if f["type"] != "number":
            raise SystemExit("bench: the binary scenario needs a model of numeric features")
        data = np.array([r[f["name"]] for r in rows], dtype="<f4").tobytes()
        inputs.append({"name": f["name"], "datatype": "FP32", "shape": [len(rows), 1],
                       "parameters": {"binary_data_size": len(data)}})
        raw.append(data)
    header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    return (f"/v2/models/{meta['name']}/infer", header + b"".join(raw),
            {"Content-Type": "application/octet-stream",
             "Inference-Header-Content-Length": str(len(header))})


LOG_ALONE, SHADOW = "app, log 1.0", "app, log 1.0, shadow challenger"
# servers measured in the 1 row, c=32 scenario only
ONLY_1_ROW_C32 = ("app on asyncio+h11", LOG_ALONE, SHADOW)


def shadow_servers(model_dir: Path, tmp: Path) -> dict[str, dict[str, str]]:
    """The environment of two servers that log every row: one alone, one with a challenger in
    shadow (a copy of the model, so the extra work is exactly one more scoring per row)."""
    challenger = tmp / "challenger"
    shutil.copytree(model_dir, challenger)
    meta = json.loads((challenger / "model.json").read_text())
    (challenger / "model.json").write_text(json.dumps({**meta, "version": "shadow"}))
    logged = {"GITOPS_ML_PREDICTION_LOG_SAMPLE": "1.0"}
    return {LOG_ALONE: {**logged, "GITOPS_ML_PREDICTION_LOG": str(tmp / "logs" / LOG_ALONE)},
            SHADOW: {**logged, "GITOPS_ML_PREDICTION_LOG": str(tmp / "logs" / SHADOW),
                     "GITOPS_ML_CHALLENGER_DIR": str(challenger),
                     "GITOPS_ML_CHALLENGER_MODE": "shadow"}}


def machine() -> str:
    """CPU model and count, for the table's caption."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"


def write_markdown(path: Path, text: str) -> None:
    """Replace what lies between the two markers in `path` with `text`."""
    doc = path.read_text()
    parts = doc.split(MARKER)
    if len(parts) != 3:
        raise SystemExit(f"bench: {path} needs exactly two {MARKER} lines around the table")
    path.write_text(f"{parts[0]}{MARKER}\n{text}\n{MARKER}{parts[2]}")


def timed(fn, repeats: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def in_process(model_dir: Path, payloads: dict[int, bytes], repeats: int) -> list[str]:
    """What each step costs without HTTP; what orjson buys over the standard library, and
    msgspec into rows over orjson into dicts."""
    import orjson

    from gitops_ml.features import FeatureSchema
    from gitops_ml.serve.model import OnnxModel
    from gitops_ml.serve.records import records_reader

    model = OnnxModel.load(model_dir, threads=1)
    schema = FeatureSchema(model.meta.features, reject_unknown_categories=True)
    read = records_reader(schema)  # what /predict does: msgspec into rows when clean
    lines = []
    for n, body in payloads.items():
        records, rows = orjson.loads(body), read(body)
        feeds, _ = schema.records(records, 10_000)
        out = model.score(feeds, schema)
        answer = {"predictions": [{"label": str(v), "probabilities": p} for v, p in zip(
            out["label"].ravel().tolist(), out["probabilities"].tolist(), strict=True)]}
        cost = {
            "json.loads": timed(lambda b=body: json.loads(b), repeats),
            "orjson.loads": timed(lambda b=body: orjson.loads(b), repeats),
            "json.dumps": timed(lambda a=answer: json.dumps(a).encode(), repeats),
            "orjson.dumps": timed(lambda a=answer: orjson.dumps(a), repeats),
            "schema (dicts)": timed(lambda r=records: schema.records(r, 10_000), repeats),
            "msgspec rows": timed(lambda b=body: read(b), repeats),
            "schema (rows)": timed(lambda r=rows: schema.row_feeds(
                r, schema.row_columns(r, 10_000)), repeats),
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
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--cold-starts", type=int, default=5)
    ap.add_argument("--image", help="also report this image's size above its base")
    ap.add_argument("--base", default="python:3.11-slim", help="the image's base")
    ap.add_argument("--markdown", type=Path, help="write the table into this file's markers")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk not found (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    rows = records(args.data, args.model_dir)
    payloads = bodies(args.data, args.model_dir)
    json_headers = {"Content-Type": "application/json"}
    requests = {(n, "json"): ("/predict", payloads[n], json_headers) for n in payloads}
    requests[(100, "binary")] = binary_body(rows, args.model_dir)
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

    app = [sys.executable, "-m", "gitops_ml", "serve"]
    runs: dict[tuple[str, int, int, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        shadow_env = shadow_servers(args.model_dir, tmpdir)
        ports = {name: free_port() for name in ("floor", "app", *ONLY_1_ROW_C32)}
        argv = {
            "floor": uvicorn_argv("serve:floor_app", ports["floor"], "uvloop", "httptools", True),
            "app": app,
            "app on asyncio+h11": uvicorn_argv("gitops_ml.serve.app:create_app_from_env",
                                               ports["app on asyncio+h11"], "asyncio", "h11",
                                               True),
            **{name: app for name in shadow_env},
        }
        procs = {name: start(a, dict(env, GITOPS_ML_PORT=str(ports[name]),
                                     **shadow_env.get(name, {})))
                 for name, a in argv.items()}
        try:
            for name, proc in procs.items():
                wait_ready(ports[name], proc)
            for _ in range(args.passes):
                for n, conns, kind in SCENARIOS:
                    for name in procs:  # servers take turns within each scenario
                        if name in ONLY_1_ROW_C32 and (n, conns, kind) != (1, 32, "json"):
                            continue
                        runs.setdefault((name, n, conns, kind), []).append(
                            wrk(ports[name], requests[(n, kind)], conns, args.seconds, tmpdir))
        finally:
            for proc in procs.values():
                stop(proc)
        shadowed = sum(1 for f in (tmpdir / "logs" / SHADOW).glob("*.jsonl")
                       for line in f.read_text().splitlines() if '"shadow":{"model"' in line)

    def med(key: tuple[str, int, int, str], field: str) -> float:
        return statistics.median(r[field] for r in runs[key])

    lines = [
        f"Measured {datetime.date.today().isoformat()} on {machine()}, shared with the load "
        f"generator (wrk, one thread); {args.passes} alternating passes of {args.seconds} s, "
        "medians. Command: `uv run python bench/serve.py "
        f"--passes {args.passes} --seconds {args.seconds}`.",
        "",
        f"Cold start, process start to ready: {statistics.median(colds) * 1e3:.0f} ms "
        f"(median of {len(colds)}: {', '.join(f'{c * 1e3:.0f}' for c in colds)}; "
        "target < 1000 ms).",
        "",
        "| scenario | server | req/s | rows/s | p50 ms | p99 ms | ratio to floor | target |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    targets = {(1, 1, "json"): "p50 <= 0.4 ms", (1, 32, "json"): ">= 0.5x floor, p99 <= 10 ms",
               (100, 8, "json"): ">= 200k rows/s", (100, 8, "binary"): ">= 200k rows/s"}
    for n, conns, kind in SCENARIOS:
        floor_rps = med(("floor", n, conns, kind), "rps")
        for name in procs:
            key = (name, n, conns, kind)
            if key not in runs:
                continue
            rps = med(key, "rps")
            what = f"{n} row{'s' if n > 1 else ''}, c={conns}, " + (
                "/predict JSON" if kind == "json" else "v2 binary tensors")
            lines.append(
                f"| {what} | {name} | {rps:,.0f} | {rps * n:,.0f} | {med(key, 'p50'):.2f} | "
                f"{med(key, 'p99'):.2f} | {rps / floor_rps:.2f} | "
                f"{targets[(n, conns, kind)] if name == 'app' else ''} |")
    alone, shadow = (LOG_ALONE, 1, 32, "json"), (SHADOW, 1, 32, "json")
    lines += [
        "",
        f"Shadow challenger (a copy of the model), every row logged (sample 1.0), 1 row, c=32: "
        f"p50 {med(shadow, 'p50'):.2f} ms vs {med(alone, 'p50'):.2f} ms without "
        f"({med(shadow, 'p50') / med(alone, 'p50'):.2f}x; target <= 1.3x), p99 "
        f"{med(shadow, 'p99'):.2f} vs {med(alone, 'p99'):.2f} ms "
        f"({med(shadow, 'p99') / med(alone, 'p99'):.2f}x); {shadowed:,} log lines carry the "
        "challenger's output.",
    ]
    print("\n".join(lines))
    for line in in_process(args.model_dir, payloads, 2000):
        print(line)
    if args.image:
        print(image_growth(args.image, args.base))
    if args.markdown:
        write_markdown(args.markdown, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
