"""Validate the PR workflow's artifact (untrusted: a fork may have made it); render the comment.

    python3 -m pipelines.comment --artifact DIR --pulls pulls.json --head-sha SHA \
        --head-repo OWNER/REPO --template pipelines/pr_comment.md --body body.md

Run by .github/workflows/pr-comment.yml from the base repository's default branch, never from
the pull request. Standard library only: that workflow installs nothing. It validates the JSON
report's shape, caps every size, checks the report is for the commit the run was for, picks the
pull request from the GitHub API's answer (open, head repository and head commit as the
workflow_run event says; not from the artifact), and renders the comment from the validated JSON
with the default branch's template. The artifact's Markdown is never posted: every string from
the artifact lands inside a code span (no links, mentions, HTML or headings), every number is
formatted here, and the verdict line comes from the JSON's verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import string
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCHEMA = "gitops-ml/pr-report/v1"
REPORT_JSON = "pr_report.json"   # as pr.yml puts it in the artifact
MAX_JSON_BYTES = 1024 * 1024
SHA = re.compile(r"^[0-9a-f]{40}$")
VERDICTS = {"pass", "warn", "fail"}
STATES = {"reproduced", "up_to_date", "failed", "not_run"}
GATE_STATUSES = {"pass", "fail", "inconclusive", "skip", "error"}
# How a metric gate judged an interval (gitops_ml.report.gates.RULES); "" for point values.
JUDGED_BY = {"", "shown_worse", "non_inferiority"}
WORDS = {"better", "worse", "no detectable change"}     # gitops_ml.report.comparison.WORDS
MAX_COMPARISONS = 2      # the PR's test split, and the base's when the data changed


class Rejected(Exception):
    """The artifact is not a report this workflow will post."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise Rejected(message)


def _list(data: dict[str, Any], key: str, limit: int) -> list[Any]:
    value = data.get(key)
    _require(isinstance(value, list), f"{key}: expected a list")
    _require(len(value) <= limit, f"{key}: {len(value)} items, more than {limit}")
    _require(all(isinstance(v, dict) for v in value), f"{key}: items must be objects")
    return value


def _str(value: Any, key: str, limit: int = 200) -> None:
    _require(isinstance(value, str) and len(value) <= limit,
             f"{key}: expected a string of at most {limit} characters")


def validate_report(data: Any) -> dict[str, Any]:
    """Check the JSON report's shape and sizes; returns it, or raises `Rejected` naming the key."""
    _require(isinstance(data, dict), "report: expected a JSON object")
    _require(data.get("schema") == SCHEMA, f"schema: expected {SCHEMA!r}")
    _require(data.get("verdict") in VERDICTS, f"verdict: expected one of {sorted(VERDICTS)}")
    for side in ("base", "head"):
        part = data.get(side)
        _require(isinstance(part, dict) and isinstance(part.get("sha"), str)
                 and bool(SHA.match(part["sha"])), f"{side}.sha: expected a 40-hex commit")
    _str(data["base"].get("ref"), "base.ref", 100)
    pipeline = data.get("pipeline")
    _require(isinstance(pipeline, dict) and pipeline.get("state") in STATES,
             f"pipeline.state: expected one of {sorted(STATES)}")
    for m in _list(data, "metrics", 100):
        _str(m.get("name"), "metrics[].name", 100)
        for k in ("base", "head", "abs_delta", "rel_delta"):
            _require(m.get(k) is None or (isinstance(m[k], int | float)
                                          and not isinstance(m[k], bool)),
                     f"metrics[].{k}: expected a number or null")
    for g in _list(data, "gates", 100):
        _require(g.get("status") in GATE_STATUSES, "gates[].status: unknown status")
        _require(isinstance(g.get("blocking"), bool), "gates[].blocking: expected true/false")
        for k in ("gate", "key", "rule", "value", "detail"):
            _str(g.get(k), f"gates[].{k}", 500)
        g.setdefault("judged_by", "")
        _require(g["judged_by"] in JUDGED_BY, f"gates[].judged_by: expected one of "
                                              f"{sorted(JUDGED_BY)}")
    same = data.get("same_rows")
    _require(same is None or isinstance(same, dict), "same_rows: expected an object or null")
    if same is not None:
        _validate_same_rows(same)
    for p in _list(data, "params", 1000):
        _str(p.get("key"), "params[].key", 300)
    _require(isinstance(data.get("first_pr"), bool), "first_pr: expected true/false")
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _interval(value: Any, key: str) -> None:
    _require(isinstance(value, dict) and all(
        value.get(k) is None or _is_number(value.get(k)) for k in ("low", "high")),
        f"{key}: expected {{low, high}} numbers")


