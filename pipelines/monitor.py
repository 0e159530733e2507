"""Continuous training: fetch the newest batch, check it for drift, and on drift open (or update)
one issue and one retraining pull request.

    uv run python -m pipelines.monitor --source simulate          # try the loop locally
    uv run python -m pipelines.monitor --source logs/             # a folder of prediction logs
    uv run python -m pipelines.monitor --source dvc:data/prod.csv # a DVC-tracked path (dvc pull)
    uv run python -m pipelines.monitor --source url:https://...   # a file served over HTTPS
    python -m pipelines.monitor --source ... --github             # the monitor workflow

Without --github nothing leaves the machine: the report is written and the exit code says what
happened (0 no drift, 3 drift, 2 bad input). With --github, drift opens or updates the issue
labelled `model-drift` and, when the batch carries labels, force-pushes branch `retrain/drift`
with the batch added under data/batches/ and a refreshed dvc.lock, and opens or updates its pull
request; the run then exits 0, because acting on drift is the job's success.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from gitops_ml import cli, contract
from gitops_ml.config import DataConfig, read_params
from gitops_ml.errors import UserError
from gitops_ml.monitor.check import DRIFT_EXIT

LABEL = "model-drift"
BRANCH = "retrain/drift"
ISSUE_TITLE = "Model drift detected"
MAX_DOWNLOAD_BYTES = 512 << 20


def simulate_batch(raw: Path, target: str, dest: Path, seed: int, rows: int = 200,
                   features: Sequence[str] | None = None) -> Path:
    """A labelled batch drawn from the ingested data with one feature shifted, so that a fresh
    fork sees the whole loop work; the shift is half a standard deviation of the first numeric
    model feature (`features`, the contract's, in order: an excluded column such as a row ID
    would not be checked for drift), which the drift check is built to catch. An integer
    feature is shifted by a whole number, so the batch still meets the contract's dtype."""
    import numpy as np
    import pandas as pd

    df = pd.read_parquet(raw)
    sample = df.sample(n=min(rows, len(df)), random_state=seed, replace=len(df) < rows)
    names = list(features) if features is not None else [c for c in df.columns if c != target]
    numeric = [c for c in names if c in df.columns and c != target
               and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    if not numeric:
        raise UserError("--source simulate: the data has no numeric feature to shift")
    col = numeric[0]
    shift: float = float(np.nanstd(df[col])) * 0.5
    if pd.api.types.is_integer_dtype(df[col]):
        shift = max(1, round(shift))
    sample[col] = sample[col] + shift
    dest.parent.mkdir(parents=True, exist_ok=True)
    sample.reset_index(drop=True).to_parquet(dest, index=False)
    print(f"monitor: simulated {len(sample)} rows with {col} shifted by {shift:.3g} -> {dest}")
    return dest


def fetch(source: str, incoming: Path, *, raw: Path, target: str, seed: int,
          features: Sequence[str] | None = None) -> Path:
    """Bring the newest batch to this machine and return its path."""
    stamp = dt.date.today().isoformat()
    if source == "simulate":
        return simulate_batch(raw, target, incoming / f"simulated-{stamp}.parquet", seed,
                              features=features)
    if source.startswith("dvc:"):
        path = Path(source.removeprefix("dvc:"))
        run([sys.executable, "-m", "dvc", "pull", str(path)])
        return path
    if source.startswith("url:"):
        url = source.removeprefix("url:")
        if not url.startswith("https://"):
            raise UserError(f"monitor.source: only https:// URLs are fetched, got {url!r}")
        name = Path(url.split("?")[0]).name or "batch.csv"
        dest = incoming / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 (https checked)
            body = resp.read(MAX_DOWNLOAD_BYTES + 1)
        if len(body) > MAX_DOWNLOAD_BYTES:
            raise UserError(f"monitor.source: {url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
        dest.write_bytes(body)
        return dest
    path = Path(source)
    if not path.exists():
        raise UserError(f"monitor.source: not found: {path}")
    return path


def run(cmd: list[str], **kwargs: object) -> str:
    """Run a command; its failure is this pipeline's failure, with the command's own message."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc.stdout


def upsert_issue(report: Path) -> str:
    """Open the drift issue, or update the open one: never a second."""
    run(["gh", "label", "create", LABEL, "--force", "--color", "D93F0B",
         "--description", "Production data drifted from the training data"])
    found = json.loads(run(["gh", "issue", "list", "--label", LABEL, "--state", "open",
                            "--json", "number", "--limit", "1"]) or "[]")
    if found:
        number = str(found[0]["number"])
        run(["gh", "issue", "edit", number, "--body-file", str(report)])
        run(["gh", "issue", "comment", number, "--body", "Drift seen again; report updated."])
        return f"updated issue #{number}"
    url = run(["gh", "issue", "create", "--title", ISSUE_TITLE, "--label", LABEL,
               "--body-file", str(report)]).strip()
    return f"opened issue {url}"


def open_retraining_pr(batch: Path, report: Path, base: str, dispatch: bool) -> str:
    """Commit the batch under data/batches/ with a refreshed dvc.lock on BRANCH; open its PR."""
    dest = Path("data/batches") / f"{dt.date.today().isoformat()}-{batch.stem}{batch.suffix}"
    start = run(["git", "rev-parse", "--abbrev-ref", "HEAD"]).strip()
    run(["git", "switch", "-C", BRANCH])
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(batch, dest)
    run([sys.executable, "-m", "dvc", "repro"])
    run(["git", "add", str(dest), "dvc.lock", "reports"])
    run(["git", "commit", "-m", f"Retrain on drifted batch {dest.name}"])
    run(["gh", "auth", "setup-git"])  # checkout kept no credentials; push with GH_TOKEN
    run(["git", "push", "--force", "origin", BRANCH])
    run(["git", "switch", start])  # leave the checkout where it was
    title = f"Retrain on drifted batch {dest.name}"
    found = json.loads(run(["gh", "pr", "list", "--head", BRANCH, "--state", "open",
                            "--json", "number", "--limit", "1"]) or "[]")
    if found:
        number = str(found[0]["number"])
        run(["gh", "pr", "edit", number, "--title", title, "--body-file", str(report)])
        outcome = f"updated pull request #{number}"
    else:
        url = run(["gh", "pr", "create", "--base", base, "--head", BRANCH, "--title", title,
                   "--body-file", str(report)]).strip()
        outcome = f"opened pull request {url}"
    if dispatch:  # a PR pushed with GITHUB_TOKEN starts no workflow; ask for the checks by hand
        run(["gh", "workflow", "run", "pr.yml", "--ref", BRANCH])
        outcome += " and dispatched its checks"
    return outcome


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.monitor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True,
                        help="simulate | PATH (batch or prediction logs) | dvc:PATH | url:https://…")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--reference", default="data/train.parquet")
    parser.add_argument("--raw", default="data/raw.parquet", help="data to simulate a batch from")
    parser.add_argument("--contract", default="contract.yaml",
                        help="the features a simulated batch may shift")
    parser.add_argument("--model", default="models")
    parser.add_argument("--incoming", default="data/incoming", help="where fetched batches land")
    parser.add_argument("--out-json", default="reports/drift.json")
    parser.add_argument("--out-md", default="reports/drift.md")
    parser.add_argument("--template", default="reports/drift.md.j2")
    parser.add_argument("--seed", type=int, default=dt.date.today().toordinal(),
                        help="seed of the simulated batch (default: today's date)")
    parser.add_argument("--github", action="store_true",
                        help="on drift, open or update the issue and the retraining PR (gh)")
    parser.add_argument("--base", default=os.environ.get("GITHUB_BASE_BRANCH", "main"))
    parser.add_argument("--dispatch-checks", action="store_true",
                        default=os.environ.get("MONITOR_DISPATCH_CHECKS") == "true",
                        help="after pushing the PR, start pr.yml by workflow_dispatch (needed "
                             "when the push used GITHUB_TOKEN; env MONITOR_DISPATCH_CHECKS=true)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        target = DataConfig.from_params(read_params(args.params)).target
        features = None
        if args.source == "simulate":
            features = [c.name for c in contract.load(args.contract).features]
        batch = fetch(args.source, Path(args.incoming), raw=Path(args.raw), target=target,
                      seed=args.seed, features=features)
    except UserError as exc:
        print(f"monitor: error: {exc}", file=sys.stderr)
        return 2
    code = cli.main(["drift", "--params", args.params, "--reference", args.reference,
                     "--current", str(batch), "--model", args.model, "--out-json",
                     args.out_json, "--out-md", args.out_md, "--template", args.template])
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and Path(args.out_md).exists():
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(Path(args.out_md).read_text() + "\n")
    if code != DRIFT_EXIT or not args.github:
        return code
    print("monitor: " + upsert_issue(Path(args.out_md)))
    labelled = batch.is_file() and target in _columns(batch)
    if not labelled:
        print(f"monitor: the batch has no {target!r} column, so there is nothing to retrain on "
              "yet; label it and add it under data/batches/ to retrain")
        return 0
    report = Path(args.out_md).read_text()
    body = Path(args.incoming) / "pr-body.md"
    body.parent.mkdir(parents=True, exist_ok=True)
    body.write_text("This pull request adds the batch that drifted, so the model retrains on it."
                    " Its checks compare the retrained model with main.\n\n" + report)
    print("monitor: " + open_retraining_pr(batch, body, args.base, args.dispatch_checks))
    return 0


def _columns(path: Path) -> list[str]:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8") as fh:
            return fh.readline().strip().split(",")
    return []


if __name__ == "__main__":
    raise SystemExit(main())
