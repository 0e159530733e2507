"""Benchmark: `gitops-ml predict` throughput and peak memory as the input grows, and on Ray.

Usage: uv run python bench/batch.py [--rows 1000000 10000000] [--formats csv parquet]
           [--repeats 3] [--chunk-rows 50000]
       uv run --group ray python bench/batch.py --ray-workers 1 2 --rows 1000000

Trains a small model on synthetic data (8 numbers, 2 categories) with the pipeline's own stages,
writes inputs of each size (row groups / CSV blocks of 500k rows, as a typical export), then runs
the CLI as a child process and reads its peak RSS from the kernel (wait4). Prints medians of
wall time, rows/s and peak RSS per size, and the peak RSS of the largest size over the smallest:
streaming holds it near 1.0 whatever the row count.
With --ray-workers it scores the Parquet input with the CLI, then on a local Ray instance with
that many actors: Ray's start-up (ray.init) and the scoring after it are timed apart by the CLI's
--timings sections; rows/s is on the scoring time, "vs CLI" its speed-up over the plain CLI
(whole process) on the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import GITOPS_ML, ROOT, stage_commands  # noqa: E402  (bench/ is not a package)

WRITE_ROWS = 500_000
TRAIN_ROWS = 20_000


def build_model(d: Path) -> Path:
    """Train and export a model on synthetic data with the pipeline's stages; its model dir."""
    cfg = yaml.safe_load((ROOT / "params.yaml").read_text())
    cfg["data"] = {"source": "synthetic", "target": "y", "synthetic": {
        "rows": TRAIN_ROWS, "numeric": 8, "categorical": 2, "categories": 8,
        "missing_rate": 0.0, "classes": 2}}
    cfg["model"] = {"estimator": "sklearn.linear_model.LogisticRegression",
                    "params": {"max_iter": 500}}
    cfg["evaluate"]["slices"] = []
    (d / "params.yaml").write_text(yaml.safe_dump(cfg))
    for name, args in stage_commands(d):
        done = subprocess.run([GITOPS_ML, *args], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"bench: stage {name} failed:\n{done.stderr}")
    models = d / "models"
    models.mkdir()
    shutil.move(d / "model.onnx", models / "model.onnx")
    shutil.move(d / "model.json", models / "model.json")
    return models


def make_input(meta: dict, rows: int, path: Path, seed: int = 0) -> None:
    """`rows` valid rows for the model's features plus an `id`, written 500k rows at a time."""
    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, WRITE_ROWS):
        n = min(WRITE_ROWS, rows - start)
        cols = {"id": pa.array(np.arange(start, start + n, dtype=np.int64))}
        for f in meta["features"]:
            if f["type"] == "number":
                cols[f["name"]] = pa.array(rng.uniform(f["min"], f["max"], n))
            else:
                cats = np.array(f["categories"], dtype=object)
                cols[f["name"]] = pa.array(cats[rng.integers(0, len(cats), n)], pa.string())
        table = pa.table(cols)
        if writer is None:
            writer = (pq.ParquetWriter(path, table.schema) if path.suffix == ".parquet"
                      else pcsv.CSVWriter(path, table.schema))
        writer.write_table(table)
    writer.close()


def run(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `gitops-ml` child process."""
    start = time.perf_counter()
    proc = subprocess.Popen([GITOPS_ML, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: gitops-ml {' '.join(args)} failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss


def bench_local(models: Path, d: Path, rows: list[int], formats: list[str], repeats: int,
                chunk_rows: int) -> None:
    meta = yaml.safe_load((models / "model.json").read_text())
    print(f"{'format':8} {'rows':>11} {'median s':>9} {'rows/s':>10} {'peak RSS MiB':>13}")
    for fmt in formats:
        peaks = {}
        for n in rows:
            source = d / f"in-{n}.{fmt}"
            make_input(meta, n, source)
            walls, rss = [], []
            for _ in range(repeats):
                out = d / "out.parquet"
                wall, peak = run(["predict", str(source), "-o", str(out), "--model-dir",
                                  str(models), "--keep", "id", "--chunk-rows", str(chunk_rows)])
                assert pq.ParquetFile(out).metadata.num_rows == n
                out.unlink()
                walls.append(wall)
                rss.append(peak / 1024)
            peaks[n] = statistics.median(rss)
            wall = statistics.median(walls)
            print(f"{fmt:8} {n:>11,} {wall:>9.1f} {n / wall:>10,.0f} {peaks[n]:>13.0f}",
                  flush=True)
            source.unlink()
        lo, hi = min(rows), max(rows)
        print(f"{fmt:8} peak RSS at {hi:,} rows / at {lo:,} rows: {peaks[hi] / peaks[lo]:.2f}")


def bench_ray(models: Path, d: Path, rows: list[int], workers: list[int], repeats: int,
              chunk_rows: int) -> None:
    meta = yaml.safe_load((models / "model.json").read_text())
    timings = d / "timings.json"
    print(f"{'scorer':>10} {'rows':>11} {'start s':>8} {'score s':>8} {'rows/s':>10} "
          f"{'vs CLI':>7}")
    for n in rows:
        source = d / f"in-{n}.parquet"
        make_input(meta, n, source)
        base = ["predict", str(source), "--model-dir", str(models), "--keep", "id",
                "--chunk-rows", str(chunk_rows)]
        local = []
        for _ in range(repeats):
            wall, _ = run([*base, "-o", str(d / "out.parquet")])
            (d / "out.parquet").unlink()
            local.append(wall)
        cli = statistics.median(local)
        print(f"{'CLI':>10} {n:>11,} {'':>8} {cli:>8.1f} {n / cli:>10,.0f} {1:>7.2f}", flush=True)
        for w in workers:
            starts, scores = [], []
            for _ in range(repeats):
                run(["--timings", str(timings), *base, "-o", str(d / "out"),
                     "--ray-address", "local", "--ray-workers", str(w)])
                shutil.rmtree(d / "out")
                sections = json.loads(timings.read_text())
                starts.append(sections["ray_start"])
                scores.append(sections["ray_score"])
            start, score = statistics.median(starts), statistics.median(scores)
            print(f"{f'Ray x{w}':>10} {n:>11,} {start:>8.1f} {score:>8.1f} {n / score:>10,.0f} "
                  f"{cli / score:>7.2f}", flush=True)
        source.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"],
                        choices=["csv", "parquet"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--ray-workers", type=int, nargs="+",
                        help="score on a local Ray instance with these actor counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitops-ml-bench-batch-") as tmp:
        d = Path(tmp)
        models = build_model(d)
        if args.ray_workers:
            bench_ray(models, d, args.rows, args.ray_workers, args.repeats, args.chunk_rows)
        else:
            bench_local(models, d, args.rows, args.formats, args.repeats, args.chunk_rows)


if __name__ == "__main__":
    main()
