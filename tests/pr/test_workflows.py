"""The workflows' `run:` steps, executed in order in a test repo, with GitHub's tools stubbed.

`uses:` steps are emulated by what they provide (a checkout is the test repo, setup-uv puts `uv`
on PATH, setup-cml puts `cml` there, artifacts are folders), so the YAML and the local pipeline
cannot drift apart: a renamed flag or a missing file fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prtools import PROJECT, branch, commit, remove_dvc_outputs, set_param, sh

WORKFLOWS = PROJECT / ".github" / "workflows"
REPORT_STEP = "Reproduce, check the committed results, compare with the base branch, gate"
OWNER_REPO = "octo/gitops-ml"

STUBS = {
    # setup-uv: `uv sync` is recorded (the test venv is already synced), `uv run` runs the command
    "uv": """#!/usr/bin/env bash
echo "uv $*" >> "$STUB_LOG"
case "$1" in
  sync) exit 0 ;;
  run) shift; while [[ "$1" == --* ]]; do shift; done; exec "$@" ;;
esac
echo "uv stub: unsupported $1" >&2; exit 64
""",
    # gh: the commits/{sha}/pulls API answers with one open pull request (or none)
    "gh": """#!/usr/bin/env bash
echo "gh $*" >> "$STUB_LOG"
if [[ "$1" == api && "$2" == repos/*/commits/*/pulls ]]; then
  sha="${2#repos/*/commits/}"; sha="${sha%/pulls}"
  if [[ -n "$STUB_PR_NUMBER" ]]; then
    printf '[{"number": %s, "state": "open", "head": {"sha": "%s"}}]\\n' "$STUB_PR_NUMBER" "$sha"
  else
    echo "[]"
  fi
  exit 0
fi
echo "gh stub: unsupported $*" >&2; exit 64
""",
    # cml: records its arguments and keeps a copy of the body it would post
    "cml": """#!/usr/bin/env bash
echo "cml $*" >> "$STUB_LOG"
cp "${@: -1}" "$STUB_DIR/cml_body.md"
""",
    # the comment workflow runs the runner's python3 with nothing installed: -S proves it
    "python3": f"""#!/usr/bin/env bash
exec {sys.executable} -S "$@"
""",
}


@dataclass
class Run:
    """What happened when a job's steps were executed."""

    steps: list[tuple[str, str]] = field(default_factory=list)   # (name, outcome)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    uploads: list[Path] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)