def _validate_same_rows(same: dict[str, Any]) -> None:
    for k in ("source", "problem"):
        _require(same.get(k) is None or isinstance(same[k], str) and len(same[k]) <= 500,
                 f"same_rows.{k}: expected a string of at most 500 characters or null")
    skipped = same.get("skipped")
    _require(isinstance(skipped, list) and len(skipped) <= MAX_COMPARISONS and all(
        isinstance(s, str) and len(s) <= 500 for s in skipped),
        "same_rows.skipped: expected a short list of strings")
    own = same.get("own")
    _require(own is None or isinstance(own, dict) and isinstance(own.get("rows"), int)
             and not isinstance(own.get("rows"), bool),
             "same_rows.own: expected an object with an integer rows, or null")
    for c in _list(same, "comparisons", MAX_COMPARISONS):
        _str(c.get("rows_label"), "same_rows.comparisons[].rows_label", 100)
        for k in ("rows", "left_out", "resamples", "seed"):
            _require(isinstance(c.get(k), int) and not isinstance(c.get(k), bool),
                     f"same_rows.comparisons[].{k}: expected an integer")
        _require(_is_number(c.get("confidence")),
                 "same_rows.comparisons[].confidence: expected a number")
        for m in _list(c, "metrics", 30):
            _str(m.get("metric"), "same_rows.comparisons[].metrics[].metric", 60)
            for k in ("base", "head", "delta"):
                _require(m.get(k) is None or _is_number(m.get(k)),
                         f"same_rows.comparisons[].metrics[].{k}: expected a number")
            _interval(m.get("delta_interval"), "same_rows.comparisons[].metrics[].delta_interval")
            _require(m.get("word") in WORDS, "same_rows.comparisons[].metrics[].word: expected "
                                             f"one of {sorted(WORDS)}")
        flips = c.get("flips")
        _require(flips is None or isinstance(flips, dict) and all(
            isinstance(flips.get(k), int) for k in ("rows", "changed", "newly_wrong",
                                                     "newly_right"))
                 and _is_number(flips.get("mcnemar_p")),
                 "same_rows.comparisons[].flips: expected counts and mcnemar_p")
        diffs = c.get("differences")
        _require(diffs is None or isinstance(diffs, dict) and isinstance(diffs.get("changed"), int)
                 and isinstance(diffs.get("quantiles"), dict) and all(
                     _is_number(diffs["quantiles"].get(q)) for q in ("0", "0.05", "0.5",
                                                                      "0.95", "1")),
                 "same_rows.comparisons[].differences: expected counts and quantiles")
        _require(c.get("deciding") is None or isinstance(c["deciding"], str)
                 and len(c["deciding"]) <= 200,
                 "same_rows.comparisons[].deciding: expected a gate key or null")


def _read_capped(path: Path, limit: int) -> bytes:
    _require(path.is_file() and not path.is_symlink(), f"{path.name}: missing or not a file")
    size = path.stat().st_size
    _require(size <= limit, f"{path.name}: {size} bytes, more than {limit}")
    return path.read_bytes()


def load_artifact(folder: Path, head_sha: str) -> dict[str, Any]:
    """The validated JSON report from the downloaded artifact folder (its Markdown is ignored)."""
    raw = _read_capped(folder / REPORT_JSON, MAX_JSON_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(f"pr_report.json: not valid JSON: {exc}") from exc
    validate_report(data)
    _require(data["head"]["sha"] == head_sha,
             f"head.sha: the report is for {data['head']['sha'][:7]}, the run for {head_sha[:7]}")
    return data


def pick_pull_request(pulls: Any, head_sha: str, head_repo: str) -> int | None:
    """The one open pull request whose head is `head_sha` in `head_repo`.

    `pulls` is `GET /repos/{repo}/pulls?state=open&head=OWNER:BRANCH` with the owner and branch
    of the workflow_run event's head_repository/head_branch. Not `commits/{sha}/pulls`: that
    lists nothing for a commit that exists only in a fork, and `workflow_run.pull_requests` is
    empty for forks' pull requests. A head that moved on since (a newer push) matches nothing,
    so a late run never overwrites a newer report."""
    if not isinstance(pulls, list):
        raise Rejected("pulls: expected the API's list of pull requests")
    numbers = sorted({p["number"] for p in pulls
                      if isinstance(p, dict) and p.get("state") == "open"
                      and isinstance(p.get("number"), int)
                      and (p.get("head") or {}).get("sha") == head_sha
                      and ((p.get("head") or {}).get("repo") or {}).get("full_name") == head_repo})
    return numbers[0] if len(numbers) == 1 else None


# ---- rendering: untrusted strings only ever inside code spans ---------------------------------
VERDICT_LINES = {
    "pass": "## ✅ Model check passed",
    "warn": "## ⚠️ Model check passed with warnings",
    "fail": "## ❌ Model check failed",
}
STATUS_MARKS = {"pass": "✅", "fail": "❌", "inconclusive": "❔", "skip": "⏭️", "error": "❌"}
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def code(value: Any, limit: int = 120) -> str:
    """`value` as an inline code span: no Markdown, link, mention or HTML inside it renders.
    Backticks cannot close the span (replaced), pipes cannot split a table cell (escaped)."""
    text = CONTROL.sub(" ", str(value)).replace("`", "\u02cb").strip()
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return f"`{text.replace('|', chr(92) + '|')}`" if text else "–"


def number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:+.4f}" if isinstance(value, float) and abs(value) < 1e6 else f"{value:.6g}"


