"""Benchmark: what restoring the DVC cache + run-cache saves a CI run (as pr.yml does it).

Usage: uv run python bench/ci_cache.py [--repeats 3] [--param evaluate.slice_bins=5]

Each repeat starts from a fresh clone of HEAD (what actions/checkout gives a runner):
  cold  empty .dvc/cache: `dvc repro` reruns every stage (a full retrain);
  warm  .dvc/cache restored from the cold run (what actions/cache restores), and an
        evaluate-only change (--param): DVC checks unchanged stages out of the run-cache and
        runs only the stages downstream of the change.
Prints medians of wall seconds for both and their ratio, and the stages each one ran.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def sh(*argv: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def clone(dest: Path) -> Path:
    sh("git", "clone", "--quiet", "--no-local", str(ROOT), str(dest), cwd=ROOT)
    return dest


def set_param(repo: Path, assignment: str) -> None:
    key, _, value = assignment.partition("=")
    params = repo / "params.yaml"
    cfg = yaml.safe_load(params.read_text())
    node = cfg
    *parents, leaf = key.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = yaml.safe_load(value)
    params.write_text(yaml.safe_dump(cfg, sort_keys=False))


def repro(repo: Path) -> tuple[float, list[str]]:
    start = time.perf_counter()
    out = sh(str(BIN / "dvc"), "repro", cwd=repo)
    wall = time.perf_counter() - start
    ran = re.findall(r"^Running stage '([^']+)'", out, re.M)
    return wall, ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--param", default="evaluate.slice_bins=5",
                        help="the evaluate-only change, KEY=YAML (default: %(default)s)")
    args = parser.parse_args()
    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="gitops-ml-bench-cache-") as tmp:
        for i in range(args.repeats):
            first = clone(Path(tmp) / f"cold-{i}")
            wall, ran_cold = repro(first)
            cold.append(wall)
            second = clone(Path(tmp) / f"warm-{i}")
            shutil.copytree(first / ".dvc" / "cache", second / ".dvc" / "cache")
            set_param(second, args.param)
            wall, ran_warm = repro(second)
            warm.append(wall)
            shutil.rmtree(first)
            shutil.rmtree(second)
            print(f"repeat {i + 1}: cold {cold[-1]:.1f} s, warm {warm[-1]:.1f} s", flush=True)
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"cold cache, full retrain:         median {c:6.1f} s  ran {', '.join(ran_cold)}")
    print(f"warm cache, {args.param}: median {w:6.1f} s  ran {', '.join(ran_warm)}")
    print(f"warm / cold: {w / c:.2f}")


if __name__ == "__main__":
    main()
