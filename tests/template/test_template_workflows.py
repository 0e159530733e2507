"""template-init.yml and template.yml: the one-shot init runs only outside the template, with
least privilege, and its init step works when run as written in a fresh repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from repo_tools import tool_env

from gitops_ml import identity


def workflow(root: Path, name: str) -> dict:
    return yaml.safe_load((root / ".github/workflows" / name).read_text())


def test_template_init_runs_only_in_repositories_made_from_the_template(project_root):
    wf = workflow(project_root, "template-init.yml")
    assert wf["permissions"] == {}
    job = wf["jobs"]["init"]
    assert job["if"] == "${{ !github.event.repository.is_template }}"
    # contents: the commit; actions: start main.yml on it (the one run a workflow token may start)
    assert job["permissions"] == {"contents": "write", "actions": "write"}
    step = next(s for s in job["steps"] if s.get("id") == "commit")
    # the commit holds what the initialised project reproduces (export and model card carry the
    # model's name): dvc repro runs after init and before the commit
    runs = [s.get("run", "") for s in job["steps"]]
    init_at = next(i for i, r in enumerate(runs) if "gitops-ml init" in r)
    assert runs.index("uv run --frozen dvc repro") in range(init_at + 1, runs.index(step["run"]))
    # the default token may not change workflow files: self-removal only with the optional token
    assert 'if [ "$REMOVE_SELF" = true ]; then git rm --quiet .github/workflows/template-init.yml' \
        in step["run"]
    assert step["env"]["REMOVE_SELF"] == "${{ secrets.TEMPLATE_INIT_TOKEN != '' }}"
    assert "if git diff --cached --quiet; then" in step["run"]


def test_main_waits_on_the_first_push_and_template_init_starts_it_on_the_named_commit(
        project_root):
    """On the first push main.yml and template-init.yml start together; main.yml must not
    register the template's model name that init renames a moment later."""
    main = workflow(project_root, "main.yml")["jobs"]
    [wait] = [s for s in main["runner"]["steps"] if s.get("id") == "init"]
    assert "github.event.before == '0000000000000000000000000000000000000000'" in wait["if"]
    assert "!github.event.repository.is_template" in wait["if"]
    assert "-f .github/workflows/template-init.yml" in wait["run"]
    assert main["runner"]["outputs"]["awaiting-init"] == "${{ steps.init.outputs.awaiting }}"
    for job in ("reproduce", "launch"):
        assert "needs.runner.outputs.awaiting-init != 'true'" in main[job]["if"], job
    # reproduce gates everything that publishes or registers
    for job in ("publish", "attest", "register"):
        assert "reproduce" in str(main[job]["needs"]) or "publish" in str(main[job]["needs"])
    init = workflow(project_root, "template-init.yml")["jobs"]["init"]
    [start] = [s for s in init["steps"] if "dispatches" in s.get("run", "")]
    assert "actions/workflows/main.yml/dispatches" in start["run"]
    assert "github.event.before == '0000000000000000000000000000000000000000'" in start["if"]
    # a push made with TEMPLATE_INIT_TOKEN starts main.yml itself: no second run
    assert "steps.commit.outputs.pushed-with-token != 'true'" in start["if"]
    assert start["env"] == {"GH_TOKEN": "${{ github.token }}"}


def test_template_init_step_initialises_a_fresh_repository(project_root, fork):
    step = next(s for s in workflow(project_root, "template-init.yml")["jobs"]["init"]["steps"]
                if "gitops-ml init" in s.get("run", ""))
    script = step["run"].replace("uv run --frozen ", "")
    env = {**tool_env(), "GITHUB_REPOSITORY": "acme/fraud-screen",
           "GITHUB_REPOSITORY_OWNER": "acme", "REPOSITORY_DESCRIPTION": "Flags card fraud.",
           "PYTHONPATH": str(fork / "src")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=fork, env=env,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    ident = identity.load(fork / "project.yaml")
    assert (ident.name, ident.owner, ident.description) == ("fraud-screen", "acme",
                                                            "Flags card fraud.")


def test_template_workflow_runs_the_fork_test(project_root):
    wf = workflow(project_root, "template.yml")
    job = wf["jobs"]["fork"]
    assert job["permissions"] == {"contents": "read"}
    runs = [s.get("run", "") for s in job["steps"]]
    assert 'uv run --frozen pytest -q -m "fork or fork_real" tests/template' in runs
    assert job["if"] == "github.event.repository.is_template"   # a project made from it has none


def test_template_workflow_runs_the_workflow_scenarios(project_root) -> None:
    # the scenarios are deselected from the plain `uv run pytest` (pyproject.toml addopts), so
    # the template's CI must select them itself, or they prove nothing; ci.yml, which a fork
    # keeps, must not (a fork has no tests/workflows: pytest would collect nothing)
    jobs = workflow(project_root, "template.yml")["jobs"]
    runs = [s.get("run", "") for s in jobs["scenarios"]["steps"]]
    assert "uv run --frozen pytest -n0 -m workflows" in runs
    assert jobs["scenarios"]["if"] == "github.event.repository.is_template"
    ci = (project_root / ".github" / "workflows" / "ci.yml").read_text()
    assert "-m workflows" not in ci and "tests/template" not in ci
    assert "not workflows" in (project_root / "pyproject.toml").read_text()
