"""The pull-request pipeline: reproduce, compare with the merge-base, gate, write the report.

The comparison scores the merge-base's model and this PR's on the same rows (the PR's test
split; the base's too when the data changed), leaving out rows either model trained on
(`gitops_ml.report.same_rows`), with a paired bootstrap interval for every metric and
difference; the metric gates judge those intervals. The base model comes from the DVC cache,
the remote or a reproduction of the merge-base (`pipelines.base_model`); the report says which.

    uv run python -m pipelines.pr            # the same command CI runs (.github/workflows/pr.yml)

Exit status: 0 when the change may merge (gates passed or only warned), 1 when a blocking gate
failed, a stage failed or the committed results are not what the commit reproduces (`results:`
in params.yaml), 2 on bad input (config, refs). The report is written before exiting.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from gitops_ml.config import read_params
from gitops_ml.errors import UserError
from gitops_ml.io import atomic_path, write_json
from gitops_ml.report import (
    baseline,
    commits,
    consistency,
    data_change,
    diff,
    gates,
    render,
    rules,
)
from gitops_ml.report.same_rows import Outcome
from pipelines import base_model, dvc_paths, remote, repro

# Each result path as dvc.yaml declares it: (stage, the flag its command passes the path as).
FROM_DVC_YAML = {
    "metrics": ("evaluate", "--metrics"),
    "plots": ("evaluate", "--plots"),
    "slices": ("evaluate", "--slices"),
    "importance": ("evaluate", "--importance"),
    "data_validation": ("validate", "--report"),
    "onnx_parity": ("export", "--parity"),
    "contract": ("validate", "--contract"),
    "data": ("validate", "--data"),            # the table the contract validates
    "data_summary": ("ingest", "--summary"),
    "model_tests": ("model_tests", "--report"),
    "fairness": ("model_tests", "--fairness"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.pr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-ref", action="append", metavar="REF",
                        help="branch to compare with; repeat for fallbacks "
                             "(default: origin/main, then main)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--template", default="reports/pr_report.md.j2")
    parser.add_argument("--out-md", default="reports/pr_report.md")
    parser.add_argument("--out-json", default="reports/pr_report.json")
    parser.add_argument("--plots-html", metavar="DIR",
                        help="also write `dvc plots diff` against the baseline as HTML here")
    parser.add_argument("--no-repro", action="store_true",
                        help="do not run DVC; report on the results already in the workspace")
    parser.add_argument("--no-pull", action="store_true",
                        help="never use the DVC remote: reproduce every stage that is stale or "
                             "whose outputs are missing (what a fork's pull request does)")
    parser.add_argument("--artifact", default="pr-report",
                        help="name of the CI artifact the report points to")
    results = parser.add_argument_group(
        "results (default: the paths dvc.yaml's stages pass, e.g. evaluate's --metrics)")
    results.add_argument("--dvc-yaml", type=Path, default=dvc_paths.DVC_YAML,
                         help="where the defaults below are read")
    for dest, (stage, flag) in FROM_DVC_YAML.items():
        results.add_argument(f"--{dest.replace('_', '-')}",
                             help=f"default: dvc.yaml stage {stage}'s {flag}")
    results.add_argument("--lock", default="dvc.lock")
    return parser


def _validation_by_base_contract(args: argparse.Namespace, root: Path, base_sha: str,
                                 change: rules.RulesChange) -> dict | None:
    """When the PR changes the contract, its data judged by the base branch's contract."""
    if args.contract not in change.files or not (root / args.data).is_file():
        return None
    old = rules.base_contract(base_sha, args.contract, root)
    if old is None:
        return None
    import pandas as pd

    from gitops_ml import contract

    report = contract.validate(pd.read_parquet(root / args.data), old)
    report["contract"] = "base"   # the gate says whose contract judged the data
    return report


