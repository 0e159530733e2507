"""Validate the PR workflow's artifact (untrusted: a fork may have made it); prepare the comment.

    python3 -m pipelines.comment --artifact DIR --pulls pulls.json --head-sha SHA --body body.md

Run by .github/workflows/pr-comment.yml from the base repository's default branch, never from
the pull request. Standard library only: that workflow installs nothing. It validates the JSON
report's shape, caps every size, checks the report is for the commit the run was for, picks the
pull request from the GitHub API's answer (not from the artifact), and writes the comment body.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCHEMA = "gitops-ml/pr-report/v1"
REPORT_JSON, REPORT_MD = "pr_report.json", "pr_report.md"   # as pr.yml puts them in the artifact
MAX_MD_CHARS = 60_000          # the report's own cap; GitHub's comment limit is 65,536
MAX_MD_BYTES = 256 * 1024
MAX_JSON_BYTES = 1024 * 1024
SHA = re.compile(r"^[0-9a-f]{40}$")
VERDICTS = {"pass", "warn", "fail"}
STATES = {"reproduced", "up_to_date", "failed", "not_run"}
GATE_STATUSES = {"pass", "fail", "skip", "error"}


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
    for p in _list(data, "params", 1000):
        _str(p.get("key"), "params[].key", 300)
    _require(isinstance(data.get("first_pr"), bool), "first_pr: expected true/false")
    return data


def _read_capped(path: Path, limit: int) -> bytes:
    _require(path.is_file() and not path.is_symlink(), f"{path.name}: missing or not a file")
    size = path.stat().st_size
    _require(size <= limit, f"{path.name}: {size} bytes, more than {limit}")
    return path.read_bytes()


def load_artifact(folder: Path, head_sha: str) -> tuple[dict[str, Any], str]:
    """The validated report (JSON, Markdown) from the downloaded artifact folder."""
    raw = _read_capped(folder / REPORT_JSON, MAX_JSON_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(f"pr_report.json: not valid JSON: {exc}") from exc
    validate_report(data)
    _require(data["head"]["sha"] == head_sha,
             f"head.sha: the report is for {data['head']['sha'][:7]}, the run for {head_sha[:7]}")
    raw_md = _read_capped(folder / REPORT_MD, MAX_MD_BYTES)
    try:
        text = raw_md.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"pr_report.md: not UTF-8: {exc}") from exc
    _require("\x00" not in text, "pr_report.md: contains NUL bytes")
    _require(len(text) <= MAX_MD_CHARS, f"pr_report.md: {len(text)} characters, more than "
                                        f"{MAX_MD_CHARS}")
    _require(text.startswith("## "), "pr_report.md: does not start with the report's heading")
    return data, text


def pick_pull_request(pulls: Any, head_sha: str) -> int | None:
    """The open pull request whose head is `head_sha`, from `GET /commits/{sha}/pulls`."""
    if not isinstance(pulls, list):
        raise Rejected("pulls: expected the API's list of pull requests")
    numbers = sorted({p["number"] for p in pulls
                      if isinstance(p, dict) and p.get("state") == "open"
                      and isinstance(p.get("number"), int)
                      and (p.get("head") or {}).get("sha") == head_sha})
    return numbers[0] if len(numbers) == 1 else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m pipelines.comment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", required=True, type=Path, help="downloaded artifact folder")
    parser.add_argument("--pulls", required=True, type=Path,
                        help="JSON from `gh api repos/{repo}/commits/{sha}/pulls`")
    parser.add_argument("--head-sha", required=True, help="the workflow run's head SHA (trusted)")
    parser.add_argument("--run-url", default="", help="link to the run that made the report")
    parser.add_argument("--body", required=True, type=Path, help="where to write the comment")
    args = parser.parse_args(argv)
    output = os.environ.get("GITHUB_OUTPUT")
    try:
        _require(bool(SHA.match(args.head_sha)), "--head-sha: expected a 40-hex commit")
        number = pick_pull_request(json.loads(args.pulls.read_text(encoding="utf-8")),
                                   args.head_sha)
        if number is None:
            print(f"comment: no single open pull request has head {args.head_sha[:7]}; "
                  "nothing to comment on")
            return 0
        _data, text = load_artifact(args.artifact, args.head_sha)
    except (Rejected, json.JSONDecodeError, OSError) as exc:
        print(f"comment: rejected the artifact: {exc}", file=sys.stderr)
        return 1
    footer = f"\n\n<sub>Report for `{args.head_sha[:7]}`"
    if args.run_url.startswith("https://"):
        footer += f" from [this workflow run]({args.run_url})"
    args.body.write_text(text.rstrip("\n") + footer + ".</sub>\n", encoding="utf-8")
    if output:
        with open(output, "a", encoding="utf-8") as fh:
            fh.write(f"pr_number={number}\n")
    print(f"comment: report for {args.head_sha[:7]} -> pull request #{number}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
