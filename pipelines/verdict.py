"""The required check's verdict, judged by the default branch's code and rules, not the PR's.

    uv run python -m pipelines.verdict --artifact DIR --head-sha SHA --run-conclusion success \\
        [--params params.yaml] [--base-metrics PATH (default: dvc.yaml evaluate's --metrics)]

A pull request runs its own pr.yml and pipelines/, so the PR job's success says only what the
pull request's code says. .github/workflows/pr-comment.yml (workflow_run: the default branch's
workflow file and this checkout's code) runs this on the report JSON that job uploaded and posts
the result as commit status `gitops-ml / model gates` on the head commit; the `main` ruleset
requires that status, not the PR job. The report is untrusted data (a PR may have changed the
code that wrote it), so nothing it says can make the verdict better than these rules do:

- it must be a valid report (pipelines.comment's schema and size checks) for the run's head
  commit: a report for another commit is refused;
- floors and regression limits are the default branch's `gates:` (params.yaml here), each by its
  rule (`shown_worse`, `non_inferiority`), applied to the intervals of the report's same-row
  comparison on the PR's test split when the report has one at the default branch's
  `gates.confidence` and `gates.bootstrap`, else to the report's head metrics against the
  default branch's committed metrics (the ruleset's strict status-check policy keeps a mergeable
  PR up to date with that branch);
- every other gate the default branch configures must appear in the report with a passing (or
  skipped) result; a missing one fails;
- a failed pipeline, a results mismatch, a config error, the report's own `fail` or a PR run
  that did not succeed fails.

Outputs (also appended to $GITHUB_OUTPUT): state (success|failure|error) and description (at
most 140 characters, GitHub's limit for a status; only text from this code and these rules).
Exit 0 when judged (whatever the state), 1 when the report was refused (state error).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_ml.config import parse_yaml
from gitops_ml.errors import UserError
from gitops_ml.report import gates
from gitops_ml.report.same_rows import PR_SPLIT
from gitops_ml.report.uncertainty import Estimate, Interval
from pipelines import dvc_paths
from pipelines.comment import SHA, Rejected, load_artifact
from pipelines.register import github_output

CONTEXT = "gitops-ml / model gates"
MAX_DESCRIPTION = 140    # https://docs.github.com/en/rest/commits/statuses#create-a-commit-status
BAD = ("fail", "error")


@dataclass(frozen=True)
class Verdict:
    state: str           # success | failure | error, as the commit status API takes it
    description: str

    def outputs(self) -> dict[str, str]:
        text = self.description
        if len(text) > MAX_DESCRIPTION:
            text = text[:MAX_DESCRIPTION - 1] + "…"
        return {"state": self.state, "description": text}


def _numbers(metrics: list[dict[str, Any]], side: str) -> dict[str, float]:
    return {m["name"]: m[side] for m in metrics
            if isinstance(m.get(side), int | float) and not isinstance(m.get(side), bool)}


def _configured_elsewhere(cfg: gates.GatesConfig) -> list[tuple[str, str]]:
    """(report key, gate group) of each configured gate the report's numbers cannot re-judge."""
    keys = [("gates.onnx_parity", "onnx_parity")] if cfg.onnx_parity else []
    keys += [("gates.data_contract", "data_contract")] if cfg.data_contract else []
    keys += [("gates.max_slice_gap", "max_slice_gap")] if cfg.max_slice_gap else []
    keys += [("gates.model_tests", "model_tests")] if cfg.model_tests else []
    keys += [("gates.max_flip_rate", "max_flip_rate")] if cfg.max_flip_rate is not None else []
    keys += [(f"gates.fairness[{limit.index}]", "fairness") for limit in cfg.fairness]
    return keys


def _bounds(value: Any) -> Interval | None:
    if not isinstance(value, dict):
        return None
    low, high = value.get("low"), value.get("high")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        return None
    return Interval(float(low), float(high)) if low <= high else None


def estimates(report: dict[str, Any], cfg: gates.GatesConfig) -> dict[str, Estimate] | None:
    """The report's intervals on the PR's test split, when they were computed as these rules
    ask (confidence, resamples) and hang together (Δ = PR - base, low <= high); else None."""
    same = report.get("same_rows")
    comparisons = same.get("comparisons") if isinstance(same, dict) else None
    return _estimates(comparisons[0] if isinstance(comparisons, list) and comparisons else None,
                      cfg)


def floor_estimates(report: dict[str, Any], cfg: gates.GatesConfig,
                    ) -> dict[str, Estimate] | None:
    """What the floors judge: the PR's model alone on its whole test split when the report has
    it (rows were left out of the paired comparison), else the paired comparison's."""
    same = report.get("same_rows")
    own = same.get("own") if isinstance(same, dict) else None
    return estimates(report, cfg) if own is None else _estimates(own, cfg)