def _remote(args: argparse.Namespace, root: Path) -> remote.Decision:
    if args.no_pull:
        return remote.Decision(False, "--no-pull: the DVC remote is not used")
    try:
        return remote.decision(root / args.params, root, os.environ)
    except UserError as exc:
        return remote.Decision(False, f"DVC remote not used: {exc}")


def _pipeline(args: argparse.Namespace, root: Path,
              base_lock: str | None) -> tuple[render.Pipeline, tuple[str, ...]]:
    """Run what is stale; returns how it went and the stages stale against the committed lock."""
    unchanged = baseline.lock_inputs(base_lock) == baseline.lock_inputs(
        (root / args.lock).read_text() if (root / args.lock).is_file() else None)
    if args.no_repro:
        return render.Pipeline("not_run", inputs_unchanged=unchanged), ()
    start = time.monotonic()
    where = None
    try:
        # `dvc add`-tracked data first (the fingerprint reads it), then the data fingerprint, so
        # a changed data file shows as a stale ingest.
        if repro.missing_tracked_data(root):
            where = _remote(args, root)
            repro.materialise_tracked_data(root, where.pull, where.reason)
        always = repro.always_changed(repro.status(root))
        repro.refresh(root, always)
        stale = repro.stale_stages(repro.status(root))
    except RuntimeError as exc:   # e.g. a dvc.yaml DVC cannot read: report it like a failed stage
        return render.Pipeline("failed", error_tail=repro.error_tail(str(exc)),
                               seconds=time.monotonic() - start), ()
    if not stale:
        print("pr: DVC reports every stage up to date; nothing to reproduce", file=sys.stderr)
        return render.Pipeline("up_to_date", inputs_unchanged=unchanged,
                               seconds=time.monotonic() - start), ()
    where = where or _remote(args, root)
    print(f"pr: {'pull from' if where.pull else 'no'} DVC remote: {where.reason}",
          file=sys.stderr)
    outcome = repro.repro(root, pull=where.pull)
    # DVC runs the fingerprint every time; it is not a reproduced result, so it is not listed.
    outcome = replace(outcome, stages_run=tuple(s for s in outcome.stages_run if s not in always))
    if not outcome.ok:
        return render.Pipeline("failed", outcome.stages_run, outcome.failed_stage,
                               outcome.error_tail, seconds=time.monotonic() - start,
                               pulled=where.pull, remote=where.reason), stale
    unchanged = baseline.lock_inputs(base_lock) == baseline.lock_inputs(
        (root / args.lock).read_text())
    return render.Pipeline("reproduced", outcome.stages_run, inputs_unchanged=unchanged,
                           seconds=time.monotonic() - start, stages_cached=outcome.stages_cached,
                           pulled=where.pull, remote=where.reason), stale


def _changed_files(root: Path) -> list[str]:
    """Git-tracked (or trackable) files that differ from HEAD: what a reproduction changed."""
    out = commits.git(["status", "--porcelain", "-z", "--untracked-files=normal"], root)
    entries = [e for e in out.stdout.split("\0") if e]
    return sorted(e[3:] for e in entries if len(e) > 3)


def _results(args: argparse.Namespace, root: Path, cfg: consistency.ResultsConfig,
             pipeline: render.Pipeline, stale: tuple[str, ...], head_sha: str,
             reproduced: dict | None) -> consistency.Consistency:
    if pipeline.state == "not_run":
        return consistency.not_checked("--no-repro: nothing was reproduced to compare with", cfg)
    if pipeline.state == "failed":
        return consistency.not_checked("the pipeline failed", cfg)
    committed = baseline.results_at(head_sha, baseline.ResultPaths(
        args.metrics, args.params, args.plots, args.slices, args.importance,
        args.data_validation, args.onnx_parity, args.lock, args.model_tests, args.fairness),
        root).metrics
    changed = _changed_files(root) if pipeline.state == "reproduced" else []
    return consistency.check(cfg, stale, committed, reproduced, changed, args.lock)