def _plain(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def blocks_merge(gate: dict[str, Any]) -> bool:
    """A blocking gate that failed or broke, or an inconclusive non-inferiority gate: the rule of
    `gitops_ml.report.gates.GateResult.blocks_merge` (this module imports nothing of the project;
    tests/pr/test_same_rows_report.py holds the two to the same answers)."""
    if not gate["blocking"]:
        return False
    return gate["status"] in ("fail", "error") or (
        gate["status"] == "inconclusive" and gate.get("judged_by") == "non_inferiority")


def _signed(value: Any) -> str:
    return "–" if not _is_number(value) else f"{value:+.4f}"


def same_rows_tables(same: dict[str, Any] | None) -> str:
    """Per set of rows: base, PR, Δ with its interval and one word; flips; the deciding gate."""
    if not same:
        return ""
    if same.get("problem"):
        return f"Not compared on the same rows: {code(same['problem'], 300)}.\n"
    parts = []
    for c in same["comparisons"]:
        level = f"{c['confidence'] * 100:g}%"
        rows = "\n".join(
            f"| {code(m['metric'], 40)} | {_plain(m.get('base'))} | {_plain(m.get('head'))} | "
            f"{_signed(m.get('delta'))} [{_signed(m['delta_interval'].get('low'))}, "
            f"{_signed(m['delta_interval'].get('high'))}] | {m['word']} |" for m in c["metrics"])
        lines = [f"**Both models on {code(c['rows_label'], 60)}**: {c['rows']:,} rows"
                 + (f" ({c['left_out']:,} left out: a model trained on them)"
                    if c["left_out"] else "") + ".", "",
                 f"| metric | base | this PR | Δ ({level} interval) | |", "|---|---|---|---|---|",
                 rows, ""]
        f = c.get("flips")
        if f is not None:
            lines.append(f"Predictions changed on {f['changed']:,} rows: {f['newly_wrong']:,} "
                         f"correct → wrong, {f['newly_right']:,} wrong → correct (McNemar's "
                         f"exact p = {f['mcnemar_p']:.3g}).")
        d = c.get("differences")
        if d is not None:
            q = d["quantiles"]
            lines.append(f"Predictions moved on {d['changed']:,} rows; PR − base: median "
                         f"{_signed(q['0.5'])}, middle 90% [{_signed(q['0.05'])}, "
                         f"{_signed(q['0.95'])}], range [{_signed(q['0'])}, {_signed(q['1'])}].")
        if c.get("deciding"):
            lines.append(f"Decided by {code(c['deciding'], 80)}.")
        parts.append("\n".join(lines))
    if same.get("own") is not None:
        parts.append(f"The floors judge this PR's model alone on all {same['own']['rows']:,} "
                     "rows of its test split (none of them trained it).")
    parts += [f"Not compared: {code(s, 300)}." for s in same["skipped"]]
    if same.get("source"):
        parts.append(f"Base model from {code(same['source'], 200)}.")
    return "\n\n".join(parts) + "\n"


def render(data: dict[str, Any], template: str, run_url: str, head_sha: str) -> str:
    """The comment body, from the validated report and the default branch's template."""
    gates = data["gates"]
    failed = [g for g in gates if g["status"] in ("fail", "error")]
    blocking = [g for g in gates if blocks_merge(g)]
    results = data.get("results") if isinstance(data.get("results"), dict) else {}
    if data["verdict"] == "fail" and blocking:
        why = "blocked by " + ", ".join(code(g["gate"], 60) for g in blocking)
    elif data["verdict"] == "fail" and isinstance(data.get("config_error"), str):
        why = f"the configuration is invalid: {code(data['config_error'], 200)}"
    elif data["verdict"] == "fail" and data["pipeline"]["state"] == "failed":
        why = "the pipeline failed (see the workflow run)"
    elif data["verdict"] == "fail" and results.get("state") == "mismatch":
        why = "the committed results (dvc.lock, reports/) are not what this commit reproduces"
    elif data["verdict"] == "fail":
        why = "the check failed (see the workflow run)"
    elif failed:
        why = "warnings from " + ", ".join(code(g["gate"], 60) for g in failed)
    elif any(g["status"] == "inconclusive" for g in gates):
        why = "no gate blocks; inconclusive (not shown worse): " + ", ".join(
            code(g["gate"], 60) for g in gates if g["status"] == "inconclusive")
    else:
        why = f"all {len(gates)} gates passed"
    gate_rows = "\n".join(
        f"| {code(g['gate'], 60)} | {code(g['rule'], 60)} | {code(g['value'], 40)} | "
        f"{STATUS_MARKS[g['status']]}{'' if g['blocking'] else ' (warning only)'} | "
        f"{code(g['detail'], 200) if g['status'] != 'pass' else ''} |" for g in gates)
    metric_rows = "\n".join(
        f"| {code(m['name'], 60)} | {_plain(m.get('base'))} | {_plain(m.get('head'))} | "
        f"{number(m.get('abs_delta'))} |" for m in data["metrics"])
    params = ", ".join(code(p["key"], 80) for p in data["params"][:30])
    if len(data["params"]) > 30:
        params += f" and {len(data['params']) - 30} more"
    footer = f"Report for `{head_sha[:7]}`"
    if run_url.startswith("https://") or run_url.startswith("http://"):
        footer += f" from [this workflow run]({run_url}) (full report and plots: its summary " \
                  "and the `pr-report` artifact)"
    fields = {
        "verdict_line": VERDICT_LINES[data["verdict"]],
        "why": why,
        "pipeline_state": code(data["pipeline"]["state"], 20),
        "base_ref": code(data["base"]["ref"], 60),
        "base_sha": f"`{data['base']['sha'][:7]}`",
        "gates": gate_rows or "| – | | | | |",
        "metrics": metric_rows or "| – | | | |",
        "same_rows": same_rows_tables(data.get("same_rows")),
        "params": params or "none",
        "footer": footer,
    }
    return string.Template(template).substitute(fields)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m pipelines.comment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", required=True, type=Path, help="downloaded artifact folder")
    parser.add_argument("--pulls", required=True, type=Path,
                        help="JSON from `gh api repos/{repo}/pulls -f head=OWNER:BRANCH`")
    parser.add_argument("--head-sha", required=True, help="the workflow run's head SHA (trusted)")
    parser.add_argument("--head-repo", required=True,
                        help="the workflow run's head repository, OWNER/REPO (trusted)")
    parser.add_argument("--template", required=True, type=Path,
                        help="the comment template, from the default branch")
    parser.add_argument("--run-url", default="", help="link to the run that made the report")
    parser.add_argument("--body", required=True, type=Path, help="where to write the comment")
    args = parser.parse_args(argv)
    output = os.environ.get("GITHUB_OUTPUT")
    try:
        _require(bool(SHA.match(args.head_sha)), "--head-sha: expected a 40-hex commit")
        number_ = pick_pull_request(json.loads(args.pulls.read_text(encoding="utf-8")),
                                    args.head_sha, args.head_repo)
        if number_ is None:
            print(f"comment: no open pull request from {args.head_repo} has head "
                  f"{args.head_sha[:7]} (closed, or pushed again since); nothing to comment on")
            return 0
        data = load_artifact(args.artifact, args.head_sha)
        body = render(data, args.template.read_text(encoding="utf-8"), args.run_url,
                      args.head_sha)
    except (Rejected, json.JSONDecodeError, OSError) as exc:
        print(f"comment: rejected the artifact: {exc}", file=sys.stderr)
        return 1
    args.body.write_text(body, encoding="utf-8")
    if output:
        with open(output, "a", encoding="utf-8") as fh:
            fh.write(f"pr_number={number_}\n")
    print(f"comment: report for {args.head_sha[:7]} ({data['verdict']}) -> pull request "
          f"#{number_}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
