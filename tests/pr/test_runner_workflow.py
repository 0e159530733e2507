"""pr.yml / main.yml wiring of the runner choice and the DVC cache (static: what act cannot
show here, since the harness has no cloud, no self-hosted runner and no shared cache service)."""

from __future__ import annotations

import re

import yaml
from prtools import PROJECT

WORKFLOWS = PROJECT / ".github" / "workflows"
FORK_GUARD = ("(github.event.pull_request.head.repo.full_name || github.repository) "
              "== github.repository")
CACHE_KEY = ("dvc-${{ runner.os }}-${{ hashFiles('dvc.lock') }}-"
             "${{ hashFiles('**/*.dvc', 'data/batches/**') }}")


def workflow(name):
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps_using(job, action):
    return [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]


def test_pr_report_runs_where_the_runner_job_says_except_for_forks():
    report = workflow("pr.yml")["jobs"]["report"]
    assert report["needs"] == ["runner", "launch"]
    assert report["runs-on"] == (f"${{{{ {FORK_GUARD} && fromJSON(needs.runner.outputs.runs-on)"
                                 " || 'ubuntu-latest' }}")
    assert report["timeout-minutes"] == "${{ fromJSON(needs.runner.outputs.timeout-minutes) }}"
    # runs after launch, or when launch was skipped; not when the choice itself failed
    assert "needs.runner.result == 'success'" in report["if"]
    assert "needs.launch.result" in report["if"] and "!cancelled()" in report["if"]


def test_pr_launch_never_runs_for_a_fork_and_holds_the_only_secret():
    jobs = workflow("pr.yml")["jobs"]
    launch = jobs["launch"]
    assert launch["if"] == (f"${{{{ needs.runner.outputs.launch == 'true' && {FORK_GUARD} }}}}")
    assert launch["environment"] == jobs["teardown"]["environment"] == "training-runner"
    text = (WORKFLOWS / "pr.yml").read_text()
    assert re.findall(r"secrets\.(\w+)", text) == ["REPO_TOKEN"]
    assert "secrets." in yaml.safe_dump(launch)
    for name in ("runner", "report"):
        assert "environment" not in jobs[name] and "secrets." not in yaml.safe_dump(jobs[name])
    assert jobs["runner"]["permissions"] == {"contents": "read"}


def test_pr_teardown_runs_whatever_happened_to_the_job():
    teardown = workflow("pr.yml")["jobs"]["teardown"]
    assert teardown["needs"] == ["runner", "launch", "report"]
    assert teardown["if"] == "${{ always() && needs.launch.result != 'skipped' }}"
    assert teardown["steps"][-1]["run"] == "python3 -m pipelines.runner teardown"


def test_pr_runner_choice_reads_the_variable_and_the_event_only():
    select = workflow("pr.yml")["jobs"]["runner"]["steps"][-1]
    assert select["run"] == "python3 -m pipelines.runner select"
    assert select["env"] == {
        "TRAIN_RUNNER": "${{ vars.TRAIN_RUNNER }}",
        "PR_HEAD_REPO": "${{ github.event.pull_request.head.repo.full_name }}"}


def test_pr_restores_and_saves_the_dvc_cache_around_the_reproduce_step():
    steps = workflow("pr.yml")["jobs"]["report"]["steps"]
    names = [s.get("id") or s.get("uses", "").split("@")[0] for s in steps]
    restore = names.index("dvc-cache")
    save = names.index("actions/cache/save")
    assert restore < names.index("reproduce") < save
    assert steps[restore]["with"] == {"path": ".dvc/cache", "key": CACHE_KEY,
                                      "restore-keys": "dvc-${{ runner.os }}-\n"}
    assert steps[save]["with"]["key"] == "${{ steps.dvc-cache.outputs.cache-primary-key }}"
    assert "steps.dvc-cache.outputs.cache-hit != 'true'" in steps[save]["if"]


def test_main_saves_the_dvc_cache_with_the_same_key_and_never_restores_one():
    jobs = workflow("main.yml")["jobs"]
    [save] = steps_using(jobs["reproduce"], "actions/cache/save")
    assert save["with"] == {"path": ".dvc/cache", "key": CACHE_KEY}
    for job in jobs.values():
        assert not steps_using(job, "actions/cache/restore") and not steps_using(job,
                                                                               "actions/cache")


def test_cache_actions_are_pinned_to_the_same_release():
    pins = set(re.findall(r"actions/cache/(?:restore|save)@([0-9a-f]{40}) # (v[\d.]+)",
                          (WORKFLOWS / "pr.yml").read_text() + (WORKFLOWS / "main.yml")
                          .read_text()))
    assert pins == {("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5")}


def test_jobs_holding_runner_credentials_run_the_default_branch_code():
    # launch holds REPO_TOKEN, teardown the cloud role, runner decides the machine: none of them
    # may run the pull request's pipelines/runner.py
    jobs = workflow("pr.yml")["jobs"]
    for name in ("runner", "launch", "teardown"):
        [checkout] = steps_using(jobs[name], "actions/checkout")
        assert checkout["with"]["ref"] == "${{ github.event.repository.default_branch }}", name


def test_every_setup_cml_pins_cml_without_vega():
    versions = set()
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for name, job in (yaml.safe_load(path.read_text()).get("jobs") or {}).items():
            for step in steps_using(job, "iterative/setup-cml"):
                options = step.get("with") or {}
                assert options.get("vega") is False, (path.name, name)
                assert re.fullmatch(r"v\d+\.\d+\.\d+", str(options.get("version"))), \
                    (path.name, name)
                versions.add(options["version"])
    assert len(versions) == 1, versions   # one CML across the workflows


def test_main_reproduces_on_the_runner_a_pull_request_would_get():
    main, pr = workflow("main.yml")["jobs"], workflow("pr.yml")["jobs"]
    reproduce = main["reproduce"]
    assert reproduce["needs"] == ["runner", "launch"]
    assert reproduce["runs-on"] == "${{ fromJSON(needs.runner.outputs.runs-on) }}"
    assert reproduce["timeout-minutes"] == \
        "${{ fromJSON(needs.runner.outputs.timeout-minutes) }}"
    assert "needs.launch.result" in reproduce["if"] and "!cancelled()" in reproduce["if"]
    # the same choice, launch and teardown as pr.yml's (no fork guard: main is never a fork)
    assert main["runner"]["steps"][-1]["run"] == pr["runner"]["steps"][-1]["run"]
    assert main["runner"]["steps"][-1]["env"] == {"TRAIN_RUNNER": "${{ vars.TRAIN_RUNNER }}"}
    for name in ("launch", "teardown"):
        assert main[name]["steps"] == pr[name]["steps"], name
        assert main[name]["environment"] == pr[name]["environment"]
        assert main[name]["permissions"] == pr[name]["permissions"]
    assert main["teardown"]["needs"] == ["runner", "launch", "reproduce"]
    assert main["teardown"]["if"] == pr["teardown"]["if"]