def _same_rows(args: argparse.Namespace, root: Path, base_sha: str, cfg: gates.GatesConfig,
               seed: int, positive_class: object, *, rebuild: bool) -> Outcome:
    """Both models on the PR's test split (and the base's, when the data changed).

    `rebuild`: reproduce a model no cache has. Not when the PR changes no input of the model
    (dvc.lock's): both sides are then main's model, compared only if it is at hand.
    """
    import tempfile

    import joblib

    from gitops_ml.io import read_table
    from gitops_ml.report import same_rows
    from gitops_ml.report.uncertainty import Settings

    start = time.monotonic()
    try:
        cache = base_model.cache_dir(root)
        paths = base_model.needed_paths((root / args.dvc_yaml).read_text(), str(args.dvc_yaml))
        pull = _remote(args, root).pull
        with tempfile.TemporaryDirectory(prefix="gitops-ml-base-model-") as tmp:
            lock = baseline._read(root / args.lock)
            if rebuild:
                head = base_model.of_head(root, paths, lock, cache, Path(tmp) / "head",
                                          pull=pull)
            else:
                head = base_model.in_workspace(root, paths, lock, cache, Path(tmp) / "head")
                if head is None:
                    return Outcome(problem="this pull request changes no input of the model, "
                                           "so both sides are main's model, which this "
                                           "checkout does not have (not rebuilt to compare)")
            base = base_model.of_base(base_sha, root, Path(tmp) / "base", cache=cache,
                                      pull=pull)
            # Both are pickles this job's pipeline (or the base branch's) wrote, never the
            # serving path's input (SECURITY.md).
            base_bundle, head_bundle = joblib.load(base.model), joblib.load(head.model)
            # The same training split (same bytes): the test split is disjoint from it by
            # construction, and nothing is left out; a moved split is matched by content.
            trained_on = [] if base_model.same_file(base.train, head.train) else [
                read_table(base.train, key="base train split"),
                read_table(head.train, key="train split")]
            sets = [same_rows.RowSet(same_rows.PR_SPLIT, read_table(head.test, key="test split"))]
            if base.data_md5 != head.data_md5:
                sets.append(same_rows.RowSet(same_rows.BASE_SPLIT,
                                             read_table(base.test, key="base test split")))
    except UserError as exc:
        return Outcome(problem=str(exc))
    outcome = same_rows.compare(
        sets, base_bundle, head_bundle, trained_on, positive_class=positive_class,
        settings=Settings(seed, cfg.bootstrap, cfg.confidence), source=base.source)
    print(f"pr: compared both models on the same rows in {time.monotonic() - start:.1f} s "
          f"(base model from {base.source})", file=sys.stderr)
    return outcome


