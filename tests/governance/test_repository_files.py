"""Repository files Scorecard and the issue ask for: LICENSE, SECURITY.md, Dependabot, the SAST
and audit workflow, rulesets whose required checks exist, and pinned installs in the Dockerfile."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
if str(PROJECT) not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, str(PROJECT))

from pipelines import verdict  # noqa: E402

WORKFLOWS = PROJECT / ".github" / "workflows"
SECURITY_FLOW = WORKFLOWS / "security.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def test_license_is_the_apache_2_text_pyproject_declares():
    text = (PROJECT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == {"text": "Apache-2.0"}


def test_security_policy_says_how_to_report_and_what_is_supported():
    text = (PROJECT / "SECURITY.md").read_text()
    assert "## Reporting a vulnerability" in text and "## Supported versions" in text
    assert "Report a vulnerability" in text          # GitHub's private reporting


def test_dependabot_covers_uv_actions_and_docker_grouped_with_a_cooldown():
    config = yaml.safe_load((PROJECT / ".github" / "dependabot.yml").read_text())
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"uv", "github-actions", "docker"} <= set(updates)
    for update in updates.values():
        assert update["cooldown"]["default-days"] >= 3
        assert update["groups"]


def test_dependabot_config_passes_its_schema():
    done = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot",
                           str(PROJECT / ".github" / "dependabot.yml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_security_workflow_has_least_privilege_and_pinned_actions():
    flow = yaml.safe_load(SECURITY_FLOW.read_text())
    assert flow["permissions"] == {}
    jobs = flow["jobs"]
    assert jobs["codeql"]["permissions"] == {"contents": "read", "actions": "read",
                                             "security-events": "write"}
    assert jobs["audit"]["permissions"] == {"contents": "read"}
    lines = SECURITY_FLOW.read_text().splitlines()
    uses = [ln for ln in lines if ln.strip().startswith(("- uses:", "uses:"))]
    assert uses
    for line in uses:
        ref, _, comment = line.split("uses:", 1)[1].partition("#")
        assert PINNED.match(ref.strip()), line
        assert re.fullmatch(r" v\d+\.\d+\.\d+", comment), line
    steps = jobs["audit"]["steps"]
    assert steps[-1]["run"] == "uv audit --frozen --preview-features audit-command"


def test_codeql_uploads_each_language_under_its_own_category():
    job = yaml.safe_load(SECURITY_FLOW.read_text())["jobs"]["codeql"]
    assert job["strategy"]["matrix"]["language"] == ["python", "actions"]
    assert job["strategy"]["fail-fast"] is False
    steps = {s["uses"].split("@")[0]: s.get("with") or {} for s in job["steps"] if "uses" in s}
    assert steps["github/codeql-action/init"]["languages"] == "${{ matrix.language }}"
    assert steps["github/codeql-action/analyze"]["category"] == "/language:${{ matrix.language }}"


@pytest.mark.parametrize("command", [
    ["zizmor", "--offline", str(SECURITY_FLOW)],
    ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(SECURITY_FLOW)],
])
def test_security_workflow_passes_the_linters(command):
    done = subprocess.run([tool(command[0]), *command[1:]], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _job_contexts() -> set[str]:
    """The check names a workflow job reports: its `name:`, else its id."""
    names = set()
    for path in WORKFLOWS.glob("*.yml"):
        for job_id, job in (yaml.safe_load(path.read_text()).get("jobs") or {}).items():
            name = job.get("name", job_id)
            matrix = (job.get("strategy") or {}).get("matrix") or {}
            # a one-axis matrix: one check per value, `${{ matrix.<axis> }}` filled in
            for axis, values in matrix.items():
                names.update(name.replace(f"${{{{ matrix.{axis} }}}}", str(v)) for v in values)
            if not matrix:
                names.add(name)
    return names


def test_main_ruleset_requires_checks_that_workflows_report():
    ruleset = json.loads((PROJECT / ".github" / "rulesets" / "main.json").read_text())
    rules = {r["type"]: r.get("parameters") for r in ruleset["rules"]}
    required = {c["context"] for c in rules["required_status_checks"]["required_status_checks"]}
    assert required <= _job_contexts() | {verdict.CONTEXT}
    assert rules["pull_request"]["require_code_owner_review"] is True


def test_dockerfile_pins_the_base_image_by_digest_in_one_place():
    text = (PROJECT / "Dockerfile").read_text()
    [default] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.M)
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", default)
    froms = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert froms and set(froms) == {"${PYTHON_IMAGE}"}


def test_installer_is_hash_pinned_in_the_dockerfile():
    text = (PROJECT / "Dockerfile").read_text()
    installs = re.findall(r"(?<!uv )pip install[^\n]*", text)   # uv pip installs our wheel
    assert installs == ["pip install --no-cache-dir --require-hashes -r /tmp/uv-requirements.txt"]
    pins = (PROJECT / ".ci" / "uv-requirements.txt").read_text()
    assert re.search(r"^uv==\d+\.\d+\.\d+ \\$", pins, flags=re.M)
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", pins)) >= 2


def test_main_ruleset_requires_the_verdict_judged_by_the_default_branch():
    # the PR job runs the pull request's own pr.yml and pipelines/: its success is not required;
    # the status pr-comment.yml posts from the default branch's code is, and only GitHub Actions
    # (app 15368) may set it
    ruleset = json.loads((PROJECT / ".github" / "rulesets" / "main.json").read_text())
    rules = {r["type"]: r.get("parameters") for r in ruleset["rules"]}
    checks = rules["required_status_checks"]["required_status_checks"]
    assert {"context": verdict.CONTEXT, "integration_id": 15368} in checks
    assert "Reproduce, compare with the base branch, gate" not in {c["context"] for c in checks}
    flow = yaml.safe_load((WORKFLOWS / "pr-comment.yml").read_text())
    job = flow["jobs"]["verdict"]
    assert job["permissions"] == {"actions": "read", "contents": "read", "statuses": "write"}
    checkout = job["steps"][0]
    assert checkout["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    post = job["steps"][-1]
    assert post["env"]["CONTEXT"] == verdict.CONTEXT and "statuses/$HEAD_SHA" in post["run"]
    assert post["if"] == "${{ !cancelled() }}"
    assert post["env"]["STATE"] == "${{ steps.verdict.outputs.state || 'error' }}"
