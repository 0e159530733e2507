"""Smoke-test the serving image (or any running server) against the pipeline's own predictions.

    python -m pipelines.smoke --image IMAGE      # run it, test it, `docker stop` it (exit 0?)
    python -m pipelines.smoke --url URL          # test a server that is already up

Checks: ready within the timeout; /predict on test-set rows agrees with the scikit-learn pipeline
(labels exactly, probabilities or values within model.json's parity tolerance); a bad request is
refused with a 4xx naming the field; in an image, the server runs as a non-root user and
`docker stop` ends it with exit code 0. The main workflow and tests/serve call this same code.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_ml.errors import UserError
from pipelines import dvc_paths

CONTAINER_PORT = 8080


class SmokeFailure(Exception):
    """The image or server does not behave; the message says how."""


@dataclass(frozen=True)
class Expected:
    """Records to send and what the pipeline itself predicts for them."""

    records: list[dict[str, Any]]
    labels: list[str] | None
    scores: list[list[float]]  # probabilities per class in `classes` order, or [value]
    classes: list[str] | None
    tolerance: float


def expected_from_pipeline(pipeline: Path, test: Path, meta: dict[str, Any],
                           rows: int) -> Expected:
    """The pipeline's predictions for the first `rows` test rows (scikit-learn, not ONNX)."""
    import joblib
    import pandas as pd

    from gitops_ml.features import Feature, FeatureSchema
    from gitops_ml.modeling import model_frame

    bundle = joblib.load(pipeline)
    df = pd.read_parquet(test).head(rows)
    X = model_frame(df, bundle["contract"])
    schema = FeatureSchema([Feature.from_dict(f) for f in meta["features"]],
                           reject_unknown_categories=False)
    records = schema.records_of(df)  # the feature schema the server itself enforces
    tolerance = float(meta.get("parity", {}).get("tolerance", {}).get("max_abs_diff", 1e-3))
    if meta["task"] == "regression":
        values = bundle["pipeline"].predict(X)
        return Expected(records, None, [[float(v)] for v in values], None, tolerance)
    proba = bundle["pipeline"].predict_proba(X)
    classes = [str(c) for c in bundle["pipeline"].classes_]
    labels = [classes[i] for i in proba.argmax(axis=1)]
    return Expected(records, labels, proba.tolist(), classes, tolerance)


