"""`python -m pipelines.rulesets apply` against a fake of GitHub's rulesets API."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_rulesets_api import FakeGitHub

from gitops_ml.init.plan import model_name_in

PROJECT_ROOT = str(Path(__file__).resolve().parents[2])
if PROJECT_ROOT not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, PROJECT_ROOT)

from pipelines import rulesets  # noqa: E402

PROJECT = Path(__file__).resolve().parents[2]
RULESETS = PROJECT / ".github" / "rulesets"


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub("acme/churn", read_only_token="read-token")
    url = fake.start()
    yield fake, url
    fake.stop()


def _run(url: str, *extra: str, token: str = "admin-token", dvc_yaml: Path | None = None,
         directory: Path = RULESETS) -> int:
    return rulesets.main(["apply", "--repo", "acme/churn", "--api-url", url, "--dir",
                          str(directory), "--dvc-yaml", str(dvc_yaml or PROJECT / "dvc.yaml"),
                          *extra], env={"GH_TOKEN": token})


def test_rulesets_apply_creates_main_and_tag_rulesets(github, capsys):
    fake, url = github
    assert _run(url) == 0
    by_name = {r["name"]: r for r in fake.rulesets.values()}
    main = by_name["main: reviewed and checked"]
    assert main["target"] == "branch"
    assert main["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]
    rules = {r["type"]: r.get("parameters") for r in main["rules"]}
    assert rules["pull_request"]["require_code_owner_review"] is True
    assert rules["pull_request"]["required_approving_review_count"] == 1
    assert {c["context"] for c in rules["required_status_checks"]["required_status_checks"]} == {
        "gitops-ml / model gates",
        "Lock file, ruff, hadolint, zizmor, workflow schema",
        "Tests (README's command, Ray)", "Dependency audit",
        "CodeQL (python)", "CodeQL (actions)"}
    tags = by_name["model tags: release workflow and admins only"]
    assert tags["target"] == "tag"
    model = model_name_in((PROJECT / "dvc.yaml").read_text(), "dvc.yaml")   # a fork's own name
    assert tags["conditions"]["ref_name"]["include"] == [f"refs/tags/{model}@*",
                                                         f"refs/tags/{model}#*"]
    assert {(a["actor_type"], a["actor_id"]) for a in tags["bypass_actors"]} == {
        ("Integration", 15368), ("RepositoryRole", 5)}
    assert capsys.readouterr().out.count("created ruleset") == 2


def test_rulesets_apply_twice_updates_instead_of_duplicating(github, capsys):
    fake, url = github
    assert _run(url) == 0
    ids = sorted(fake.rulesets)
    assert _run(url) == 0
    assert sorted(fake.rulesets) == ids
    out = capsys.readouterr().out
    assert out.count("updated ruleset") == 2
    assert [m for m, _ in fake.requests].count("POST") == 2
    assert [m for m, _ in fake.requests].count("PUT") == 2


def test_rulesets_apply_updates_a_changed_ruleset_in_place(github, tmp_path):
    fake, url = github
    assert _run(url) == 0
    changed = tmp_path / "rulesets"
    shutil.copytree(RULESETS, changed)
    doc = json.loads((changed / "main.json").read_text())
    doc["rules"][2]["parameters"]["required_approving_review_count"] = 2
    (changed / "main.json").write_text(json.dumps(doc))
    assert _run(url, directory=changed) == 0
    main = next(r for r in fake.rulesets.values() if r["name"] == doc["name"])
    assert main["rules"][2]["parameters"]["required_approving_review_count"] == 2
    assert len(fake.rulesets) == 2


def test_rulesets_apply_reports_githubs_422_on_an_invalid_rule(github, tmp_path, capsys):
    fake, url = github
    bad = tmp_path / "rulesets"
    bad.mkdir()
    doc = json.loads((RULESETS / "main.json").read_text())
    del doc["rules"][2]["parameters"]["require_code_owner_review"]
    (bad / "main.json").write_text(json.dumps(doc))
    assert _run(url, directory=bad) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("rulesets: error: POST /repos/acme/churn/rulesets: HTTP 422: Validation "
                   "Failed: Invalid property /rules/2/parameters: missing "
                   "require_code_owner_review")
    assert fake.rulesets == {}


def test_rulesets_apply_rejects_a_bad_file_before_calling_github(github, tmp_path, capsys):
    fake, url = github
    bad = tmp_path / "rulesets"
    bad.mkdir()
    (bad / "main.json").write_text(json.dumps({"name": "x", "enforcement": "on", "rules": []}))
    assert _run(url, directory=bad) == 2
    assert capsys.readouterr().err.strip() == (
        f"rulesets: error: {bad / 'main.json'}: enforcement: expected one of disabled, active, "
        "evaluate, got 'on'")
    assert fake.requests == []


def test_rulesets_apply_without_admin_rights_changes_nothing(github, capsys):
    fake, url = github
    assert _run(url, token="read-token") == 2
    assert "HTTP 403: Resource not accessible by personal access token" in capsys.readouterr().err
    assert fake.rulesets == {}


def test_rulesets_apply_with_a_bad_token_says_bad_credentials(github, capsys):
    _, url = github
    assert _run(url, token="wrong") == 2
    assert capsys.readouterr().err.strip() == (
        "rulesets: error: GET /repos/acme/churn/rulesets?per_page=100&page=1: HTTP 401: "
        "Bad credentials")


def test_rulesets_apply_dry_run_changes_nothing(github, capsys):
    fake, url = github
    assert _run(url, "--dry-run") == 0
    assert fake.rulesets == {}
    assert "would create 'main: reviewed and checked'" in capsys.readouterr().out


def test_rulesets_apply_protects_the_declared_artifacts_tags(github, tmp_path):
    fake, url = github
    dvc_yaml = tmp_path / "dvc.yaml"
    dvc_yaml.write_text("artifacts:\n  churn:\n    path: models/model.onnx\n    type: model\n")
    assert _run(url, dvc_yaml=dvc_yaml) == 0
    tags = next(r for r in fake.rulesets.values() if r["target"] == "tag")
    assert tags["conditions"]["ref_name"]["include"] == ["refs/tags/churn@*", "refs/tags/churn#*"]
