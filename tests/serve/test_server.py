"""`gitops-ml serve` as a real process: SIGTERM drains, finishes in-flight work and exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from pipelines import smoke


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def server(mixed_model) -> Iterator[tuple[subprocess.Popen, int]]:
    port = smoke.free_port()
    env = dict(os.environ, GITOPS_ML_MODEL_DIR=str(mixed_model.dir), GITOPS_ML_PORT=str(port),
               GITOPS_ML_DRAIN_SECONDS="1.0", GITOPS_ML_LOG_LEVEL="warning")
    proc = subprocess.Popen([sys.executable, "-m", "gitops_ml", "serve"], env=env)
    try:
        smoke.wait_ready(f"http://127.0.0.1:{port}", timeout=30)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_passes_the_smoke_test(server, mixed_model):
    _, port = server
    assert smoke.main(["--url", f"http://127.0.0.1:{port}", "--model-dir", str(mixed_model.dir),
                       "--pipeline", str(mixed_model.pipeline), "--test", str(mixed_model.test),
                       "--rows", "20"]) == 0


def test_sigterm_turns_ready_503_finishes_in_flight_and_exits_0(server, good_record):
    proc, port = server
    body = json.dumps([good_record]).encode()
    in_flight = socket.create_connection(("127.0.0.1", port), timeout=10)
    in_flight.sendall(b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
    time.sleep(0.2)  # the server has the headers: the request is in flight
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert _status(f"http://127.0.0.1:{port}/v2/health/ready") == 503  # draining, still up
    time.sleep(1.2)  # past the drain: the listener is closed, the request still open
    in_flight.sendall(body[10:])
    response = in_flight.recv(65536)
    in_flight.close()
    assert response.startswith(b"HTTP/1.1 200")
    assert proc.wait(timeout=15) == 0


def test_serve_with_a_missing_model_exits_2(tmp_path):
    env = dict(os.environ, GITOPS_ML_MODEL_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "gitops_ml", "serve"], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert "model.json not found" in out.stderr


def test_serve_with_a_bad_setting_names_the_variable():
    env = dict(os.environ, GITOPS_ML_PORT="eighty")
    out = subprocess.run([sys.executable, "-m", "gitops_ml", "serve"], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2 and "GITOPS_ML_PORT" in out.stderr
