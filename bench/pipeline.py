"""Benchmark: per-stage wall time and peak memory of the pipeline on synthetic data.

Usage: uv run python bench/pipeline.py [--rows 100000 1000000] [--features 20] [--repeats 1]
Prints, per stage, wall seconds, seconds inside the estimator's fit/predict, and peak RSS;
then the share of the total spent outside the estimator (target: <= 25% at 1M rows).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GITOPS_ML = str(Path(sys.executable).parent / "gitops-ml")
# Run to prepare the data's contract; a team does this once, so it is not in the totals.
SETUP = {"contract"}


def stage_commands(d: Path) -> list[tuple[str, list[str]]]:
    """The dvc.yaml commands, with paths inside the scratch directory `d`."""
    p = str(d / "params.yaml")
    return [
        ("fingerprint", ["fingerprint", "--params", p, "--out", f"{d}/fingerprint.json"]),
        ("ingest", ["ingest", "--params", p, "--fingerprint", f"{d}/fingerprint.json",
                    "--out", f"{d}/raw.parquet", "--summary", f"{d}/data.json"]),
        ("contract", ["contract", "infer", "--params", p, "--data", f"{d}/raw.parquet",
                      "--out", f"{d}/contract.yaml", "--force"]),
        ("validate", ["validate", "--params", p, "--data", f"{d}/raw.parquet",
                      "--contract", f"{d}/contract.yaml", "--report", f"{d}/validation.json"]),
        ("split", ["split", "--params", p, "--data", f"{d}/raw.parquet",
                   "--train", f"{d}/train.parquet", "--test", f"{d}/test.parquet"]),
        ("train", ["train", "--params", p, "--train", f"{d}/train.parquet",
                   "--contract", f"{d}/contract.yaml", "--out", f"{d}/model.joblib"]),
        ("evaluate", ["evaluate", "--params", p, "--model", f"{d}/model.joblib",
                      "--test", f"{d}/test.parquet", "--metrics", f"{d}/metrics.json",
                      "--plots", f"{d}/plots", "--slices", f"{d}/slices.json",
                      "--importance", f"{d}/importance.json"]),
        ("export", ["export", "--params", p, "--model", f"{d}/model.joblib",
                    "--train", f"{d}/train.parquet", "--test", f"{d}/test.parquet",
                    "--metrics", f"{d}/metrics.json", "--onnx", f"{d}/model.onnx",
                    "--meta", f"{d}/model.json", "--parity", f"{d}/parity.json"]),
    ]


def run_stage(args: list[str], timings: Path) -> tuple[float, float, int]:
    """Wall seconds, estimator seconds and peak RSS (KiB) of one stage process."""
    start = time.perf_counter()
    proc = subprocess.Popen([GITOPS_ML, "--timings", str(timings), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"stage failed: {' '.join(args)}\n{proc.stderr.read().decode()}")
    sections = json.loads(timings.read_text()) if timings.exists() else {}
    timings.unlink(missing_ok=True)
    return wall, sum(sections.values()), usage.ru_maxrss


def bench(rows: int, features: int, estimator: str, params: dict, slices: bool) -> dict:
    categorical = max(1, features // 5)
    with tempfile.TemporaryDirectory(prefix="gitops-ml-bench-") as tmp:
        d = Path(tmp)
        cfg = yaml.safe_load((ROOT / "params.yaml").read_text())
        cfg["data"] = {"source": "synthetic", "target": "y", "synthetic": {
            "rows": rows, "numeric": features - categorical, "categorical": categorical,
            "categories": 8, "missing_rate": 0.02, "classes": 2}}
        cfg["model"] = {"estimator": estimator, "params": params}
        cfg["evaluate"]["slices"] = ["cat_00"] if slices else []
        (d / "params.yaml").write_text(yaml.safe_dump(cfg))
        out = {}
        for name, args in stage_commands(d):
            out[name] = run_stage(args, d / "timings.json")
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1, help="runs per size; medians reported")
    parser.add_argument("--estimator", default="sklearn.ensemble.HistGradientBoostingClassifier")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="estimator param (YAML value), repeatable")
    args = parser.parse_args()
    params = {k: yaml.safe_load(v) for k, v in (p.split("=", 1) for p in args.param)}
    print(f"estimator {args.estimator} {params or ''}; {args.features} features; "
          f"median of {args.repeats} run(s)")
    for rows in args.rows:
        runs = [bench(rows, args.features, args.estimator, params, True)
                for _ in range(args.repeats)]
        print(f"\n{rows:,} rows")
        print(f"{'stage':<12}{'wall s':>9}{'model s':>9}{'peak MiB':>10}")
        total = model = 0.0
        for stage in runs[0]:
            wall = statistics.median(r[stage][0] for r in runs)
            inside = statistics.median(r[stage][1] for r in runs)
            rss = statistics.median(r[stage][2] for r in runs) / 1024
            if stage in SETUP:
                print(f"{stage + ' *':<12}{wall:>9.2f}{inside:>9.2f}{rss:>10.0f}")
                continue
            total, model = total + wall, model + inside
            print(f"{stage:<12}{wall:>9.2f}{inside:>9.2f}{rss:>10.0f}")
        print(f"{'total':<12}{total:>9.2f}{model:>9.2f}   (* setup, not a dvc.yaml stage)")
        print(f"outside the estimator's fit/predict: {total - model:.2f} s = "
              f"{(total - model) / total:.0%} of the total")


if __name__ == "__main__":
    main()
