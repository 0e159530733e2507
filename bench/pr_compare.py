"""Cost of the same-row comparison on the PR job (issue #23: <= 20% on the default data, <= 60 s
at 1M evaluation rows, the base model from a cache).

    uv run python bench/pr_compare.py job  [--repeats 3]   # the PR job on the project's data
    uv run python bench/pr_compare.py base [--repeats 3]   # the merge-base reproduced
    uv run python bench/pr_compare.py rows [--rows 1000000] [--repeats 3]

`job`: a clone of this checkout at HEAD becomes `main` (its pipeline reproduced and committed,
so its model is in the DVC cache, as CI restores it); a pull request shrinks C tenfold. Each
repeat copies that repository and runs `python -m pipelines.pr` as CI does (reproducing the
stages the change reaches); the comparison's own seconds are the ones pipelines.pr prints
("compared both models on the same rows in X s"), the share is X / (job - X).

`base`: the same pull request with no DVC cache at all (a fork's job, no remote), so the
comparison reproduces the merge-base in a worktree; against one `dvc repro --force` of main
from nothing (its cache removed).

`rows`: two models trained on synthetic data (20,000 rows each, different seeds) scored by
`gitops_ml.report.same_rows.compare` on `--rows` evaluation rows, leaving out rows either model
trained on: scoring, the content match, the bootstrap (1,000 resamples) and the flips.
Prints every repeat and the median.
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

ROOT = Path(__file__).resolve().parents[1]
COMPARED = re.compile(r"compared both models on the same rows in ([0-9.]+) s")


def _sh(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DVC_NO_ANALYTICS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
    env.pop("GITHUB_STEP_SUMMARY", None)
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    if out.returncode not in (0, 1):              # 1: a gate failed, the report is written
        raise SystemExit(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out


def _prepare(tmp: Path) -> Path:
    repo = tmp / "repo"
    _sh(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(repo)], tmp)
    _sh(["git", "checkout", "-q", "-B", "main"], repo)
    _sh([sys.executable, "-m", "dvc", "repro", "--quiet"], repo)
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-q", "--allow-empty", "-m", "main: results"], repo)
    _sh(["git", "checkout", "-q", "-b", "pr"], repo)
    params = repo / "params.yaml"
    text, n = re.subn(r"^    C: 1\.0\b", "    C: 0.1", params.read_text(), count=1, flags=re.M)
    if n != 1:
        raise SystemExit("bench: params.yaml has no `    C: 1.0` to change")
    params.write_text(text)
    _sh(["git", "commit", "-q", "-am", "pr: C tenfold smaller"], repo)
    return repo


def job(repeats: int) -> None:
    shares, jobs, compares = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-pr-") as tmp:
        prepared = _prepare(Path(tmp))
        for i in range(repeats):
            repo = Path(tmp) / f"run{i}"
            shutil.copytree(prepared, repo, symlinks=True)
            start = time.perf_counter()
            out = _sh([sys.executable, "-m", "pipelines.pr", "--base-ref", "main"], repo)
            seconds = time.perf_counter() - start
            found = COMPARED.search(out.stderr)
            if found is None:
                raise SystemExit(f"bench: no same-row comparison in the run:\n"
                                 f"{out.stderr[-3000:]}")
            compare = float(found.group(1))
            jobs.append(seconds)
            compares.append(compare)
            shares.append(compare / (seconds - compare))
            print(f"  run {i + 1}: PR job {seconds:.1f} s, comparison {compare:.1f} s "
                  f"(+{shares[-1] * 100:.0f}%)", flush=True)
    print(f"job (default data): PR job median {statistics.median(jobs):.1f} s, comparison "
          f"median {statistics.median(compares):.1f} s, added median "
          f"{statistics.median(shares) * 100:.0f}% (budget 20%)")


def base(repeats: int) -> None:
    """The merge-base reproduced (no DVC cache: a fork's first run) against one pipeline run."""
    repro_s, compares = [], []
    with tempfile.TemporaryDirectory(prefix="bench-pr-base-") as tmp:
        prepared = _prepare(Path(tmp))
        for i in range(repeats):
            repo = Path(tmp) / f"run{i}"
            shutil.copytree(prepared, repo, symlinks=True)
            shutil.rmtree(repo / ".dvc" / "cache")
            out = _sh([sys.executable, "-m", "pipelines.pr", "--base-ref", "main", "--no-pull"],
                      repo)
            found = COMPARED.search(out.stderr)
            if found is None or "a reproduction of the merge-base" not in out.stderr:
                raise SystemExit(f"bench: the merge-base was not reproduced:\n"
                                 f"{out.stderr[-3000:]}")
            compares.append(float(found.group(1)))
            # one pipeline run of the base from nothing: its outputs and cache removed
            one = Path(tmp) / f"one{i}"
            shutil.copytree(prepared, one, symlinks=True)
            _sh(["git", "checkout", "-q", "main"], one)
            shutil.rmtree(one / ".dvc" / "cache")
            start = time.perf_counter()
            _sh([sys.executable, "-m", "dvc", "repro", "--quiet", "--force"], one)
            repro_s.append(time.perf_counter() - start)
            print(f"  run {i + 1}: comparison with the merge-base reproduced {compares[-1]:.1f} s;"
                  f" one pipeline run {repro_s[-1]:.1f} s", flush=True)
    print(f"base (default data, no DVC cache): comparison with the merge-base reproduced median "
          f"{statistics.median(compares):.1f} s, one pipeline run median "
          f"{statistics.median(repro_s):.1f} s (budget: no more than one run)")


def rows(n: int, repeats: int) -> None:
    import pandas as pd

    from gitops_ml import config, contract
    from gitops_ml.report import same_rows
    from gitops_ml.report.uncertainty import Settings
    from gitops_ml.sources import make_synthetic
    from gitops_ml.stages.train import train

    synthetic = config.SyntheticConfig()
    cfg = config.ModelConfig(estimator="sklearn.linear_model.LogisticRegression",
                             params={"max_iter": 2000})

    def model(seed: int) -> tuple[dict, pd.DataFrame]:
        df = make_synthetic(synthetic.model_copy(update={"rows": 20_000}), "target", seed)
        return train(df, contract.infer(df, "target"), cfg, seed), df

    (base, base_train), (head, head_train) = model(1), model(2)
    fresh = make_synthetic(synthetic.model_copy(update={"rows": n}), "target", 3)
    # some evaluation rows were in a model's training split: they are left out
    rows_ = pd.concat([base_train, fresh.iloc[len(base_train):]], ignore_index=True)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        outcome = same_rows.compare([same_rows.RowSet(same_rows.PR_SPLIT, rows_)], base, head,
                                    [base_train, head_train], positive_class=None,
                                    settings=Settings(seed=i))
        times.append(time.perf_counter() - start)
        [c] = outcome.comparisons
        print(f"  run {i + 1}: {times[-1]:.1f} s on {c.rows:,} rows "
              f"({outcome.left_out[0]:,} left out)", flush=True)
    print(f"rows ({n:,} evaluation rows): median {statistics.median(times):.1f} s "
          f"(budget 60 s)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("job", "base", "rows"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.what == "job":
        job(args.repeats)
    elif args.what == "base":
        base(args.repeats)
    else:
        rows(args.rows, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
