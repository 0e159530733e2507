"""Shadow benchmark: the champion's latency at c=32 with and without a challenger in shadow.

    uv run python bench/shadow.py [--model-dir models] [--data data/test.parquet] [--seconds 5]
                                  [--passes 3] [--sample 0.1 --sample 1.0]

For each prediction-log sample rate, two servers run side by side on the same model: one alone,
one with `GITOPS_ML_CHALLENGER_MODE=shadow` and a copy of the model as the challenger (so the
extra work is exactly one more scoring of every logged row). `wrk` (one thread, 32 keep-alive
connections, one row per request) takes turns between them for `--passes` passes; medians of
requests/s, p50 and p99 are printed with the shadow server's ratio to the plain one. The harness
(wrk, servers, bodies) is bench/serve.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from serve import bodies, free_port, start, stop, wait_ready, wrk


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", default="models", type=Path)
    ap.add_argument("--data", default="data/test.parquet", type=Path)
    ap.add_argument("--seconds", type=int, default=5, help="per wrk run")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--sample", type=float, action="append",
                    help="prediction log sample rate (repeatable; default 0.1 and 1.0)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk not found (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    samples = args.sample or [0.1, 1.0]
    body = ("/predict", bodies(args.data, args.model_dir)[1], {"Content-Type": "application/json"})
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        challenger = tmpdir / "challenger"
        shutil.copytree(args.model_dir, challenger)
        meta = json.loads((challenger / "model.json").read_text())
        (challenger / "model.json").write_text(json.dumps({**meta, "version": "shadow"}))
        env = dict(os.environ, GITOPS_ML_MODEL_DIR=str(args.model_dir),
                   GITOPS_ML_LOG_LEVEL="warning")
        servers = {}
        for rate in samples:
            for shadow in (False, True):
                name = f"log {rate:g}, {'shadow' if shadow else 'champion alone'}"
                extra = {"GITOPS_ML_PREDICTION_LOG": str(tmpdir / "logs" / name),
                         "GITOPS_ML_PREDICTION_LOG_SAMPLE": str(rate)}
                if shadow:
                    extra |= {"GITOPS_ML_CHALLENGER_DIR": str(challenger),
                              "GITOPS_ML_CHALLENGER_MODE": "shadow"}
                servers[name] = (free_port(), extra)
        procs = {name: start([sys.executable, "-m", "gitops_ml", "serve"],
                             dict(env, GITOPS_ML_PORT=str(port), **extra))
                 for name, (port, extra) in servers.items()}
        runs: dict[str, list[dict]] = {name: [] for name in servers}
        try:
            for name, proc in procs.items():
                wait_ready(servers[name][0], proc)
            for _ in range(args.passes):
                for name in servers:  # servers take turns, so drift in load hits both
                    runs[name].append(wrk(servers[name][0], body, args.connections,
                                          args.seconds, tmpdir))
        finally:
            for proc in procs.values():
                stop(proc)
        logged = {name: sum(1 for f in (tmpdir / "logs" / name).glob("*.jsonl")
                            for line in f.read_text().splitlines() if '"shadow"' in line)
                  for name in servers}

    def med(name: str, field: str) -> float:
        return statistics.median(r[field] for r in runs[name])

    print(f"conditions: {os.cpu_count()} CPUs shared with wrk (-t1) and whatever else runs; "
          f"1 row per request, c={args.connections}; {args.passes} alternating passes of "
          f"{args.seconds} s, medians")
    print("\n| server | req/s | p50 ms | p99 ms | p50 vs alone | lines with shadow output |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in servers:
        alone = name.replace("shadow", "champion alone")
        print(f"| {name} | {med(name, 'rps'):,.0f} | {med(name, 'p50'):.2f} | "
              f"{med(name, 'p99'):.2f} | {med(name, 'p50') / med(alone, 'p50'):.2f} | "
              f"{logged[name]:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