class Emulator:
    """Run one job of a workflow the way a GitHub runner would, as far as this project needs."""

    def __init__(self, repo: Path, tmp: Path, context: dict[str, Any],
                 emulate: dict[str, Callable[[dict[str, str]], None]] | None = None) -> None:
        self.repo, self.context = repo, context
        self.stub_dir = tmp / "stubs"
        self.bin = tmp / "bin"              # tools appear here as the `uses:` steps install them
        self.bin.mkdir(parents=True)
        self.stub_dir.mkdir()
        self.runner_temp = tmp / "runner-temp"
        self.runner_temp.mkdir()
        self.log = self.stub_dir / "calls.log"
        self.log.touch()
        self.summary = tmp / "step-summary.md"
        self.emulate = emulate or {}
        self.failed = False

    def install(self, *tools: str) -> None:
        for tool in tools:
            path = self.bin / tool
            path.write_text(STUBS[tool])
            path.chmod(0o755)

    def _lookup(self, dotted: str, run: Run) -> Any:
        parts = dotted.split(".")
        if parts[0] == "steps":
            return run.outputs.get(parts[1], {}).get(parts[3], "")
        node: Any = self.context
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                raise AssertionError(f"workflow uses ${{{{ {dotted} }}}}, unknown to the test")
            node = node[part]
        return node

    def evaluate(self, expr: str, run: Run) -> Any:
        expr = expr.strip()
        if expr.startswith("${{") and expr.endswith("}}"):
            expr = expr[3:-2].strip()
        py = re.sub(r"'([^']*)'", lambda m: repr(m.group(1)), expr)
        py = py.replace("&&", " and ").replace("||", " or ")
        py = re.sub(r"!(?!=)", " not ", py)
        py = re.sub(r"\bcancelled\(\)", "False", py)
        py = re.sub(r"\balways\(\)", "True", py)
        py = re.sub(r"\bsuccess\(\)", "(not _failed)", py)
        py = re.sub(r"\bfailure\(\)", "_failed", py)
        py = re.sub(r"(?<!['\w.])([a-z_]+(?:\.[\w-]+)+)",
                    lambda m: f"_lookup({m.group(1)!r})", py)
        return eval(py, {"_lookup": lambda d: self._lookup(d, run), "_failed": self.failed})

    def substitute(self, text: str, run: Run) -> str:
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(self.evaluate(m.group(1), run)), text)

    def run_job(self, workflow: str, job: str) -> Run:
        spec = yaml.safe_load((WORKFLOWS / workflow).read_text())
        job_spec = spec["jobs"][job]
        run = Run()
        if "if" in job_spec and not self.evaluate(job_spec["if"], run):
            return run
        for i, step in enumerate(job_spec["steps"]):
            name = step.get("name") or step.get("uses", f"step {i}").split("@")[0]
            condition = step.get("if")
            should = self.evaluate(condition, run) if condition else not self.failed
            if not should:
                run.steps.append((name, "skipped"))
                continue
            if "uses" in step:
                action = step["uses"].split("@")[0]
                with_ = {k: self.substitute(str(v), run) for k, v in (step.get("with") or {}
                                                                       ).items()}
                assert action in self.emulate, f"no emulation for {action}"
                self.emulate[action](with_)
                run.steps.append((name, "emulated"))
                continue
            outcome = self._run_step(step, run)
            run.steps.append((name, outcome))
        return run

    def _run_step(self, step: dict[str, Any], run: Run) -> str:
        script = step["run"]
        assert "${{" not in script, "a ${{ }} expression inside run: (pass it through env:)"
        output = self.runner_temp / f"output-{len(run.steps)}"
        output.touch()
        env = {
            "PATH": f"{self.bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                    f"{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", "/root"),
            "RUNNER_TEMP": str(self.runner_temp), "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(self.summary), "GITHUB_REPOSITORY": OWNER_REPO,
            "GITHUB_WORKSPACE": str(self.repo), "CI": "true", "STUB_LOG": str(self.log),
            "STUB_DIR": str(self.stub_dir), "STUB_PR_NUMBER": str(self.context["stub_pr"]),
            "DVC_NO_ANALYTICS": "1",
        }
        env.update({k: self.substitute(str(v), run) for k, v in (step.get("env") or {}).items()})
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                              cwd=self.repo, env=env, capture_output=True, text=True,
                              check=False)
        run.logs[step.get("name", script[:40])] = proc.stdout + proc.stderr
        if "id" in step:
            run.outputs[step["id"]] = dict(
                line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        if proc.returncode != 0:
            self.failed = True
            return f"failed ({proc.returncode})"
        return "success"


def _pr_context(head_sha: str) -> dict[str, Any]:
    return {
        "stub_pr": "",
        "github": {"repository": OWNER_REPO, "event": {"pull_request": {
            "number": 5, "head": {"sha": head_sha, "repo": {"full_name": OWNER_REPO}},
            "base": {"ref": "main"}}}},
        # no DVC remote configured: the OIDC steps are skipped
        "vars": {"DVC_AWS_READ_ROLE_ARN": "", "DVC_GCP_WORKLOAD_IDENTITY_PROVIDER": ""},
    }


def _pr_emulator(repo: Path, tmp: Path, head_sha: str) -> Emulator:
    # the runner checks out the PR head with full history: `origin/main` exists
    sh(["git", "update-ref", "refs/remotes/origin/main", "main"], repo)
    emu = Emulator(repo, tmp, _pr_context(head_sha))
    emu.context["runner"] = {"temp": str(emu.runner_temp)}
    uploads: list[Path] = []

    def checkout(with_: dict[str, str]) -> None:
        assert with_["ref"] == head_sha and with_["fetch-depth"] == "0"
        assert with_["persist-credentials"] == "False"

    emu.emulate = {
        "actions/checkout": checkout,
        "astral-sh/setup-uv": lambda with_: emu.install("uv"),
        "actions/upload-artifact": lambda with_: uploads.append(Path(with_["path"])),
    }
    emu.uploads = uploads   # type: ignore[attr-defined]
    return emu


@pytest.mark.e2e
def test_pr_workflow_run_steps_produce_report_artifact(repo: Path, tmp_path: Path) -> None:
    branch(repo)
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nDocs.\n")
    head = commit(repo, "docs only")
    remove_dvc_outputs(repo)   # a fresh checkout: no DVC cache, no data, no models
    emu = _pr_emulator(repo, tmp_path, head)
    run = emu.run_job("pr.yml", "report")
    outcomes = dict(run.steps)
    # the OIDC steps for the DVC remote are skipped: no remote variables are set
    assert set(outcomes.values()) <= {"success", "emulated", "skipped"}, run.logs
    assert [name for name, _ in run.steps][-2:] == [
        "Collect the report for the comment workflow", "actions/upload-artifact"]
    (artifact,) = emu.uploads
    assert artifact == emu.runner_temp / "pr-report"
    data = json.loads((artifact / "pr_report.json").read_text())
    # a fork's own data may trip a warn-only gate (a slice gap): then "passed with warnings"
    warned = any(g["status"] == "fail" and not g["blocking"] for g in data["gates"])
    assert data["head"]["sha"] == head and data["verdict"] == ("warn" if warned else "pass")
    title = "## ⚠️ Model check passed with warnings" if warned else "## ✅ Model check passed"
    assert (artifact / "pr_report.md").read_text().startswith(title)
    assert (artifact / "plots-diff" / "index.html").is_file()
    assert emu.summary.read_text().startswith(title)
    assert "uv sync --frozen" in emu.log.read_text()
    assert [name for name, outcome in run.steps if outcome == "skipped"] == [
        "AWS credentials for the DVC remote (read-only role)",
        "Google Cloud credentials for the DVC remote (read-only service account)"]
    assert data["pipeline"]["state"] == "up_to_date"
    assert data["results"]["state"] == "match"


@pytest.mark.e2e
def test_pr_workflow_failing_gate_fails_job_but_still_uploads(repo: Path, tmp_path: Path) -> None:
    branch(repo)
    set_param(repo, r"^  floors: \{", "  floors: {rmse: 10, ")
    head = commit(repo, "a gate this task cannot meet")
    emu = _pr_emulator(repo, tmp_path, head)
    run = emu.run_job("pr.yml", "report")
    outcomes = dict(run.steps)
    assert outcomes[REPORT_STEP] == "failed (1)"
    assert outcomes["Collect the report for the comment workflow"] == "success"
    assert outcomes["actions/upload-artifact"] == "emulated"
    data = json.loads((emu.runner_temp / "pr-report" / "pr_report.json").read_text())
    assert data["verdict"] == "fail"


HEAD_SHA = "f" * 40


def _comment_emulator(tmp: Path, artifact: Path, pr_number: str) -> Emulator:
    context = {
        "stub_pr": pr_number,
        "github": {"token": "ghs_fake", "repository": OWNER_REPO,
                   "event": {"repository": {"default_branch": "main"}, "workflow_run": {
                       "id": 99, "event": "pull_request", "conclusion": "failure",
                       "head_sha": HEAD_SHA,
                       "html_url": f"https://github.com/{OWNER_REPO}/actions/runs/99"}}},
        "runner": {"temp": str(tmp / "runner-temp")},
    }
    # the trusted checkout: this project's code on the default branch, nothing from the PR
    emu = Emulator(PROJECT, tmp, context)

    def download(with_: dict[str, str]) -> None:
        assert with_["run-id"] == "99" and with_["name"] == "pr-report"
        shutil.copytree(artifact, with_["path"])

    emu.emulate = {
        "actions/checkout": lambda with_: None if with_["ref"] == "main" else pytest.fail(
            "the comment workflow must check out the default branch"),
        "actions/download-artifact": download,
        "iterative/setup-cml": lambda with_: emu.install("cml"),
    }
    emu.install("gh", "python3")
    return emu


def _fake_artifact(tmp: Path, md: str) -> Path:
    folder = tmp / "downloaded"
    folder.mkdir()
    report = {"schema": "gitops-ml/pr-report/v1", "verdict": "fail", "first_pr": False,
              "base": {"ref": "main", "sha": "a" * 40}, "head": {"sha": HEAD_SHA},
              "pipeline": {"state": "reproduced"}, "metrics": [], "params": [], "gates": []}
    (folder / "pr_report.json").write_text(json.dumps(report))
    (folder / "pr_report.md").write_text(md)
    return folder


def test_comment_workflow_posts_validated_report_with_cml(tmp_path: Path) -> None:
    md = "## ❌ Model check failed: `fffffff` vs main `aaaaaaa`\n\nbody\n"
    emu = _comment_emulator(tmp_path, _fake_artifact(tmp_path, md), "7")
    run = emu.run_job("pr-comment.yml", "comment")
    assert set(dict(run.steps).values()) <= {"success", "emulated"}, run.logs
    calls = emu.log.read_text().splitlines()
    assert calls[0] == f"gh api repos/{OWNER_REPO}/commits/{HEAD_SHA}/pulls"
    assert calls[1] == ("cml comment update --target=pr/7 --watermark-title=gitops-ml PR report "
                        f"--no-publish {emu.runner_temp}/comment.md")
    body = (emu.stub_dir / "cml_body.md").read_text()
    assert body.startswith(md.rstrip("\n"))
    assert f"from [this workflow run](https://github.com/{OWNER_REPO}/actions/runs/99)" in body


def test_comment_workflow_rejects_oversized_artifact(tmp_path: Path) -> None:
    emu = _comment_emulator(tmp_path, _fake_artifact(tmp_path, "## " + "x" * 70_000), "7")
    run = emu.run_job("pr-comment.yml", "comment")
    outcomes = dict(run.steps)
    assert outcomes["Find the pull request and validate the report"] == "failed (1)"
    assert outcomes["Post or update the sticky comment"] == "skipped"
    assert "more than 60000" in run.logs["Find the pull request and validate the report"]
    assert not any(c.startswith("cml") for c in emu.log.read_text().splitlines())


def test_comment_workflow_skips_when_no_open_pull_request(tmp_path: Path) -> None:
    emu = _comment_emulator(tmp_path, _fake_artifact(tmp_path, "## ok\n"), "")
    run = emu.run_job("pr-comment.yml", "comment")
    outcomes = dict(run.steps)
    assert outcomes["Find the pull request and validate the report"] == "success"
    assert outcomes["Post or update the sticky comment"] == "skipped"


def test_workflows_pass_zizmor_and_github_schema() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("pr*.yml"))
    zizmor = subprocess.run([Path(sys.executable).parent / "zizmor", "--offline", *files],
                            capture_output=True, text=True, check=False)
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr
    schema = subprocess.run([Path(sys.executable).parent / "check-jsonschema", "--builtin-schema",
                             "vendor.github-workflows", *files],
                            capture_output=True, text=True, check=False)
    assert schema.returncode == 0, schema.stdout + schema.stderr


def test_workflows_pin_every_action_to_a_commit() -> None:
    for path in WORKFLOWS.glob("pr*.yml"):
        for line in path.read_text().splitlines():
            if line.strip().startswith(("- uses:", "uses:")):
                assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), f"{path.name}: {line}"