def _estimates(first: Any, cfg: gates.GatesConfig) -> dict[str, Estimate] | None:
    if not isinstance(first, dict) or first.get("rows_label") != PR_SPLIT \
            or first.get("confidence") != cfg.confidence \
            or first.get("resamples") != cfg.bootstrap:
        return None
    out = {}
    for m in first.get("metrics") or []:
        base, head = m.get("base"), m.get("head")
        intervals = [_bounds(m.get(k)) for k in ("base_interval", "head_interval",
                                                  "delta_interval")]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (base, head)) \
                or None in intervals or not isinstance(m.get("metric"), str):
            return None
        out[m["metric"]] = Estimate(m["metric"], float(base), float(head), *intervals)
    return out or None


def judge(report: dict[str, Any], cfg: gates.GatesConfig, base_metrics: dict[str, Any] | None,
          run_conclusion: str) -> Verdict:
    """The verdict on a validated report under the trusted gates; never better than the report's."""
    reasons: list[str] = []
    if run_conclusion != "success":
        reasons.append(f"the PR run's conclusion is {run_conclusion!r}"[:60])
    if report["pipeline"]["state"] == "failed":
        reasons.append("the pipeline failed")
    results = report.get("results")
    if isinstance(results, dict) and results.get("state") == "mismatch":
        reasons.append("committed results are not what the commit reproduces")
    if report.get("config_error"):
        reasons.append("the configuration is invalid")
    numeric = gates.GatesConfig(floors=cfg.floors, max_regression=cfg.max_regression,
                                warn_only=cfg.warn_only, confidence=cfg.confidence,
                                bootstrap=cfg.bootstrap)
    for result in gates.evaluate(numeric, head_metrics=_numbers(report["metrics"], "head"),
                                 base_metrics=base_metrics, onnx_parity=None,
                                 data_validation=None, slices=None,
                                 estimates=estimates(report, cfg),
                                 floor_estimates=floor_estimates(report, cfg)):
        if result.blocks_merge:
            reasons.append(f"{result.key} {'is ' if result.status == 'inconclusive' else ''}"
                           f"{result.status}{'' if result.status == 'inconclusive' else 's'}")
    reported: dict[str, list[str]] = {}
    for gate in report["gates"]:
        reported.setdefault(gate["key"], []).append(gate["status"])
    for key, group in _configured_elsewhere(cfg):
        if group in cfg.warn_only:
            continue
        statuses = reported.get(key)
        if not statuses:
            reasons.append(f"{key} missing from the report")
        elif any(status in BAD for status in statuses):   # a duplicate cannot mask a failure
            reasons.append(f"{key} fails")
    if report["verdict"] == "fail" and not reasons:
        reasons.append("the report's verdict is fail")
    if reasons:
        return Verdict("failure", "Failed: " + "; ".join(reasons))
    return Verdict("success", f"Passed the default branch's gates ({len(numeric.floors)} floors, "
                              f"{len(numeric.max_regression)} regression limits, "
                              f"{len(_configured_elsewhere(cfg))} other gates)")


def load_gates(params: Path) -> gates.GatesConfig:
    """The default branch's `gates:`; a broken file is a UserError naming it."""
    try:
        raw = parse_yaml(params.read_text()) or {}
    except FileNotFoundError:
        raise UserError(f"--params: {params} not found") from None
    except yaml.YAMLError as exc:
        raise UserError(f"--params: {params} is not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise UserError(f"--params: {params} must be a mapping")
    return gates.GatesConfig.from_params(raw)


def load_base_metrics(path: Path) -> dict[str, Any] | None:
    """The default branch's committed metrics; None when it has none yet (a first pull request)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise UserError(f"--base-metrics: {path} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"--base-metrics: {path} must be a JSON object of metrics")
    return data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.verdict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", required=True, type=Path, help="downloaded artifact folder")
    parser.add_argument("--head-sha", required=True, help="the workflow run's head SHA (trusted)")
    parser.add_argument("--run-conclusion", required=True,
                        help="the PR workflow run's conclusion (trusted: from the event)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"),
                        help="the default branch's params.yaml (its `gates:`)")
    parser.add_argument("--base-metrics", type=Path,
                        help="the default branch's committed metrics, the regression baseline "
                             "(default: dvc.yaml evaluate's --metrics)")
    parser.add_argument("--dvc-yaml", type=Path, default=dvc_paths.DVC_YAML)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not SHA.match(args.head_sha):
            raise Rejected("--head-sha: expected a 40-hex commit")
        cfg = load_gates(args.params)
        dvc_paths.fill(args, {"base_metrics": ("evaluate", "--metrics")}, args.dvc_yaml)
        base = load_base_metrics(Path(args.base_metrics))
        report = load_artifact(args.artifact, args.head_sha)
    except UserError as exc:
        print(f"verdict: error: {exc}", file=sys.stderr)
        github_output(Verdict("error", "The default branch's rules could not be read").outputs())
        return 1
    except (Rejected, OSError) as exc:
        print(f"verdict: refused the report: {exc}", file=sys.stderr)
        github_output(Verdict("error", "Refused the PR report (see the run's log)").outputs())
        return 1
    github_output(judge(report, cfg, base, args.run_conclusion).outputs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