def run(args: argparse.Namespace, root: Path) -> tuple[render.ReportInputs, str]:
    """Everything but writing: returns the report inputs and the template text."""
    start = time.monotonic()
    paths = baseline.ResultPaths(args.metrics, args.params, args.plots, args.slices,
                                 args.importance, args.data_validation, args.onnx_parity,
                                 args.lock, args.model_tests, args.fairness)
    template_path = root / args.template
    if not template_path.is_file():
        raise UserError(f"--template: file not found: {template_path}")
    head_sha = commits.rev_parse("HEAD", root)
    if head_sha is None:
        raise UserError("HEAD: not a git checkout with at least one commit")
    base_ref, base_tip = commits.resolve_base(args.base_ref or ["origin/main", "main"], root)
    base_sha = commits.merge_base(head_sha, base_tip, root)

    config_error = None
    cfg, results_cfg = gates.GatesConfig(), consistency.ResultsConfig()
    # The gates that judge a pull request are the base branch's (rules.py); a PR changing them
    # is judged by the old ones, and its report shows the change for a code owner to approve.
    change = rules.changes(base_sha, head_sha, root, args.params, args.contract)
    at_base_params = rules.base_params(base_sha, args.params, root)
    try:
        settings = read_params(root / args.params)
        cfg = gates.GatesConfig.from_params(settings)   # the PR's own must be valid too
        if at_base_params and "gates" in at_base_params:
            cfg = gates.GatesConfig.from_params(at_base_params)
        results_cfg = consistency.ResultsConfig.from_params(settings)
    except UserError as exc:
        config_error = str(exc)   # still reported on the pull request, where it is seen

    pipeline, stale = (render.Pipeline("not_run"), ()) if config_error else \
        _pipeline(args, root, commits.show(base_sha, args.lock, root))
    at_base = baseline.results_at(base_sha, paths, root)
    base = at_base if at_base.metrics is not None else None   # first pull request
    head = baseline.results_in_worktree(paths, root)
    metrics, gate_results, same = [], [], None
    if pipeline.state != "failed" and config_error is None:
        if head.metrics is None:
            raise UserError(f"--metrics: {args.metrics} is missing after the pipeline ran")
        metrics = diff.metric_deltas(base.metrics if base else None, head.metrics)
        validation = _validation_by_base_contract(args, root, base_sha, change)
        if base is not None:
            evaluate = settings.get("evaluate") or {}
            same = _same_rows(args, root, base_sha, cfg, int(at_base.params.get("seed", 0)),
                              evaluate.get("positive_class"),
                              rebuild=not pipeline.inputs_unchanged)
        gated = same.gated if same is not None else None
        gate_results = gates.evaluate(
            cfg, head_metrics=head.metrics, base_metrics=base.metrics if base else None,
            onnx_parity=head.onnx_parity,
            data_validation=head.data_validation if validation is None else validation,
            slices=head.slices, model_tests=head.model_tests, fairness=head.fairness,
            estimates=None if gated is None else {m.estimate.metric: m.estimate
                                                   for m in gated.metrics},
            floor_estimates=None if gated is None else same.floor_estimates)
        if gated is not None:
            same = replace(same, comparisons=(gated.with_gates(gate_results),
                                              *same.comparisons[1:]))
    params = diff.params_diff(at_base.params, head.params)
    results = None if config_error else _results(args, root, results_cfg, pipeline, stale,
                                                  head_sha, head.metrics)
    where = f"{base_sha[:7]}:{args.data_summary}"
    data = data_change.compare(baseline._json(commits.show(base_sha, args.data_summary, root),
                                              where),
                               baseline._json(baseline._read(root / args.data_summary),
                                              args.data_summary))
    inputs = render.ReportInputs(
        base_ref=base_ref.removeprefix("origin/"), base_sha=base_sha, head_sha=head_sha,
        pipeline=pipeline, head=head, base=base, metrics=metrics, params=params,
        gates=gate_results, config_error=config_error, results=results,
        wall_seconds=time.monotonic() - start, artifact=args.artifact, rules=change,
        data_change=data, same_rows=same)
    return inputs, template_path.read_text(encoding="utf-8")


def _write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = Path.cwd()
    out_md, out_json = root / args.out_md, root / args.out_json
    # A stale report from an earlier run must never pass for this run's.
    for stale in (out_md, out_json):
        stale.unlink(missing_ok=True)
    try:
        dvc_paths.fill(args, FROM_DVC_YAML, root / args.dvc_yaml)
        inputs, template = run(args, root)
    except UserError as exc:
        print(f"pr: {exc}", file=sys.stderr)
        return 2
    text = render.render_markdown(template, inputs)
    data = render.summary(inputs)
    data["chars"] = len(text)
    write_json(data, out_json)
    _write_text(text, out_md)
    if args.plots_html and inputs.pipeline.state != "failed":
        problem = repro.plots_diff(inputs.base_sha, root / args.plots_html, root)
        if problem:
            print(f"pr: dvc plots diff failed (report unaffected): {problem}", file=sys.stderr)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(f"pr: {data['verdict']} ({len(text):,} chars) -> {args.out_md}, {args.out_json}",
          file=sys.stderr)
    if inputs.config_error:
        return 2
    return 1 if data["verdict"] == "fail" else 0


if __name__ == "__main__":
    sys.exit(main())
