"""Continuous training: fetch the newest batch, check it for drift, and on drift open (or update)
one issue and one retraining pull request.

    uv run python -m pipelines.monitor --source simulate          # try the loop locally
    uv run python -m pipelines.monitor --source logs/             # a folder of prediction logs
    uv run python -m pipelines.monitor --source dvc:data/prod.csv # a DVC-tracked path (dvc pull)
    uv run python -m pipelines.monitor --source url:https://...   # a file served over HTTPS
    uv run python -m pipelines.monitor --source logs/ --labels labels.csv  # + quality check
    python -m pipelines.monitor --source ... --github             # the monitor workflow

With --labels (or MONITOR_LABELS; a path, dvc:PATH or url:https://…, like --source) and
prediction logs as the source, `gitops-ml quality` also runs: labels joined to the logged
predictions by request id, a floor of gates.floors broken in k of the last n windows alarms, and
the alarm takes the same path as drift (the issue, and a retraining pull request whose batch is
the labelled logged rows).

Without --github nothing leaves the machine: the report is written and the exit code says what
happened (0 no drift, 3 drift, 2 bad input). With --github, drift opens or updates the issue
labelled `model-drift` and, when the batch carries labels, force-pushes branch `retrain/drift`
with the batch added under data/batches/ and a refreshed dvc.lock, and opens or updates its pull
request; the run then exits 0, because acting on drift is the job's success.
"""

from __future__ import annotations

import argparse
import contextlib
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
from pipelines import dvc_paths, gitpush

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


