"""Checks of the harness that need no Docker: stand-ins match the pins; pipelines.gitpush."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from harness import ACTIONS, pins, stand_in

from pipelines import gitpush

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_harness_has_a_stand_in_for_every_pinned_action(path: Path) -> None:
    for action, sha in pins(path.read_text()):
        assert stand_in(action, sha) == ACTIONS / action


def test_gitpush_puts_the_token_in_a_header_not_the_url() -> None:
    env = {"GH_TOKEN": "tok", "GITHUB_SERVER_URL": "https://ghe.example.com/",
           "GITHUB_REPOSITORY": "o/r", "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "a.b",
           "GIT_CONFIG_VALUE_0": "c"}
    cmd, out = gitpush.push_command(["refs/tags/m@v1"], env, force=True)
    assert cmd == ["git", "push", "--force", "https://ghe.example.com/o/r.git", "refs/tags/m@v1"]
    assert "tok" not in " ".join(cmd)
    assert out["GIT_CONFIG_COUNT"] == "2" and out["GIT_CONFIG_KEY_0"] == "a.b"
    assert out["GIT_CONFIG_KEY_1"] == "http.https://ghe.example.com/.extraheader"
    header = base64.b64encode(b"x-access-token:tok").decode()
    assert out["GIT_CONFIG_VALUE_1"] == f"AUTHORIZATION: basic {header}"


def test_gitpush_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="GH_TOKEN, GITHUB_REPOSITORY not set"):
        gitpush.push_command(["x"], {"GITHUB_SERVER_URL": "https://github.com"})


def test_comment_job_pins_cml_and_installs_no_vega_tools() -> None:
    import yaml

    steps = yaml.safe_load((WORKFLOWS / "pr-comment.yml").read_text())["jobs"]["comment"]["steps"]
    [cml] = [s for s in steps if s.get("uses", "").startswith("iterative/setup-cml@")]
    assert cml["with"] == {"version": "v0.20.6", "vega": False}
