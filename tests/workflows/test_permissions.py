"""The GITHUB_TOKEN permissions the harness grants each job follow GitHub's documented rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from permissions import RESTRICTED, SCOPES, job_permissions

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def _wf(text: str) -> dict:
    return yaml.safe_load(text)


def test_permissions_job_block_replaces_the_workflow_block() -> None:
    wf = _wf("permissions: {contents: write, issues: write}\n"
             "jobs: {a: {permissions: {pull-requests: read}}, b: {}}")
    assert job_permissions(wf, "a") == {"pull_requests": "read", "metadata": "read"}
    assert job_permissions(wf, "b") == {"contents": "write", "issues": "write",
                                        "metadata": "read"}


def test_permissions_empty_mapping_leaves_only_metadata() -> None:
    wf = _wf("permissions: write-all\njobs: {a: {permissions: {}}}")
    assert job_permissions(wf, "a") == {"metadata": "read"}


def test_permissions_none_set_anywhere_is_the_repository_default() -> None:
    wf = _wf("jobs: {a: {}}")
    assert job_permissions(wf, "a") == {**RESTRICTED, "metadata": "read"}
    permissive = job_permissions(wf, "a", default="permissive")
    assert permissive["contents"] == "write" and "id_token" not in permissive


def test_permissions_read_all_and_write_all_cover_every_scope() -> None:
    wf = _wf("jobs: {r: {permissions: read-all}, w: {permissions: write-all}}")
    assert set(job_permissions(wf, "r")) == set(SCOPES) - {"id_token"} | {"metadata"}
    assert job_permissions(wf, "w")["id_token"] == "write"


def test_permissions_fork_pull_request_is_read_only_without_oidc() -> None:
    wf = _wf("jobs: {a: {permissions: {contents: write, id-token: write, checks: read}}}")
    assert job_permissions(wf, "a", fork=True) == {"contents": "read", "checks": "read",
                                                   "metadata": "read"}


def test_permissions_none_level_is_absent() -> None:
    wf = _wf("jobs: {a: {permissions: {contents: none, statuses: write}}}")
    assert job_permissions(wf, "a") == {"statuses": "write", "metadata": "read"}


@pytest.mark.parametrize("block", ["{contnets: read}", "{contents: admin}", "all"])
def test_permissions_unknown_scope_or_level_names_the_key(block: str) -> None:
    wf = _wf(f"jobs: {{a: {{permissions: {block}}}}}")
    with pytest.raises(ValueError, match=r"jobs\.a"):
        job_permissions(wf, "a")


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_permissions_of_every_job_in_our_workflows_parse(path: Path) -> None:
    wf = _wf(path.read_text())
    for job in wf["jobs"]:
        assert job_permissions(wf, job)["metadata"] == "read"