def request(url: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_ready(base_url: str, timeout: float) -> float:
    """Seconds until /v2/health/ready answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if request(f"{base_url}/v2/health/ready", timeout=2)[0] == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.2)
    raise SmokeFailure(f"{base_url} not ready after {timeout:.0f} s")


def check_predictions(base_url: str, expected: Expected) -> None:
    status, body = request(f"{base_url}/predict", expected.records)
    if status != 200:
        raise SmokeFailure(f"/predict answered {status}: {body}")
    got = body["predictions"]
    if len(got) != len(expected.records):
        raise SmokeFailure(f"/predict returned {len(got)} predictions for "
                           f"{len(expected.records)} records")
    worst = 0.0
    for i, (pred, scores) in enumerate(zip(got, expected.scores, strict=True)):
        if expected.classes is None:
            served = [pred["value"]]
            # relative to the value's scale, as the export stage's parity check measures it
            scale = max(1.0, abs(scores[0]))
        else:
            if pred["label"] != expected.labels[i]:  # type: ignore[index]
                raise SmokeFailure(f"row {i}: served label {pred['label']!r}, pipeline "
                                   f"{expected.labels[i]!r}")  # type: ignore[index]
            served = [pred["probabilities"][c] for c in expected.classes]
            scale = 1.0
        worst = max(worst, *(abs(a - b) / scale for a, b in zip(served, scores, strict=True)))
    if worst > expected.tolerance:
        raise SmokeFailure(f"served scores differ from the pipeline by {worst:.3g} "
                           f"(tolerance {expected.tolerance})")
    print(f"smoke: {len(got)} predictions match the pipeline (largest difference {worst:.2g})")


def check_bad_request(base_url: str, expected: Expected, meta: dict[str, Any]) -> None:
    record = dict(expected.records[0])
    field = next(iter(record))
    del record[field]
    record["not_a_feature"] = 1
    status, body = request(f"{base_url}/predict", [record])
    fields = {e.get("field") for e in (body or {}).get("errors", [])}
    if not 400 <= status < 500 or "not_a_feature" not in fields:
        raise SmokeFailure(f"a bad request got {status} {body}, expected a 4xx naming the field")
    print(f"smoke: bad request refused with {status}, naming {sorted(f for f in fields if f)}")
    number = next((f["name"] for f in meta["features"] if f["type"] == "number"), None)
    if number is not None:  # beyond float32: the model would see infinity
        status, body = request(f"{base_url}/predict", [{**expected.records[0], number: 3.5e38}])
        fields = {e.get("field") for e in (body or {}).get("errors", [])}
        if status != 422 or number not in fields:
            raise SmokeFailure(f"3.5e38 for {number!r} got {status} {body}, expected a 422 "
                               "naming the field")
        print(f"smoke: 3.5e38 refused with 422, naming {number!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docker(*args: str, timeout: float = 60) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                         check=False)
    if out.returncode != 0:
        raise SmokeFailure(f"docker {args[0]} failed: {out.stderr.strip()[-500:]}")
    return out.stdout.strip()


@contextmanager
def running_image(image: str) -> Iterator[tuple[str, str]]:
    """Run `image` on a free local port; yield (base URL, container id); always remove it."""
    port = free_port()
    container = docker("run", "--detach", "--publish", f"127.0.0.1:{port}:{CONTAINER_PORT}",
                       image)
    try:
        yield f"http://127.0.0.1:{port}", container
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, check=False)


def check_container(container: str) -> None:
    uid = docker("exec", container, "id", "-u")
    if uid == "0":
        raise SmokeFailure("the server runs as root")
    print(f"smoke: server runs as uid {uid}")
    docker("stop", "--time", "20", container, timeout=60)
    code = docker("inspect", "--format", "{{.State.ExitCode}}", container)
    if code != "0":
        logs = subprocess.run(["docker", "logs", "--tail", "20", container], capture_output=True,
                              text=True, check=False)
        raise SmokeFailure(f"`docker stop` ended the container with exit code {code}, not 0\n"
                           f"{logs.stdout}{logs.stderr}")
    print("smoke: `docker stop` -> exit code 0")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m pipelines.smoke", description=__doc__)
    target = ap.add_mutually_exclusive_group(required=True)
    target.add_argument("--image", help="image to run and test (needs docker)")
    target.add_argument("--url", help="base URL of a running server")
    ap.add_argument("--model-dir", type=Path,
                    help="holds model.json of the served model (default: the folder of "
                         "dvc.yaml export's --meta)")
    ap.add_argument("--pipeline", type=Path, help="default: dvc.yaml train's --out")
    ap.add_argument("--test", type=Path, help="default: dvc.yaml split's --test")
    ap.add_argument("--dvc-yaml", type=Path, default=dvc_paths.DVC_YAML)
    ap.add_argument("--rows", type=int, default=50, help="test rows to send (default: 50)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds to wait for ready")
    return ap


def _paths_from_dvc_yaml(args: argparse.Namespace) -> None:
    """Fill the paths left unset with what dvc.yaml declares (pipelines.dvc_paths)."""
    if args.model_dir is None:
        stages = dvc_paths.load(args.dvc_yaml)
        args.model_dir = Path(dvc_paths.path(stages, "export", "--meta")).parent
    dvc_paths.fill(args, {"pipeline": ("train", "--out"), "test": ("split", "--test")},
                   args.dvc_yaml)
    args.pipeline, args.test = Path(args.pipeline), Path(args.test)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _paths_from_dvc_yaml(args)
    except UserError as exc:
        print(f"smoke: error: {exc}", file=sys.stderr)
        return 2
    meta = json.loads((args.model_dir / "model.json").read_text())
    expected = expected_from_pipeline(args.pipeline, args.test, meta, args.rows)
    try:
        if args.url:
            print(f"smoke: ready after {wait_ready(args.url.rstrip('/'), args.timeout):.1f} s")
            check_predictions(args.url.rstrip("/"), expected)
            check_bad_request(args.url.rstrip("/"), expected, meta)
        else:
            with running_image(args.image) as (url, container):
                print(f"smoke: ready after {wait_ready(url, args.timeout):.1f} s")
                check_predictions(url, expected)
                check_bad_request(url, expected, meta)
                check_container(container)
    except SmokeFailure as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