def api(method: str, path: str, body: dict | None = None, ok_missing: bool = False) -> object:
    """One GitHub REST call through `gh api` (GH_TOKEN; GH_HOST for GitHub Enterprise).

    REST, not `gh issue`/`gh pr`: those go through GraphQL and pick the repository from the git
    remote; here every call names GITHUB_REPOSITORY and its documented REST endpoint."""
    cmd = ["gh", "api", "--method", method, path, "-H", "Accept: application/vnd.github+json"]
    proc = subprocess.run([*cmd, *(["--input", "-"] if body is not None else [])],
                          input=json.dumps(body) if body is not None else None,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        if ok_missing and "(HTTP 404)" in proc.stderr:
            return None
        message = proc.stderr.strip() or proc.stdout.strip()
        with contextlib.suppress(json.JSONDecodeError, AttributeError):
            message = json.loads(proc.stdout).get("message", message)
        raise RuntimeError(f"GitHub API {method} {path}: {message}")
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def _repo() -> str:
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    if not repo:
        raise UserError("--github: GITHUB_REPOSITORY (OWNER/REPO) is not set")
    return repo


def upsert_issue(report: Path) -> str:
    """Open the drift issue, or update the open one: never a second."""
    repo = _repo()
    # https://docs.github.com/en/rest/issues/labels
    if api("GET", f"repos/{repo}/labels/{LABEL}", ok_missing=True) is None:
        api("POST", f"repos/{repo}/labels", {"name": LABEL, "color": "D93F0B",
                                             "description": "Production data drifted from the "
                                                            "training data"})
    # https://docs.github.com/en/rest/issues/issues#list-repository-issues: pull requests are
    # issues too in this list (they carry a `pull_request` key)
    listed = api("GET", f"repos/{repo}/issues?labels={LABEL}&state=open&per_page=100") or []
    found = [i for i in listed if isinstance(i, dict) and "pull_request" not in i]
    body = report.read_text()
    if found:
        number = found[-1]["number"]    # the oldest open one
        api("PATCH", f"repos/{repo}/issues/{number}", {"body": body})
        api("POST", f"repos/{repo}/issues/{number}/comments",
            {"body": "Drift seen again; report updated."})
        return f"updated issue #{number}"
    issue = api("POST", f"repos/{repo}/issues", {"title": ISSUE_TITLE, "body": body,
                                                 "labels": [LABEL]})
    return f"opened issue #{issue['number']}"


NOT_PERMITTED = "GitHub Actions is not permitted to create or approve pull requests"


def open_retraining_pr(batch: Path, report: Path, base: str, dispatch: bool,
                       batches: Path) -> str:
    """Commit the batch under `batches` with a refreshed dvc.lock on BRANCH; open its PR."""
    repo = _repo()
    dest = batches / f"{dt.date.today().isoformat()}-{batch.stem}{batch.suffix}"
    start = run(["git", "rev-parse", "--abbrev-ref", "HEAD"]).strip()
    run(["git", "switch", "-C", BRANCH])
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(batch, dest)
    run([sys.executable, "-m", "dvc", "repro"])
    run(["git", "add", str(dest), "dvc.lock", "reports"])
    run(["git", "commit", "-m", f"Retrain on drifted batch {dest.name}"])
    cmd, env = gitpush.push_command([f"HEAD:refs/heads/{BRANCH}"], os.environ, force=True)
    run(cmd, env=env)
    run(["git", "switch", start])  # leave the checkout where it was
    title = f"Retrain on drifted batch {dest.name}"
    owner = repo.split("/")[0]
    # https://docs.github.com/en/rest/pulls/pulls#list-pull-requests (head=OWNER:BRANCH)
    found = api("GET", f"repos/{repo}/pulls?head={owner}:{BRANCH}&state=open") or []
    if found:
        number = found[0]["number"]
        api("PATCH", f"repos/{repo}/pulls/{number}", {"title": title, "body": report.read_text()})
        outcome = f"updated pull request #{number}"
    else:
        try:
            pr = api("POST", f"repos/{repo}/pulls", {"title": title, "head": BRANCH, "base": base,
                                                     "body": report.read_text()})
        except RuntimeError as exc:
            if NOT_PERMITTED in str(exc):
                raise RuntimeError(
                    f"branch {BRANCH} is pushed, but the workflow token may not open pull "
                    "requests: give the monitor workflow a GitHub App or RETRAIN_TOKEN, or allow "
                    "it in Settings > Actions > General > \"Allow GitHub Actions to create and "
                    "approve pull requests\" (README.md, \"Monitoring and continuous "
                    "training\")") from exc
            raise
        outcome = f"opened pull request #{pr['number']}"
    if dispatch:  # a PR pushed with GITHUB_TOKEN starts no workflow; ask for the checks by hand
        # https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
        api("POST", f"repos/{repo}/actions/workflows/pr.yml/dispatches",
            {"ref": BRANCH, "inputs": {"base": base}})
        outcome += (" and dispatched its checks (a dispatched run does not count as the pull "
                    "request's required checks: close and reopen the pull request to start them)")
    return outcome


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.monitor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True,
                        help="simulate | PATH (batch or prediction logs) | dvc:PATH | url:https://…")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dvc-yaml", type=Path, default=dvc_paths.DVC_YAML,
                        help="the data and model paths below default to what it declares")
    parser.add_argument("--reference", help="default: dvc.yaml split's --train")
    parser.add_argument("--raw", help="data to simulate a batch from (default: dvc.yaml "
                                      "ingest's --out)")
    parser.add_argument("--contract", help="the features a simulated batch may shift (default: "
                                           "dvc.yaml validate's --contract)")
    parser.add_argument("--batches", help="where a retraining PR adds the batch (default: "
                                          "dvc.yaml ingest's --batches)")
    parser.add_argument("--model", help="the model folder (default: that of dvc.yaml "
                                        "export's --onnx)")
    parser.add_argument("--incoming", default="data/incoming", help="where fetched batches land")
    parser.add_argument("--out-json", default="reports/drift.json")
    parser.add_argument("--out-md", default="reports/drift.md")
    parser.add_argument("--template", default="reports/drift.md.j2")
    parser.add_argument("--seed", type=int, default=dt.date.today().toordinal(),
                        help="seed of the simulated batch (default: today's date)")
    parser.add_argument("--labels", default=os.environ.get("MONITOR_LABELS") or None,
                        help="labels for the logged predictions (PATH | dvc:PATH | "
                             "url:https://…; env MONITOR_LABELS): also run the quality check")
    parser.add_argument("--quality-json", default="reports/quality.json")
    parser.add_argument("--quality-md", default="reports/quality.md")
    parser.add_argument("--github", action="store_true",
                        help="on drift, open or update the issue and the retraining PR (gh)")
    parser.add_argument("--base", default=os.environ.get("GITHUB_BASE_BRANCH", "main"))
    parser.add_argument("--dispatch-checks", action="store_true",
                        default=os.environ.get("MONITOR_DISPATCH_CHECKS") == "true",
                        help="after pushing the PR, start pr.yml by workflow_dispatch (needed "
                             "when the push used GITHUB_TOKEN; env MONITOR_DISPATCH_CHECKS=true)")
    return parser


def quality_check(args: argparse.Namespace, logs: Path, target: str) -> tuple[int, Path | None]:
    """`gitops-ml quality` on the logs; its exit code and the labelled batch it wrote."""
    if not (logs.is_dir() or logs.suffix.lower() == ".jsonl"):
        print("monitor: error: --labels needs --source to be prediction logs (a .jsonl file or "
              "a folder of them), which carry the request ids labels are joined on",
              file=sys.stderr)
        return 2, None
    try:
        labels = fetch(args.labels, Path(args.incoming), raw=Path(args.raw), target=target,
                       seed=args.seed)
    except UserError as exc:
        print(f"monitor: error: --labels: {exc}", file=sys.stderr)
        return 2, None
    batch = Path(args.incoming) / f"labelled-{dt.date.today().isoformat()}.parquet"
    code = cli.main(["quality", "--params", args.params, "--log", str(logs), "--labels",
                     str(labels), "--out-json", args.quality_json, "--out-md", args.quality_md,
                     "--out-batch", str(batch)])
    return code, batch if batch.exists() else None


FROM_DVC_YAML = {"reference": ("split", "--train"), "raw": ("ingest", "--out"),
                 "contract": ("validate", "--contract"), "batches": ("ingest", "--batches")}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        dvc_paths.fill(args, FROM_DVC_YAML, args.dvc_yaml)
        if args.model is None:
            onnx = dvc_paths.path(dvc_paths.load(args.dvc_yaml), "export", "--onnx")
            args.model = str(Path(onnx).parent)
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
    reports = [Path(args.out_md)]
    quality_code, labelled = 0, None
    if args.labels:
        quality_code, labelled = quality_check(args, batch, target)
        reports.append(Path(args.quality_md))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            for report in reports:
                if report.exists():
                    fh.write(report.read_text() + "\n")
    if 2 in (code, quality_code):
        return 2
    alarms = [name for name, c in (("drift", code), ("quality", quality_code))
              if c == DRIFT_EXIT]
    if not alarms or not args.github:
        return DRIFT_EXIT if alarms else 0
    report = "\n".join(r.read_text() for r in reports if r.exists())
    issue_body = reports[0]
    if len(reports) > 1:
        issue_body = Path(args.incoming) / "monitor-report.md"
        issue_body.parent.mkdir(parents=True, exist_ok=True)
        issue_body.write_text(report)
    try:
        print("monitor: " + upsert_issue(issue_body))
    except (RuntimeError, UserError) as exc:
        print(f"monitor: error: {exc}", file=sys.stderr)
        return 1
    if labelled is not None:
        retrain_on = labelled  # the logged rows with their labels: what the model got wrong
    elif batch.is_file() and target in _columns(batch):
        retrain_on = batch
    else:
        print(f"monitor: the batch has no {target!r} column, so there is nothing to retrain on "
              "yet; label it and add it under data/batches/ to retrain")
        return 0
    body = Path(args.incoming) / "pr-body.md"
    body.parent.mkdir(parents=True, exist_ok=True)
    body.write_text(f"This pull request adds the batch behind the {' and '.join(alarms)} alarm, "
                    "so the model retrains on it. Its checks compare the retrained model with "
                    "main.\n\n" + report)
    try:
        print("monitor: " + open_retraining_pr(retrain_on, body, args.base,
                                               args.dispatch_checks, Path(args.batches)))
    except RuntimeError as exc:
        print(f"monitor: error: {exc}", file=sys.stderr)
        return 1
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
